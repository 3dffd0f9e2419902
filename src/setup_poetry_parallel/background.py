"""One call on a thread beside the main work, its outcome taken when the main work needs it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")


class Task(Generic[T]):
    """`with Task(f, *args) as task: ... task.result()`: f runs while the block does.

    `result()` waits, then returns f's value or raises its exception, in the caller's thread.
    Leaving the block waits for f too, so nothing outlives the setup that started it.
    """

    def __init__(self, call: Callable[..., T], *args: object) -> None:
        self._call, self._args = call, args
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self._value = self._call(*self._args)
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc

    def __enter__(self) -> Task[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._thread.join()

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set when no error was raised
