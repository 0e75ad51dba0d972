"""Pictures drawn for prompt URLs (``GET /prompt/<prompt>``), kept and given again to the same URL.

    request -> key: sha256 of (prompt, every option, the provider chain's upstreams)
            -> the store's entry for the key?  yes: its bytes (a hit)
               no: take the key's lock -> draw -> store as the key's entry (a miss)
                   the lock is taken: wait for the entry, drawn by whoever holds it

An entry is an ordinary stored image (its deadline, sweeping, deletion) that the store also
files under the key (``put_cached``/``get_cached``): the image folder for one instance, Redis
for all. The lock is a counter in the shared counters, so twenty identical requests spread
over the worker processes (and, with Redis, the instances) cost the upstream one call. Hits and
misses are counted there too, gathered in each process and written once a second.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from limits.storage import Storage

from background import Repeating
from clock import Clock
from config import drawing_seconds, prompt_cache_seconds
from errors import ArtproxyError, FailedMomentsAgo, StorageUnavailable, UpstreamTimeout
from generator_client import ImageOptions
from logs import Occasionally
from service import ImageService, RenderedImage
from storage import ImageStore, StoredImage

log = Occasionally(logging.getLogger("artproxy"), every_seconds=60)

# Bumped when what a key means changes, so entries made before are never taken for new ones.
KEY_VERSION = 1
# A waiter looks for the entry this often: a drawing takes seconds, a look a fraction of a ms.
POLL_SECONDS = 0.1
TALLY_SECONDS = 1.0
# Hit and miss counts live this long in the shared counters (they must expire, so: long).
TALLY_LIFETIME_SECONDS = 10 * 365 * 24 * 3600
HITS, MISSES = "prompt-cache:hits", "prompt-cache:misses"
# A drawing that failed is the answer to the same URL for this long: the requests that waited
# for it get its failure, not one upstream call each in turn.
FAILURE_SECONDS = 5
# What a remembered failure can be, by its position: counters keep numbers only.
FAILURE_CODES = ("upstream_failed", "upstream_unreachable", "upstream_rejected",
                 "bad_upstream_image", "upstream_busy", "upstream_resting", "upstream_timeout",
                 "storage_unavailable", "storage_full", "server_busy", "internal_error",
                 "upstream_faulted", "upstream_censored")
T = TypeVar("T")


@dataclass(frozen=True)
class CacheAnswer:
    image: StoredImage
    hit: bool  # True when no upstream was called for this request


class PromptCache:
    def __init__(self, store: ImageStore, counters: Storage | None, upstreams: Sequence[str],
                 ttl_seconds: float, wait_seconds: float, clock: Clock = time.time):
        self.store = store
        self.counters = counters
        self.upstreams = list(upstreams)
        self.ttl_seconds = ttl_seconds
        self.wait_seconds = wait_seconds  # the longest a drawing may take, fallbacks included
        self.clock = clock
        self.tally = Tally(counters)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], service: ImageService) -> PromptCache:
        return cls(service.store, service.counters,
                   [breaker.upstream for breaker in service.breakers],
                   prompt_cache_seconds(config), drawing_seconds(config), service.clock)

    def key_for(self, prompt: str, options: ImageOptions) -> str:
        """The same for every request that asks for the same picture of the same upstreams."""
        asked = {"version": KEY_VERSION, "prompt": prompt, "options": dataclasses.asdict(options),
                 "upstreams": self.upstreams}
        text = json.dumps(asked, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @staticmethod
    def seeded(key: str, options: ImageOptions) -> ImageOptions:
        """``options`` with a seed derived from ``key`` when none was asked for, so the same
        URL draws the same picture again once its entry has expired (where the upstream takes
        a seed)."""
        if options.seed is not None:
            return options
        return dataclasses.replace(options, seed=int(key[:8], 16))  # 32 bits: within MAX_SEED

    def lookup(self, key: str) -> StoredImage | None:
        """The entry of ``key`` if there is one; never draws."""
        return self.store.get_cached(key)

    def count_hit(self) -> None:
        """Count a hit served from lookup()'s answer."""
        self.tally.count(HITS)

    def fetch(self, key: str, draw: Callable[[], RenderedImage],
              spend: Callable[[], None]) -> CacheAnswer:
        """The entry of ``key``; if there is none, ``spend()`` (which may refuse) and ``draw()``
        it, unless another request is drawing it already: then its picture, once it is there,
        or its failure. UpstreamTimeout if that takes longer than a drawing may."""
        give_up_at = time.monotonic() + self.wait_seconds
        while True:
            image = self.store.get_cached(key)
            if image is not None:
                return self._hit(image)
            self._raise_recent_failure(key)
            if not self._being_drawn(key) and self._take_lock(key):
                try:
                    return self._draw(key, draw, spend)
                finally:
                    self._release_lock(key)
            if time.monotonic() > give_up_at:
                raise UpstreamTimeout("The picture for this URL is still being drawn; "
                                      "try again later")
            time.sleep(POLL_SECONDS)

    def _draw(self, key: str, draw: Callable[[], RenderedImage],
              spend: Callable[[], None]) -> CacheAnswer:
        image = self.store.get_cached(key)  # stored between the look and the lock?
        if image is not None:
            return self._hit(image)
        spend()
        try:
            rendered = draw()
        except ArtproxyError as error:
            if error.status_code >= 500:  # the upstream's or ours, not this caller's
                self._remember_failure(key, error)
            raise
        image = self.store.put_cached(key, rendered.data, rendered.format.mime, self.ttl_seconds)
        self.tally.count(MISSES)
        return CacheAnswer(image, hit=False)

    def _hit(self, image: StoredImage) -> CacheAnswer:
        self.count_hit()
        return CacheAnswer(image, hit=True)

    def stats(self) -> dict[str, int]:
        """Entries now, and hits and misses so far, of the whole store (every process)."""
        hits, misses = self.tally.read(HITS, MISSES)
        return {"entries": self.store.count_cached(), "hits": hits, "misses": misses}

    def _being_drawn(self, key: str) -> bool:
        """Whether another request holds ``key``'s lock: a read, where taking it is a write."""
        return self._shared(lambda counters: counters.get(lock_name(key)), 0) > 0

    def _raise_recent_failure(self, key: str) -> None:
        """The failure of the drawing of ``key`` that ended less than FAILURE_SECONDS ago, if
        one did: the requests that waited for it, and those right after, get that answer
        instead of calling the upstream one after another."""
        failed = self._shared(lambda counters: counters.get(failure_name(key)), 0)
        if failed:
            status, code = divmod(failed, 100)
            raise FailedMomentsAgo(status, FAILURE_CODES[code] if code < len(FAILURE_CODES)
                                   else "upstream_failed", FAILURE_SECONDS)

    def _remember_failure(self, key: str, error: ArtproxyError) -> None:
        code = FAILURE_CODES.index(error.code) if error.code in FAILURE_CODES else 0
        self._shared(lambda counters: counters.incr(
            failure_name(key), FAILURE_SECONDS, error.status_code * 100 + code), 0)

    def _take_lock(self, key: str) -> bool:
        """True if this request is the one to draw ``key``'s picture. While the counters are
        unreachable, every request draws for itself: a lock is a saving, not a condition."""
        return self._shared(
            lambda counters: counters.incr(lock_name(key), math.ceil(self.wait_seconds)) == 1,
            True)

    def _release_lock(self, key: str) -> None:
        # If this fails, the lock expires on its own after wait_seconds.
        self._shared(lambda counters: counters.clear(lock_name(key)), None)

    def _shared(self, step: Callable[[Storage], T], otherwise: T) -> T:
        """``step`` on the shared counters; ``otherwise`` while they cannot be reached."""
        if self.counters is None:
            return otherwise
        try:
            return step(self.counters)
        except Exception as error:
            log.warning("prompt URLs: the shared counters failed, so identical requests are "
                        "not being merged: %s", error)
            return otherwise


def lock_name(key: str) -> str:
    return f"prompt-cache:drawing:{key}"


def failure_name(key: str) -> str:
    return f"prompt-cache:failed:{key}"


class Tally:
    """Counts gathered in this process and added to the shared counters once a second: a
    write per request would cost a cache hit a round trip to SQLite or Redis."""

    def __init__(self, counters: Storage | None):
        self.counters = counters
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()
        # Counts of a failed write are lost; the thread and the service go on.
        self._writer = Repeating(self.write, TALLY_SECONDS, "artproxy-tally", lambda error: (
            log.warning("prompt URLs: hits and misses could not be counted: %s", error)))

    def count(self, name: str) -> None:
        with self._lock:
            self._pending[name] = self._pending.get(name, 0) + 1
        self._writer.ensure_running()

    def read(self, *names: str) -> list[int]:
        self.write()  # this process's own; the others' are at most TALLY_SECONDS old
        if self.counters is None:
            return [0 for _ in names]
        try:
            return [self.counters.get(name) for name in names]
        except Exception as error:
            raise StorageUnavailable("The shared counters cannot be read") from error

    def write(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if self.counters is None:
            return
        for name, amount in pending.items():
            self.counters.incr(name, TALLY_LIFETIME_SECONDS, amount)


def cache_state(cache: PromptCache) -> Callable[[], Iterator[Any]]:
    """Metric families of the cache for /metrics, read from the shared state when scraped."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    def read_prompt_cache() -> Iterator[Any]:
        stats = cache.stats()
        yield GaugeMetricFamily("artproxy_prompt_cache_entries",
                                "Pictures kept for prompt URLs", value=stats["entries"])
        yield CounterMetricFamily("artproxy_prompt_cache_hits",
                                  "Prompt URL requests answered without an upstream call",
                                  value=stats["hits"])
        yield CounterMetricFamily("artproxy_prompt_cache_misses",
                                  "Prompt URL requests that drew their picture",
                                  value=stats["misses"])

    return read_prompt_cache
