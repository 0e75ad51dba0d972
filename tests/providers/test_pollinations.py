"""Pollinations against a real local HTTP server playing it."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from testing.fake_upstream import Answer, png_bytes


@pytest.fixture
def client(make_app, upstream):
    base = upstream.url.rsplit("/", 1)[0] + "/prompt"
    return make_app(PROVIDER=("pollinations",), POLLINATIONS_URL=base,
                    POLLINATIONS_MODEL="turbo").test_client()


def test_the_prompt_size_seed_and_model_travel_in_the_url(client, upstream):
    upstream.default_answer = Answer(body=png_bytes(size=(768, 512)),
                                     headers={"Content-Type": "image/png"})
    response = client.get("/generate?p=a+fox/in+snow?&size=768x512&seed=42")
    assert response.status_code == 200
    assert response.get_json()["provider"] == "pollinations"
    request = upstream.received[0]
    assert request.method == "GET"
    path = urlsplit(request.path)
    assert unquote(path.path) == "/api/prompt/a fox/in snow?"
    assert path.path.endswith("/a%20fox%2Fin%20snow%3F")  # the prompt is one path segment
    assert parse_qs(path.query) == {"width": ["768"], "height": ["512"], "seed": ["42"],
                                    "model": ["turbo"], "nologo": ["true"]}


@pytest.mark.parametrize("answer, status", [
    (Answer(status=429, headers={"Retry-After": "9"}), 503),
    (Answer(status=500), 502),
    (Answer(status=400), 502),
    (Answer(body=b"<html>nope</html>"), 502),
    (Answer(delay=2), 504),
])
def test_failures_map_as_for_every_provider(make_app, upstream, answer, status):
    base = upstream.url.rsplit("/", 1)[0] + "/prompt"
    client = make_app(PROVIDER=("pollinations",), POLLINATIONS_URL=base,
                      UPSTREAM_TIMEOUT=0.5).test_client()
    upstream.will_answer(answer)
    response = client.get("/generate?p=x")
    assert response.status_code == status
    if status == 503:
        assert response.headers["Retry-After"] == "9"


# Against the protocol fake of both bases (testing/fake_pollinations.py).

@pytest.fixture
def pollinations():
    from testing.fake_pollinations import FakePollinations

    with FakePollinations(keys=("sk_good",), broke_keys=("sk_broke",)) as server:
        yield server


def test_the_key_and_the_referrer_are_sent(make_app, pollinations):
    client = make_app(PROVIDER=("pollinations",), POLLINATIONS_URL=pollinations.base(newer=True),
                      POLLINATIONS_KEY="sk_good", POLLINATIONS_REFERRER="myapp.example").test_client()
    assert client.get("/generate?p=a+fox&size=320x256").status_code == 200
    received = pollinations.received[0]
    assert (received.base, received.prompt) == ("image", "a fox")
    assert received.headers["Authorization"] == "Bearer sk_good"
    assert received.query["referrer"] == "myapp.example"


@pytest.mark.parametrize("key, said", [
    ("", "this base needs ARTPROXY_POLLINATIONS_KEY"),
    ("sk_wrong", "ARTPROXY_POLLINATIONS_KEY was refused"),
    ("sk_broke", "has no balance left"),
])
def test_no_key_a_wrong_key_or_no_balance_is_upstream_rejected_and_the_log_says_which(
        make_app, pollinations, caplog, key, said):
    client = make_app(PROVIDER=("pollinations",), POLLINATIONS_URL=pollinations.base(newer=True),
                      POLLINATIONS_KEY=key).test_client()
    response = client.get("/generate?p=a+fox")
    assert response.status_code == 502
    assert response.get_json()["code"] == "upstream_rejected"
    assert said in caplog.text and "sk_" not in response.get_data(as_text=True)


def test_queue_full_is_upstream_busy(make_app, pollinations):
    from concurrent.futures import ThreadPoolExecutor

    pollinations.delay = 0.5
    client = make_app(PROVIDER=("pollinations",), POLLINATIONS_URL=pollinations.base(),
                      MERGE_IDENTICAL_CALLS=False).test_client()
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda name: client.get(f"/generate?p={name}"), ["fox", "owl"]))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 503] and pollinations.refused_busy == 1
    busy = next(answer for answer in answers if answer.status_code == 503)
    assert busy.get_json()["code"] == "upstream_busy" and busy.headers["Retry-After"]
