"""Fallback in order, a circuit breaker per provider, and identical calls merged."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from testing.fake_upstream import Answer
from tests.real_server import get, serve


@pytest.fixture
def two_providers(make_app, upstream, clock):
    """pollinations first, magicstudio second, both played by the one fake upstream."""
    def build(**overrides):
        return make_app(PROVIDER=("pollinations", "magicstudio"), CLOCK=clock,
                        POLLINATIONS_URL=upstream.url.rsplit("/", 1)[0] + "/prompt",
                        UPSTREAM_TIMEOUT=0.5, **overrides)
    return build


def methods(upstream) -> list[str]:
    return ["pollinations" if request.method == "GET" else "magicstudio"
            for request in upstream.received]


@pytest.mark.parametrize("failure", [Answer(status=500), Answer(status=429), Answer(delay=2),
                                     Answer(status=403), Answer(body=b"not an image")])
def test_the_next_provider_answers_when_one_fails_on_its_side(two_providers, upstream, failure):
    upstream.will_answer(failure, Answer())
    response = two_providers().test_client().get("/generate?p=x")
    assert response.status_code == 200
    assert response.get_json()["provider"] == "magicstudio"
    assert methods(upstream)[:1] == ["pollinations"] and methods(upstream)[-1] == "magicstudio"


def test_the_callers_own_mistake_is_never_retried_elsewhere(two_providers, upstream):
    assert two_providers().test_client().get("/generate?p=x&size=1x1").status_code == 400
    assert upstream.received == []


def test_when_all_fail_the_most_telling_failure_is_the_answer(two_providers, upstream):
    client = two_providers().test_client()
    upstream.will_answer(Answer(status=500), Answer(status=429, headers={"Retry-After": "40"}))
    response = client.get("/generate?p=x")
    assert (response.status_code, response.headers["Retry-After"]) == (503, "40")
    upstream.will_answer(Answer(delay=2), Answer(status=500))
    assert client.get("/generate?p=y").status_code == 504  # a timeout says more than a 502


def test_the_breaker_opens_after_failures_in_a_row_and_a_trial_closes_it(make_app, upstream, clock):
    client = make_app(PROVIDER=("magicstudio",), CLOCK=clock, PROVIDER_FAILURES=3,
                      PROVIDER_COOLDOWN=30).test_client()
    upstream.will_answer(*[Answer(status=500)] * 3)
    for _ in range(3):
        assert client.get("/generate?p=x").status_code == 502
    assert client.get("/healthz").get_json()["providers"]["magicstudio"] == {
        "state": "open", "failures_in_a_row": 3}
    resting = client.get("/generate?p=x")
    assert (resting.status_code, resting.get_json()["code"]) == (503, "upstream_resting")
    assert resting.headers["Retry-After"] == "30"
    assert len(upstream.received) == 3  # skipped: the upstream was not called
    clock.advance(29)
    assert client.get("/generate?p=x").status_code == 503 and len(upstream.received) == 3
    clock.advance(2)
    assert client.get("/healthz").get_json()["providers"]["magicstudio"]["state"] == "half-open"
    assert client.get("/generate?p=x").status_code == 200  # the trial call
    assert len(upstream.received) == 4
    assert client.get("/healthz").get_json()["providers"]["magicstudio"] == {
        "state": "closed", "failures_in_a_row": 0}


def test_a_failed_trial_opens_the_breaker_again(make_app, upstream, clock):
    client = make_app(PROVIDER=("magicstudio",), CLOCK=clock, PROVIDER_FAILURES=2,
                      PROVIDER_COOLDOWN=10).test_client()
    upstream.will_answer(*[Answer(status=500)] * 3)
    for _ in range(2):
        client.get("/generate?p=x")
    clock.advance(11)
    assert client.get("/generate?p=x").status_code == 502  # the trial fails
    assert client.get("/healthz").get_json()["providers"]["magicstudio"]["state"] == "open"
    assert len(upstream.received) == 3


def test_an_open_breaker_sends_calls_to_the_next_provider(two_providers, upstream, clock):
    client = two_providers(PROVIDER_FAILURES=1).test_client()
    upstream.will_answer(Answer(status=500), Answer(), Answer())
    assert client.get("/generate?p=x").get_json()["provider"] == "magicstudio"
    assert client.get("/generate?p=y").get_json()["provider"] == "magicstudio"
    assert methods(upstream) == ["pollinations", "magicstudio", "magicstudio"]


def test_the_breaker_is_shared_by_the_workers_of_an_instance(image_dir, processes, upstream):
    upstream.default_answer = Answer(status=500, delay=0.5)
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PROVIDER="magicstudio",
                     ARTPROXY_MAGICSTUDIO_URL=upstream.url, ARTPROXY_PROVIDER_FAILURES="6")

    def wave() -> list[int]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return [status for status, _, _ in pool.map(
                lambda i: get(f"{base_url}/generate?p={i}"), range(8))]

    # Eight slow failures at once, spread over both workers (about four each): together they
    # pass the six the breaker allows, though neither worker saw six of its own.
    assert wave() == [502] * 8
    assert wave() == [503] * 8  # both workers skip the upstream now
    assert len(upstream.received) == 8


def test_twenty_identical_calls_in_one_worker_make_one_upstream_call(image_dir, processes, upstream):
    upstream.default_answer = Answer(delay=0.5)
    base_url = serve(processes, image_dir, workers=1, ARTPROXY_PROVIDER="magicstudio",
                     ARTPROXY_MAGICSTUDIO_URL=upstream.url)
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda i: get(f"{base_url}/image?p=same+prompt"), range(20)))
    assert [status for status, _, _ in answers] == [200] * 20
    assert len({body["url"] for _, _, body in answers}) == 20  # each caller its own image
    assert len(upstream.received) == 1
    get(base_url + "/image?p=same+prompt&seed=1")  # another seed is another call
    assert len(upstream.received) == 2
