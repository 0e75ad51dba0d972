"""Images in Redis, shared by every instance, deleted by Redis itself at their deadline.

Each image is one key, ``<prefix>image:<name>``, written by a single SET that carries the
bytes, their metadata and the key's expiry, so no reader ever sees an image without its
expiry or metadata without its image, and no sweeper is needed. The deadline in the name is
still checked on every read, so a clock difference between machines never serves an image late.

A cache entry is a second key, ``<prefix>prompt:<key>``, holding an image's name, written in
the same transaction as the image with the same expiry; ``<prefix>prompt-entries`` scores
each entry by its deadline, so counting them needs no scan of the keyspace.

Pictures read lately are kept in each process's memory (storage/hot_images.py,
ARTPROXY_REDIS_HOT_IMAGES_MB), checked against Redis with an EXISTS before each answer
(the EXISTS of requests that arrive together go in one round trip: storage/batched_exists.py).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from clock import Clock
from errors import StorageUnavailable
from storage import (
    CACHE_KEY_PATTERN,
    ImageRecord,
    LimitsStorage,
    StoredImage,
    live_name,
    new_name,
    parse_name,
)
from storage.batched_exists import BatchedExists
from storage.hot_images import HotImages

log = logging.getLogger("artproxy")

# An unreachable or stalled Redis must turn into a 503 within a second or two, not hang a
# request. Commands take milliseconds, and writing a 2 MB image over a 1 Gbit/s link ~20 ms.
CONNECT_TIMEOUT_SECONDS = 0.5
SOCKET_TIMEOUT_SECONDS = 1.0
# One immediate retry, and only for a refused or broken connection: after a Redis restart the
# first command on a pooled connection fails that way. A timeout is not retried, so a stalled
# Redis costs one timeout per request, not two.
RETRY = Retry(NoBackoff(), retries=1, supported_errors=(redis.ConnectionError,))
# The value is "<mime>\n<created at, unix ms>\n" followed by the image bytes.
HEADER_SEPARATOR = b"\n"


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                socket_timeout=SOCKET_TIMEOUT_SECONDS, retry=RETRY)


class RedisImageStore:
    kind = "redis"
    needs_sweeping = False  # Redis deletes each key at its expiry

    def __init__(self, client: redis.Redis, prefix: str,
                 clock: Clock = time.time, url: str = "", hot_bytes: int = 0):
        self.client = client
        self.prefix = prefix
        self.clock = clock
        self.url = url
        self.hot = HotImages(hot_bytes)
        self.exists = BatchedExists(client)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], clock: Clock) -> RedisImageStore:
        return cls(connect(config["REDIS_URL"]), config["REDIS_PREFIX"], clock, config["REDIS_URL"],
                   hot_bytes=config["REDIS_HOT_IMAGES_MB"] * 2**20)

    def key_for(self, name: str) -> str:
        return f"{self.prefix}image:{name}"

    def put(self, data: bytes, mime: str, ttl_seconds: float) -> StoredImage:
        return self._put(data, mime, ttl_seconds, cache_key=None)

    def put_cached(self, key: str, data: bytes, mime: str, ttl_seconds: float) -> StoredImage:
        if not CACHE_KEY_PATTERN.fullmatch(key):
            raise ValueError(f"not a cache key: {key!r}")
        return self._put(data, mime, ttl_seconds, cache_key=key)

    def _put(self, data: bytes, mime: str, ttl_seconds: float,
             cache_key: str | None) -> StoredImage:
        now = self.clock()
        expires_at = now + ttl_seconds
        name = new_name(mime, expires_at)
        header = f"{mime}\n{round(now * 1000)}\n".encode("ascii")
        ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        with storage_errors():
            if cache_key is None:
                self.client.set(self.key_for(name), header + data, px=ttl_ms)
            else:
                transaction = self.client.pipeline(transaction=True)
                transaction.set(self.key_for(name), header + data, px=ttl_ms)
                transaction.set(self.cache_key_for(cache_key), name, px=ttl_ms)
                transaction.zadd(self.cache_entries_key(), {cache_key: expires_at})
                transaction.zremrangebyscore(self.cache_entries_key(), "-inf", now)
                transaction.execute()
        return StoredImage(name=name, mime=mime, expires_at=expires_at, data=data,
                           created_at=now)

    def get_cached(self, key: str) -> StoredImage | None:
        with storage_errors():
            name = cast("bytes | None", self.client.get(self.cache_key_for(key)))
        return None if name is None else self.get(name.decode("ascii", "replace"))

    def count_cached(self) -> int:
        with storage_errors():
            return int(self.client.zcount(self.cache_entries_key(), f"({self.clock()}", "+inf"))

    def cache_key_for(self, key: str) -> str:
        return f"{self.prefix}prompt:{key}"

    def cache_entries_key(self) -> str:
        return f"{self.prefix}prompt-entries"

    def get(self, name: str) -> StoredImage | None:
        parsed = live_name(name, self.clock())
        if parsed is None:
            return None
        if self.hot.get(name) is not None:
            with storage_errors():
                still_there = self.exists(self.key_for(name))
            if not still_there:
                self.hot.discard(name)  # deleted, by this instance or another
                return None
            # Taken again after the round trip, in which another request may have let the entry
            # (and its memory file's descriptor number) go.
            hot = self.hot.get(name)
            if hot is not None:
                return hot
        stored = self._read(name, parsed.mime, parsed.expires_at)
        return None if stored is None else self.hot.put(stored, self.clock())

    def _read(self, name: str, expected_mime: str, expires_at: float) -> StoredImage | None:
        with storage_errors():
            # bytes: the client does not decode what Redis answers
            value = cast("bytes | None", self.client.get(self.key_for(name)))
        if value is None:
            return None
        try:
            mime, created_ms, data = value.split(HEADER_SEPARATOR, 2)
            created_at = int(created_ms) / 1000
        except ValueError:
            mime, created_at = b"", 0.0
        if mime.decode("ascii", "replace") != expected_mime:
            # Not a value artproxy wrote (its name's format decides its type): never serve it.
            log.warning("redis key %s holds no artproxy image; treated as missing",
                        self.key_for(name))
            return None
        return StoredImage(name=name, mime=expected_mime, expires_at=expires_at,
                           data=data, created_at=created_at)

    def delete(self, name: str) -> bool:
        if parse_name(name) is None:
            return False
        self.hot.discard(name)
        with storage_errors():
            return bool(self.client.delete(self.key_for(name)))

    def purge_expired(self, now: float | None = None) -> int:
        return 0  # Redis deletes each key at its expiry

    def list_images(self) -> list[ImageRecord]:
        now = self.clock()
        start = len(self.key_for(""))
        with storage_errors():
            keys = [key.decode()
                    for key in self.client.scan_iter(match=self.key_for("*"), count=500)]
            pipeline = self.client.pipeline(transaction=False)
            for key in keys:
                pipeline.strlen(key)
                pipeline.getrange(key, 0, 63)  # the header: mime and creation time
            answers = pipeline.execute()
        records = []
        for key, length, head in zip(keys, answers[0::2], answers[1::2], strict=True):
            parsed = live_name(key[start:], now)
            parts = head.split(HEADER_SEPARATOR, 2)
            if parsed is None or len(parts) < 3 or not length:
                continue
            header_bytes = len(parts[0]) + len(parts[1]) + 2
            records.append(ImageRecord(key[start:], parsed.mime, length - header_bytes,
                                       int(parts[1]) / 1000, parsed.expires_at))
        return sorted(records, key=lambda record: record.created_at)

    def limits_storage(self) -> LimitsStorage:
        # Counters under artproxy's namespace, next to its images, instead of "LIMITS:", with
        # the same short timeouts and retry as the store, so a stalled Redis costs ~1 s a command.
        return LimitsStorage(self.url, {
            "key_prefix": self.prefix + "limits",
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": SOCKET_TIMEOUT_SECONDS,
            # redis-py's default retries a timeout three times with backoff: 4 s and more per
            # command on a stalled Redis, which stacked up past 15 s for one request.
            "retry": RETRY,
        }, shared_by_instances=True)

    def check(self) -> None:
        with storage_errors():
            self.client.ping()


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Turn Redis being unreachable into StorageUnavailable, which the error handler answers 503."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as error:
        raise StorageUnavailable() from error
