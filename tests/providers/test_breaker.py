"""The circuit breaker's reading of its shared state: at most once a second per process, at
once after its own changes. Two breakers over one counters file stand for two processes."""

from __future__ import annotations

import time

import pytest

from errors import ProviderSkipped, UpstreamUnavailable
from generator_client import GeneratedImage, ImageOptions
from providers import breaker as breaker_module
from providers.breaker import CircuitBreaker
from storage.sqlite_counters import SQLiteCounters


class Upstream:
    name = "magicstudio"

    def __init__(self) -> None:
        self.failing = False
        self.calls = 0

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        self.calls += 1
        if self.failing:
            raise UpstreamUnavailable()
        return GeneratedImage(b"picture", self.name)


@pytest.fixture
def counters(tmp_path):
    return SQLiteCounters(f"artproxy-sqlite://{tmp_path / 'counters.sqlite'}")


def process(counters: SQLiteCounters, upstream: Upstream) -> CircuitBreaker:
    return CircuitBreaker(upstream, "http://upstream.test/", counters, "artproxy:",
                          failures_to_open=3, cooldown_seconds=60, trial_seconds=30)


class CountingCounters:
    """The counters, counting reads."""

    def __init__(self, counters: SQLiteCounters):
        self.counters = counters
        self.reads = 0

    def __getattr__(self, name: str):
        if name in ("get", "get_expiry"):
            self.reads += 1
        return getattr(self.counters, name)


def test_calls_read_the_shared_state_once_per_interval(counters):
    counting = CountingCounters(counters)
    breaker = process(counting, Upstream())  # type: ignore[arg-type]
    for _ in range(50):
        breaker.generate("a fox", ImageOptions())
    assert counting.reads == 2  # one reading: the open deadline and the failures in a row


def test_own_failures_open_the_breaker_at_once(counters):
    upstream = Upstream()
    upstream.failing = True
    breaker = process(counters, upstream)
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            breaker.generate("a fox", ImageOptions())
    with pytest.raises(ProviderSkipped):
        breaker.generate("a fox", ImageOptions())
    assert upstream.calls == 3


def test_another_process_failures_are_seen_after_the_interval(counters, monkeypatch):
    monkeypatch.setattr(breaker_module, "READ_EVERY_SECONDS", 0.2)
    here_upstream, there_upstream = Upstream(), Upstream()
    here, there = process(counters, here_upstream), process(counters, there_upstream)
    here.generate("a fox", ImageOptions())  # reads: closed
    there_upstream.failing = True
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            there.generate("a fox", ImageOptions())
    here.generate("a fox", ImageOptions())  # within the interval: still its last reading
    assert here.status() == ("open", 3)  # /healthz and /metrics read afresh
    time.sleep(0.25)
    with pytest.raises(ProviderSkipped):
        here.generate("a fox", ImageOptions())
    assert here_upstream.calls == 2
