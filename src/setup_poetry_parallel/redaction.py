"""Credentials never printed: one URL type that shows itself redacted, and a scrubber for text.

Like uv's `DisplaySafeUrl` and pip's `redact_auth_from_url`: an index URL enters the engine once
(settings) as a `SafeUrl`, whose `str()` and `repr()` hide the userinfo; only `.secret` gives the
URL with its credentials, for the request or the installer's environment. Text that did not
come through that type (a tool's output, a requirement with a URL in it) goes through
`redact()`, which hides the userinfo of every URL in it and every secret value this process was
given (`remember`), percent-encoded or not: GitHub's masking misses a percent-encoded password,
and other CI systems mask nothing.

Standard library only: the bootstrap uses it before the engine's dependencies exist.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

MASK: Final = "***"
# scheme://userinfo@ : userinfo is anything up to the first "@" before the host's "/" "?" "#".
_USERINFO: Final = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s?#]+)@")
_SECRETS: set[str] = set()
_SHORTEST: Final = 4  # a secret shorter than this would mask ordinary words


@dataclass(frozen=True)
class SafeUrl:
    """A URL whose credentials only `.secret` shows."""

    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.secret)
        secret = parts.password or (parts.username if parts.scheme.startswith("http") else None)
        if secret:  # a token may be given as the user name (`https://TOKEN@host`)
            remember([secret, urllib.parse.unquote(secret)])

    def __str__(self) -> str:
        return redact_url(self.secret)

    def __repr__(self) -> str:
        return f"SafeUrl({redact_url(self.secret)!r})"

    @property
    def public(self) -> str:
        """The URL without its credentials: what may be written to a file or a key."""
        parts = urllib.parse.urlsplit(self.secret)
        netloc = parts.netloc.rpartition("@")[2]
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    @property
    def credentials(self) -> tuple[str, str] | None:
        """(user, password) from the userinfo, percent-decoded; None without userinfo."""
        parts = urllib.parse.urlsplit(self.secret)
        if parts.username is None and parts.password is None:
            return None
        return (
            urllib.parse.unquote(parts.username or ""),
            urllib.parse.unquote(parts.password or ""),
        )

    @property
    def host(self) -> str:
        """scheme://host[:port]: the realm credentials are for (uv's and requests' rule)."""
        parts = urllib.parse.urlsplit(self.public)
        return f"{parts.scheme}://{parts.netloc}".lower()

    def rstrip(self, chars: str = "/") -> SafeUrl:
        return SafeUrl(self.secret.rstrip(chars))

    def join(self, *path: str) -> SafeUrl:
        return SafeUrl("/".join([self.secret.rstrip("/"), *path]))


def redact_url(url: str) -> str:
    """`https://user:token@host/x` -> `https://***@host/x`; a URL without userinfo unchanged."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", url)


def public(text: str) -> str:
    """Every URL's userinfo removed: `name @ https://user:token@host/x.whl` ->
    `name @ https://host/x.whl`. For what is written to a file, an output or a key: unlike
    `***`, two tokens for one URL give the same text, and nothing in it can be checked
    against a guess."""
    return _USERINFO.sub(lambda m: m["scheme"], text)


def remember(values: Iterable[str]) -> None:
    """Secret values that `redact` hides wherever they appear, as given and percent-encoded."""
    for value in values:
        if len(value) < _SHORTEST:
            continue
        _SECRETS.update({value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)})


def redact(text: str) -> str:
    """Every URL's userinfo, and every remembered secret, replaced by `***`."""
    text = redact_url(text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def remember_environment(variables: Iterable[tuple[str, str]]) -> None:
    """The secrets in variables that Poetry, uv and pip read: passwords and tokens, and the
    userinfo of index URLs."""
    for name, value in variables:
        if not value:
            continue
        if _SECRET_NAME.search(name):
            remember([value])
        elif "://" in value and name.endswith(_URL_VARIABLES):
            SafeUrl(value)  # remembers its password


_SECRET_NAME: Final = re.compile(
    r"^(POETRY_HTTP_BASIC_\w+_PASSWORD|POETRY_PYPI_TOKEN_\w+|UV_INDEX_\w+_PASSWORD"
    r"|UV_PUBLISH_(PASSWORD|TOKEN)|PIP_PASSWORD|POETRY_CERTIFICATES_\w+_CLIENT_CERT_PASSWORD)$"
)
_URL_VARIABLES: Final = ("_INDEX_URL", "_INDEX", "_EXTRA_INDEX_URL", "_URL", "_FIND_LINKS")
