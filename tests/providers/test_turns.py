"""Per-upstream concurrency (ARTPROXY_<PROVIDER>_CONCURRENCY): turns held across the worker
processes of an instance, waited for within the provider's timeout, freed however a holder ends."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from errors import UpstreamBusy
from generator_client import GeneratedImage, ImageOptions
from providers.turns import Turns
from testing.fake_pollinations import FakePollinations
from tests.real_server import call, get, serve


class Slow:
    name = "slow"

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at_once = self.most_at_once = 0
        self._lock = threading.Lock()

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        with self._lock:
            self.at_once += 1
            self.most_at_once = max(self.most_at_once, self.at_once)
        time.sleep(self.seconds)
        with self._lock:
            self.at_once -= 1
        return GeneratedImage(b"picture", self.name)


def test_two_holders_of_the_same_files_take_turns(tmp_path):
    # Two Turns on one folder open the lock files each on their own, as two processes do.
    upstream = Slow(0.3)
    first, second = (Turns(upstream, "https://up.example", 1, tmp_path, 5) for _ in range(2))
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda turns: turns.generate("p", ImageOptions()),
                      [first, second, first, second]))
    assert upstream.most_at_once == 1


def test_no_turn_in_time_is_busy(tmp_path):
    turns = Turns(Slow(1.0), "https://up.example", 1, tmp_path, wait_seconds=0.2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = [pool.submit(turns.generate, "p", ImageOptions()) for _ in range(2)]
        errors = [outcome.exception() for outcome in outcomes]
    assert sum(isinstance(error, UpstreamBusy) for error in errors) == 1


def test_a_turn_is_given_back_when_the_call_fails(tmp_path):
    class Failing(Slow):
        def generate(self, prompt, options):
            raise RuntimeError("boom")

    turns = Turns(Failing(0), "https://up.example", 1, tmp_path, 0.2)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            turns.generate("p", ImageOptions())
    assert turns.in_flight() == 0


@pytest.fixture
def pollinations():
    with FakePollinations(delay=1.0) as server:
        yield server


def test_concurrency_one_holds_across_two_workers(pollinations, image_dir, processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PROVIDER="pollinations",
                     ARTPROXY_POLLINATIONS_URL=pollinations.base(),
                     ARTPROXY_POLLINATIONS_CONCURRENCY="1", ARTPROXY_UPSTREAM_TIMEOUT="20")
    workers: set[str] = set()
    waves = 0
    # Waves of four at once until both workers have taken part (the second may still be
    # starting): then the turns, not one process, kept the upstream to one call at a time.
    while len(workers) < 2:
        assert waves < 5, "one worker took every call"
        with ThreadPoolExecutor(max_workers=5) as pool:
            answers = [pool.submit(call, "GET", f"{base_url}/generate?p=wave{waves}fox{number}")
                       for number in range(4)]
            time.sleep(0.5)  # the first drawing, the others waiting for their turn
            calls = get(f"{base_url}/healthz")[2]["providers"]["pollinations"]["calls"]
            results = [answer.result() for answer in answers]
        waves += 1
        assert [status for status, _, _ in results] == [200] * 4
        assert calls == {"limit": 1, "in_flight": 1, "waiting": 3}
        workers |= {headers["X-Request-ID"][:16] for _, headers, _ in results}
    assert pollinations.refused_busy == 0 and pollinations.most_at_once == 1
    metrics = call("GET", f"{base_url}/metrics")[2].decode()
    assert 'artproxy_upstream_calls_in_flight{provider="pollinations"} 0.0' in metrics
    assert 'artproxy_upstream_calls_waiting{provider="pollinations"} 0.0' in metrics


def test_without_a_limit_the_upstream_refuses_the_second_call(pollinations, image_dir,
                                                              processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PROVIDER="pollinations",
                     ARTPROXY_POLLINATIONS_URL=pollinations.base())
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(status for status, _, _ in pool.map(
            lambda number: call("GET", f"{base_url}/generate?p=fox{number}"), range(2)))
    assert statuses == [200, 503] and pollinations.refused_busy == 1


def test_a_call_that_gets_no_turn_in_time_falls_back(pollinations, image_dir, processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PROVIDER="pollinations,offline",
                     ARTPROXY_POLLINATIONS_URL=pollinations.base(),
                     ARTPROXY_POLLINATIONS_CONCURRENCY="1", ARTPROXY_UPSTREAM_TIMEOUT="1.5")
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda number: get(f"{base_url}/generate?p=fox{number}"),
                                range(3)))
    assert [status for status, _, _ in results] == [200] * 3
    assert sorted(body["provider"] for _, _, body in results) == [
        "offline", "pollinations", "pollinations"]
    assert pollinations.refused_busy == 0
