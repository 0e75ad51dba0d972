"""The /v1 API's edges through the app: malformed bodies, CORS, proxies and upstream failures,
all in OpenAI's error shape."""

from __future__ import annotations

import pytest

from testing.fake_upstream import Answer


def openai_error(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body["error"]


@pytest.mark.parametrize("data, content_type", [
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    ("prompt=x", "application/x-www-form-urlencoded"),
])
def test_a_malformed_generation_body_is_400(client, upstream, data, content_type):
    response = client.post("/v1/images/generations", data=data, content_type=content_type)
    assert response.status_code == 400
    assert openai_error(response)["type"] == "invalid_request_error"
    assert upstream.received == []


def test_a_malformed_multipart_edit_is_400(client, upstream):
    response = client.post("/v1/images/edits", data=b"--nothing--\r\n\r\n",
                           content_type="multipart/form-data; boundary=xyz")
    assert response.status_code == 400
    assert openai_error(response)["param"] == "image"
    assert upstream.received == []


@pytest.mark.parametrize("answer, status, error_type", [
    (Answer(status=500), 502, "server_error"),
    (Answer(status=429, headers={"Retry-After": "7"}), 503, "server_error"),
    (Answer(delay=2), 504, "server_error"),
])
def test_upstream_failures_keep_their_status_in_openai_shape(make_app, upstream, answer, status,
                                                             error_type):
    client = make_app(UPSTREAM_TIMEOUT=0.5).test_client()
    upstream.will_answer(answer)
    response = client.post("/v1/images/generations", json={"prompt": "x"})
    assert response.status_code == status
    assert openai_error(response)["type"] == error_type
    if status == 503:
        assert response.headers["Retry-After"] == "7"


def test_unknown_v1_routes_are_404_in_openai_shape(client):
    response = client.get("/v1/engines")
    assert response.status_code == 404 and openai_error(response)["code"] == "not_found"


def test_the_cors_allow_list_applies(make_app, upstream):
    client = make_app(CORS_ORIGINS=("https://app.example",)).test_client()
    refused = client.post("/v1/images/generations", json={"prompt": "x"},
                          headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert openai_error(refused)["code"] == "origin_not_allowed"
    allowed = client.post("/v1/images/generations", json={"prompt": "x"},
                          headers={"Origin": "https://app.example"})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert upstream.received and len(upstream.received) == 1


def test_urls_are_absolute_for_the_address_the_client_used(make_app):
    client = make_app(TRUSTED_PROXIES=1).test_client()
    response = client.post("/v1/images/generations", json={"prompt": "x", "response_format": "url"},
                           headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "art.example",
                                    "X-Forwarded-For": "203.0.113.9"})
    assert response.get_json()["data"][0]["url"].startswith("https://art.example/images/")


def test_without_trusted_proxies_forwarded_headers_are_ignored(client):
    response = client.post("/v1/images/generations", json={"prompt": "x", "response_format": "url"},
                           headers={"X-Forwarded-Host": "evil.example"})
    assert response.get_json()["data"][0]["url"].startswith("http://localhost/images/")
