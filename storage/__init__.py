"""The storage contract: where generated images live until their deadline, and how one is chosen.

An image's public name carries its deadline and 128 random bits:
``<deadline in unix milliseconds>-<32 hex digits>.<extension>``. The random part makes
names unguessable; the deadline part fixes each image's lifetime when it is created, so any
store, after any restart, knows from the name alone whether the image may still be served.

Stores are chosen by ``ARTPROXY_STORAGE`` from STORES (plugins.py) and describe themselves:
whether they need a sweeper, whether they can be used now, where rate-limit counters go.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import plugins
from clock import Clock
from imaging.formats import BY_EXTENSION, BY_MIME

# A cache entry's key: a sha256 in hex, made by prompt_cache.py from what was asked.
CACHE_KEY_PATTERN = re.compile("[0-9a-f]{64}")
EXTENSIONS = "|".join(map(re.escape, BY_EXTENSION))
NAME_PATTERN = re.compile(
    rf"(?P<deadline_ms>[1-9][0-9]{{0,15}})-[0-9a-f]{{32}}\.(?P<extension>{EXTENSIONS})")

# name -> "module:Class", as for providers.
STORES: dict[str, str] = {
    "file": "storage.file_storage:FileImageStore",
    "redis": "storage.redis_storage:RedisImageStore",
}


@dataclass(frozen=True)
class StoredImage:
    name: str
    mime: str
    expires_at: float  # unix seconds
    path: Path | None = None  # set by stores that keep files, so they can be sent with sendfile
    data: bytes | None = None  # set by stores that keep bytes in memory or in a database
    # Unix seconds; None for files, which carry theirs as the file's mtime. Set, it also tells
    # that the image's validator is its name even where ``path`` is set (a memory file).
    created_at: float | None = None


@dataclass(frozen=True)
class ImageRecord:
    """What the admin sees of a live image."""

    name: str
    mime: str
    bytes: int
    created_at: float  # unix seconds
    expires_at: float


@dataclass(frozen=True)
class ParsedName:
    expires_at: float
    mime: str


class Counters(Protocol):
    """Numbered keys with an expiry that every process of the deployment shares: a ``limits``
    storage (storage/sqlite_counters.py for one instance, Redis for several). The rate limits
    count in them, and the circuit breakers keep their state there."""

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to ``key`` and return its count; a new or expired key starts at 0 and
        expires ``expiry`` seconds from now."""
        ...

    def get(self, key: str) -> int:
        """The count of ``key``; 0 if it is missing or expired."""
        ...

    def get_expiry(self, key: str) -> float:
        """When ``key`` expires, in unix seconds; now if it is missing or expired."""
        ...

    def clear(self, key: str) -> None:
        ...


@dataclass(frozen=True)
class LimitsStorage:
    """Where the ``limits`` library keeps counters that every process of the deployment shares."""

    uri: str
    options: Mapping[str, Any]
    shared_by_instances: bool  # True if other instances count in the same place


class ImageStore(Protocol):
    kind: str  # the ARTPROXY_STORAGE name
    needs_sweeping: bool  # True if expired images take space until purge_expired runs

    @classmethod
    def from_config(cls, config: Mapping[str, Any], clock: Clock) -> ImageStore:
        """Build the store from the app's settings."""
        ...

    def put(self, data: bytes, mime: str, ttl_seconds: float) -> StoredImage:
        """Store ``data`` whole, or not at all, under a new name that expires in ``ttl_seconds``.

        Raises StorageUnavailable (or StorageFull) when the bytes cannot be kept."""
        ...

    def get(self, name: str) -> StoredImage | None:
        """The image called ``name``, or None if the name is malformed, unknown or expired.

        Raises StorageUnavailable when the store cannot be read."""
        ...

    def put_cached(self, key: str, data: bytes, mime: str, ttl_seconds: float) -> StoredImage:
        """put(), and the image becomes the entry of the cache ``key`` (CACHE_KEY_PATTERN) for
        every process that shares the store, until it expires or is deleted."""
        ...

    def get_cached(self, key: str) -> StoredImage | None:
        """The image of the cache entry ``key``; None if there is none, or its image expired or
        was deleted. Raises StorageUnavailable."""
        ...

    def count_cached(self) -> int:
        """How many cache entries have not expired. Raises StorageUnavailable."""
        ...

    def delete(self, name: str) -> bool:
        """Remove the image; True if it was there."""
        ...

    def purge_expired(self, now: float | None = None) -> int:
        """Reclaim the space of images (and cache entries) past their deadline; return how many
        images were removed."""
        ...

    def list_images(self) -> list[ImageRecord]:
        """Every live image, oldest first. Raises StorageUnavailable."""
        ...

    def check(self) -> None:
        """Return if the store can be read and written now; raise StorageUnavailable if not."""
        ...

    def limits_storage(self) -> LimitsStorage:
        """Where rate-limit counters live so that every process that uses this store shares them."""
        ...


def create_store(config: Mapping[str, Any], clock: Clock) -> ImageStore:
    store: ImageStore = plugins.load(STORES, config["STORAGE"], "STORAGE").from_config(config,
                                                                                        clock)
    return store


def new_name(mime: str, expires_at: float) -> str:
    return f"{round(expires_at * 1000)}-{secrets.token_hex(16)}.{BY_MIME[mime].extension}"


def live_name(name: str, now: float) -> ParsedName | None:
    """``name`` read, if artproxy made it and its deadline is after ``now``; None if not."""
    parsed = parse_name(name)
    if parsed is None or parsed.expires_at <= now:
        return None
    return parsed


def parse_name(name: str) -> ParsedName | None:
    """Read a name artproxy made; None for anything else, before it can reach a file system."""
    match = NAME_PATTERN.fullmatch(name)
    if match is None:
        return None
    return ParsedName(
        expires_at=int(match["deadline_ms"]) / 1000,
        mime=BY_EXTENSION[match["extension"]].mime,
    )
