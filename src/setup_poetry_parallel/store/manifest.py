"""What a build holds, as published in `current.json` and handed from the install to the job."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from setup_poetry_parallel.redaction import public


@dataclass(frozen=True)
class Manifest:
    build: str  # the id of `builds/<id>`
    poetry_version: str
    requirements: tuple[str, ...]  # the plugins installed besides Poetry, PEP 508
    entry_points: tuple[str, ...]  # the Poetry plugins that loaded at verification
    files: tuple[str, ...]  # checked by the cheap health check of a reused build
    # Poetry stamps its project plugin cache with its interpreter's sys.version; job.py seeds it.
    python_sys_version: str
    python: str
    installer: str
    built_at: float

    def __post_init__(self) -> None:
        # manifest.json and current.json are 0644 in the shared install dir: a requirement's
        # URL is kept without its userinfo (`name @ https://user:token@host/x.whl`).
        object.__setattr__(self, "requirements", tuple(public(r) for r in self.requirements))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Manifest | None:
        """None when a field is missing or of the wrong kind: then it is no build to trust."""
        try:
            manifest = cls(
                build=_text(data["build"]),
                poetry_version=_text(data["poetry_version"]),
                requirements=_texts(data["requirements"]),
                entry_points=_texts(data["entry_points"]),
                files=_texts(data["files"]),
                python_sys_version=_text(data["python_sys_version"]),
                python=_text(data["python"]),
                installer=_text(data["installer"]),
                built_at=float(data["built_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return manifest


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _texts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(value)
    return tuple(_text(item) for item in value)
