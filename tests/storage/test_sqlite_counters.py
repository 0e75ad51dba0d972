"""The SQLite counters behind rate limits with file storage: exact under concurrent processes."""

from __future__ import annotations

import multiprocessing

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

import storage.sqlite_counters  # noqa: F401  (registers the scheme)
from testing import FakeClock


def hit_many(uri: str, key: str, times: int) -> None:
    counters = storage_from_string(uri)
    for _ in range(times):
        counters.incr(key, expiry=60)


def test_processes_hitting_at_once_lose_no_count(tmp_path):
    uri = f"artproxy-sqlite://{tmp_path / 'limits.sqlite'}"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=hit_many, args=(uri, "client", 300)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert storage_from_string(uri).get("client") == 900


def test_a_window_starts_over_when_it_expires(tmp_path):
    clock = FakeClock()
    counters = storage_from_string(f"artproxy-sqlite://{tmp_path / 'limits.sqlite'}", clock=clock)
    assert counters.incr("k", expiry=1) == 1
    assert counters.incr("k", expiry=1) == 2
    assert counters.get_expiry("k") == clock() + 1
    clock.advance(0.999)
    assert counters.get("k") == 2
    clock.advance(0.001)
    assert counters.get("k") == 0
    assert counters.get_expiry("k") == clock()  # as limits' storages answer for a missing key
    assert counters.incr("k", expiry=1) == 1


def test_the_limits_strategy_refuses_past_the_budget(tmp_path):
    limiter = FixedWindowRateLimiter(storage_from_string(f"artproxy-sqlite://{tmp_path / 'c.sqlite'}"))
    rate = parse("3/minute")
    assert [limiter.hit(rate, "client") for _ in range(4)] == [True, True, True, False]
    assert limiter.get_window_stats(rate, "client").remaining == 0
    assert limiter.hit(rate, "another client")
