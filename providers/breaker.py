"""A circuit breaker around a provider: skip an upstream that keeps failing, then try it again.

After ``failures_to_open`` failures in a row the provider is skipped for ``cooldown_seconds``;
then one trial call decides: success closes the breaker, failure opens it again. Only the
upstream's own ill health is a failure: unreachable, 5xx, a timeout, a broken image. A call it
refuses (4xx, 429) shows it well, whatever it thought of that one prompt: otherwise any client
could rest the upstream for everyone with three prompts it rejects.

Its state lives in the deployment's shared counters (the same store as the rate limits: SQLite
for one instance, Redis for several), so every worker process and instance sees the same
breaker, under a key made from what the upstream is (its URL and model), not the provider's
name: instances that call different upstreams never rest each other, and a corrected URL
starts afresh. A process reads that state at most once every READ_EVERY_SECONDS, and again
after each change it makes: three reads per call were 4% of a worker's CPU under bench/ target
2. So what another process records is seen here within a second.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from clock import Clock
from errors import ProviderSkipped, UpstreamBusy, UpstreamError, UpstreamRejected
from generator_client import GeneratedImage, ImageOptions, Provider
from logs import Occasionally
from storage import Counters

log = logging.getLogger("artproxy")
counters_failed = Occasionally(log, every_seconds=60)
T = TypeVar("T")

# Failures in a row are remembered this long without a new one; a quiet day starts afresh.
FAILURE_MEMORY_SECONDS = 3600
# After the shared counters fail (Redis down or stalled), they are not asked again for this long.
COUNTERS_RETRY_SECONDS = 5
# How long a process goes by what it last read of the breaker's state.
READ_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class Reading:
    """The breaker's shared state as this process last read it."""

    taken_at: float  # time.monotonic()
    open_until: float  # the clock's time; the past when closed
    failures: int  # in a row


class CircuitBreaker(Provider):
    def __init__(self, provider: Provider, upstream: str, counters: Counters, prefix: str,
                 failures_to_open: int, cooldown_seconds: float, trial_seconds: float,
                 clock: Clock = time.time):
        self.provider = provider
        self.name = provider.name
        self.counters = counters
        self.upstream = upstream
        upstream_id = hashlib.sha256(upstream.encode("utf-8")).hexdigest()[:32]
        self.key = f"{prefix}breaker:{upstream_id}:"
        self.failures_to_open = failures_to_open
        self.cooldown_seconds = cooldown_seconds
        self.trial_seconds = trial_seconds  # how long one trial call may take before another
        self.clock = clock
        self._counters_down_until = 0.0  # monotonic time until which the counters are not asked
        self._reading: Reading | None = None

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        if not self._safely(self._may_call, default=True):
            resting = self._safely(self._open_until, default=0.0) - self.clock()
            raise ProviderSkipped(self.name, max(1, math.ceil(resting)))
        try:
            generated = self.provider.generate(prompt, options)
        except (UpstreamRejected, UpstreamBusy):
            self._safely(self._record_success, None)  # it answered: it is well
            raise
        except UpstreamError:
            self._safely(self._record_failure, None)
            raise
        self._safely(self._record_success, None)
        return generated

    def _may_call(self) -> bool:
        state = self.state()
        return state == "closed" or (state == "half-open" and self._take_trial())

    def _safely(self, step: Callable[[], T], default: T) -> T:
        # The breaker is an optimisation: if its shared counters cannot be reached (Redis
        # down), calls go through as if it were closed rather than fail, and the counters are
        # left alone for a while, so a stalled Redis costs one timeout, not one per step.
        if time.monotonic() < self._counters_down_until:
            return default
        try:
            return step()
        except Exception as error:
            self._counters_down_until = time.monotonic() + COUNTERS_RETRY_SECONDS
            counters_failed.warning("circuit breaker for %s is off for %s s: its counters "
                                    "failed (%s)", self.name, COUNTERS_RETRY_SECONDS, error)
            return default

    def state(self) -> str:
        return self._state(self._read())

    def status(self) -> tuple[str, int]:
        """(state, failures in a row) as the shared counters say now, for /healthz and /metrics."""
        reading = self._read(fresh=True)
        return self._state(reading), reading.failures

    def _state(self, reading: Reading) -> str:
        if reading.open_until > self.clock():
            return "open"
        if reading.failures >= self.failures_to_open:
            return "half-open"
        return "closed"

    def _open_until(self) -> float:
        return self._read().open_until

    def _read(self, fresh: bool = False) -> Reading:
        reading = self._reading
        if fresh or reading is None or time.monotonic() - reading.taken_at >= READ_EVERY_SECONDS:
            # Every limits storage answers "now" for a key that is missing or expired, so one
            # read says both whether the breaker is open and until when.
            reading = Reading(time.monotonic(), self.counters.get_expiry(self.key + "open"),
                              self.counters.get(self.key + "failures"))
            self._reading = reading
        return reading

    def _take_trial(self) -> bool:
        # The first caller after the cooldown gets the trial; the others are skipped until it ends.
        return self.counters.incr(self.key + "trial", max(1, round(self.trial_seconds))) == 1

    def _record_failure(self) -> None:
        self._reading = None
        failures = self.counters.incr(self.key + "failures", FAILURE_MEMORY_SECONDS)
        if failures >= self.failures_to_open:
            self.counters.clear(self.key + "open")
            self.counters.incr(self.key + "open", max(1, round(self.cooldown_seconds)))
            self.counters.clear(self.key + "trial")
            log.warning("provider %s failed %d times in a row: skipped for %s s",
                        self.name, failures, self.cooldown_seconds)

    def _record_success(self) -> None:
        if self._read().failures:
            self.counters.clear(self.key + "failures")
            self.counters.clear(self.key + "trial")
            self._reading = None
