"""The storage contract: where generated images live until their deadline.

An image's public name carries its deadline and 128 random bits:
``<deadline in unix milliseconds>-<32 hex digits>.<extension>``. The random part makes
names unguessable; the deadline part fixes each image's lifetime when it is created, so any
store, after any restart, knows from the name alone whether the image may still be served.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

EXTENSION_BY_MIME = {"image/png": "png"}
MIME_BY_EXTENSION = {extension: mime for mime, extension in EXTENSION_BY_MIME.items()}

NAME_PATTERN = re.compile(
    r"(?P<deadline_ms>[1-9][0-9]{0,15})-[0-9a-f]{32}\.(?P<extension>%s)"
    % "|".join(map(re.escape, MIME_BY_EXTENSION))
)


@dataclass(frozen=True)
class StoredImage:
    name: str
    mime: str
    expires_at: float  # unix seconds
    path: Path | None = None  # set by stores that keep files, so they can be sent with sendfile
    data: bytes | None = None  # set by stores that keep bytes in memory or in a database
    created_at: float | None = None  # unix seconds; files carry theirs as the file's mtime


@dataclass(frozen=True)
class ParsedName:
    expires_at: float
    mime: str


class ImageStore(Protocol):
    def put(self, data: bytes, mime: str, ttl_seconds: float) -> StoredImage:
        """Store ``data`` whole, or not at all, under a new name that expires in ``ttl_seconds``."""
        ...

    def get(self, name: str) -> StoredImage | None:
        """The image called ``name``, or None if the name is malformed, unknown or expired."""
        ...

    def delete(self, name: str) -> bool:
        """Remove the image; True if it was there."""
        ...

    def purge_expired(self, now: float | None = None) -> int:
        """Reclaim the space of images past their deadline; return how many were removed."""
        ...

    def check(self) -> None:
        """Return if the store can be read and written now; raise StorageUnavailable if not."""
        ...


def new_name(mime: str, expires_at: float) -> str:
    return f"{round(expires_at * 1000)}-{secrets.token_hex(16)}.{EXTENSION_BY_MIME[mime]}"


def parse_name(name: str) -> ParsedName | None:
    """Read a name artproxy made; None for anything else, before it can reach a file system."""
    match = NAME_PATTERN.fullmatch(name)
    if match is None:
        return None
    return ParsedName(
        expires_at=int(match["deadline_ms"]) / 1000,
        mime=MIME_BY_EXTENSION[match["extension"]],
    )
