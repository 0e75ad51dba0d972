"""The prompt cache on its own: what makes a key, the derived seed, and one drawing per key with
the others waiting for it (across processes in tests/web/test_prompt_urls.py)."""

from __future__ import annotations

import threading
import time

import pytest
from limits.storage import MemoryStorage

from errors import FailedMomentsAgo, RateLimited, UpstreamRejected, UpstreamTimeout
from generator_client import ImageOptions
from imaging import PNG
from options import MAX_SEED
from prompt_cache import FAILURE_SECONDS, PromptCache, lock_name
from service import RenderedImage
from storage.file_storage import FileImageStore
from storage.sqlite_counters import SQLiteCounters
from testing import FakeClock

PICTURE = RenderedImage(b"\x89PNG picture", PNG, 64, 64, "offline")


@pytest.fixture
def counters():
    return MemoryStorage()


@pytest.fixture
def cache(image_dir, counters):
    return PromptCache(FileImageStore(image_dir), counters, ["https://upstream.example"],
                       ttl_seconds=60, wait_seconds=5)


def draws(log: list, picture: RenderedImage = PICTURE):
    def draw() -> RenderedImage:
        log.append("drawn")
        return picture
    return draw


def test_a_key_is_made_of_the_prompt_every_option_and_the_upstreams(cache):
    key = cache.key_for("fox", ImageOptions())
    assert key == cache.key_for("fox", ImageOptions())
    others = {cache.key_for("fox!", ImageOptions()),
              cache.key_for("fox", ImageOptions(seed=1)),
              cache.key_for("fox", ImageOptions(format="webp")),
              cache.key_for("fox", ImageOptions(width=64, height=64)),
              cache.key_for("fox", ImageOptions(style="anime")),
              cache.key_for("fox", ImageOptions(transparent=True)),
              cache.key_for("fox", ImageOptions(provider="offline"))}
    assert len(others) == 7 and key not in others
    elsewhere = PromptCache(cache.store, None, ["https://other.example"], 60, 5)
    assert elsewhere.key_for("fox", ImageOptions()) != key


def test_the_seed_is_derived_from_the_key_unless_one_was_asked(cache):
    key = cache.key_for("fox", ImageOptions())
    seed = cache.seeded(key, ImageOptions()).seed
    assert seed == cache.seeded(key, ImageOptions()).seed and 0 <= seed <= MAX_SEED
    assert cache.seeded(cache.key_for("owl", ImageOptions()), ImageOptions()).seed != seed
    assert cache.seeded(key, ImageOptions(seed=7)).seed == 7


def test_a_miss_spends_and_draws_once_then_it_is_a_hit(cache):
    drawn, spent = [], []
    first = cache.fetch("a" * 64, draws(drawn), lambda: spent.append(1))
    second = cache.fetch("a" * 64, draws(drawn), lambda: spent.append(1))
    assert (first.hit, second.hit) == (False, True)
    assert first.image.name == second.image.name
    assert drawn == ["drawn"] and spent == [1]


def test_a_refused_spend_draws_nothing_and_frees_the_key(cache, counters):
    def refuse() -> None:
        raise RateLimited(5)

    drawn: list = []
    with pytest.raises(RateLimited):
        cache.fetch("a" * 64, draws(drawn), refuse)
    assert drawn == [] and counters.get(lock_name("a" * 64)) == 0
    assert cache.fetch("a" * 64, draws(drawn), lambda: None).hit is False


def test_a_failed_drawing_is_the_answer_for_a_few_seconds_then_it_is_drawn_again(image_dir,
                                                                                 tmp_path):
    clock = FakeClock()
    counters = SQLiteCounters(f"artproxy-sqlite://{tmp_path / 'counters.sqlite'}", clock=clock)
    cache = PromptCache(FileImageStore(image_dir, clock), counters, [], 60, 5, clock)
    calls: list = []

    def fail() -> RenderedImage:
        calls.append("called")
        raise UpstreamRejected()

    with pytest.raises(UpstreamRejected):
        cache.fetch("a" * 64, fail, lambda: None)
    assert counters.get(lock_name("a" * 64)) == 0 and cache.lookup("a" * 64) is None
    # Those who waited for it, and those right after: the same failure, no upstream call.
    with pytest.raises(FailedMomentsAgo) as again:
        cache.fetch("a" * 64, fail, lambda: pytest.fail("nothing to spend on"))
    assert (again.value.status_code, again.value.code) == (502, "upstream_rejected")
    assert calls == ["called"]
    clock.now += FAILURE_SECONDS + 1
    assert cache.fetch("a" * 64, draws([]), lambda: None).hit is False


def test_a_refused_caller_is_no_failure_for_the_others(cache):
    def refuse() -> None:
        raise RateLimited(5)

    with pytest.raises(RateLimited):
        cache.fetch("a" * 64, draws([]), refuse)
    assert cache.fetch("a" * 64, draws([]), lambda: None).hit is False


def test_a_request_waits_for_the_drawing_another_holds(cache, counters):
    key = "b" * 64
    counters.incr(lock_name(key), 60)  # another process is drawing it

    def other_process_finishes() -> None:
        time.sleep(0.3)
        cache.store.put_cached(key, b"theirs", "image/png", 60)
        counters.clear(lock_name(key))

    threading.Thread(target=other_process_finishes).start()
    drawn: list = []
    answer = cache.fetch(key, draws(drawn), lambda: pytest.fail("a waiter spends nothing"))
    assert answer.hit and drawn == [] and answer.image.path.read_bytes() == b"theirs"


def test_a_waiter_gives_up_when_a_drawing_could_not_take_longer(image_dir, counters):
    cache = PromptCache(FileImageStore(image_dir), counters, [], 60, wait_seconds=0.3)
    counters.incr(lock_name("c" * 64), 60)  # held by a drawing that never ends
    with pytest.raises(UpstreamTimeout):
        cache.fetch("c" * 64, draws([]), lambda: None)


def test_unreachable_counters_cost_the_merging_not_the_picture(cache, monkeypatch):
    def broken(*arguments, **keywords):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache.counters, "incr", broken)
    monkeypatch.setattr(cache.counters, "clear", broken)
    assert cache.fetch("d" * 64, draws([]), lambda: None).hit is False
