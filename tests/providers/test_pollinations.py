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
