"""CORS for exact origins on every route, and API keys on the premium route."""

from __future__ import annotations

import pytest

from config import ConfigError
from web import access

ALLOWED = "https://a.example"


@pytest.fixture
def cors_client(make_app):
    return make_app(CORS_ORIGINS=(ALLOWED, "http://localhost:3000")).test_client()


def allowed_origin(response) -> str | None:
    return response.headers.get("Access-Control-Allow-Origin")


@pytest.mark.parametrize("path", ["/", "/generate?p=x", "/image?p=x", "/generate", "/nope"])
def test_an_allowed_origin_is_answered_on_every_route(cors_client, path):
    response = cors_client.get(path, headers={"Origin": ALLOWED})
    assert allowed_origin(response) == ALLOWED
    assert "Origin" in response.headers.get("Vary", "")


def test_stored_images_are_usable_in_canvases_on_allowed_origins(cors_client):
    url = cors_client.get("/image?p=x").get_json()["url"]
    assert allowed_origin(cors_client.get(url, headers={"Origin": ALLOWED})) == ALLOWED


@pytest.mark.parametrize("origin", [
    "https://a.example.evil.com",
    "https://evil.com",
    "http://a.example",
    "https://a.example:8443",
    "https://xa.example",
    "https://a.exampl",
    "null",
])
def test_other_origins_are_refused_before_any_upstream_call(cors_client, upstream, image_dir, origin):
    for path in ("/generate?p=x", "/image?p=x"):
        response = cors_client.get(path, headers={"Origin": origin})
        assert response.status_code == 403
        assert response.get_json()["code"] == "origin_not_allowed"
        assert allowed_origin(response) is None
    assert upstream.received == []
    assert list(image_dir.iterdir()) == []


def test_requests_without_origin_are_served_and_get_no_cors_headers(cors_client):
    for path in ("/generate?p=x", "/"):
        response = cors_client.get(path)
        assert response.status_code == 200
        assert allowed_origin(response) is None


def test_each_allowed_origin_gets_itself_back(cors_client):
    response = cors_client.get("/", headers={"Origin": "http://localhost:3000"})
    assert allowed_origin(response) == "http://localhost:3000"


def test_artproxys_own_origin_is_always_allowed(make_app):
    client = make_app(CORS_ORIGINS=(ALLOWED,)).test_client()
    response = client.get("/generate?p=x", headers={"Origin": "http://localhost"})
    assert response.status_code == 200


def test_rate_limit_headers_are_readable_by_allowed_pages(make_app):
    client = make_app(CORS_ORIGINS=(ALLOWED,), RATE_LIMIT="5/minute").test_client()
    response = client.get("/generate?p=x", headers={"Origin": ALLOWED})
    exposed = {name.strip().lower() for name in
               response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"retry-after", "x-ratelimit-limit", "x-ratelimit-remaining",
            "x-ratelimit-reset"} <= exposed
    assert response.headers["X-RateLimit-Remaining"] == "4"


def test_preflight_for_a_keyed_request_is_allowed(cors_client):
    response = cors_client.options("/image?p=x", headers={
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, x-api-key",
    })
    assert response.status_code == 204  # no body, so no content type either
    assert "Content-Type" not in response.headers
    assert allowed_origin(response) == ALLOWED
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    # Only the methods some route answers are advertised.
    advertised = {method.strip() for method in
                  response.headers["Access-Control-Allow-Methods"].split(",")}
    # POST: the /v1 API; DELETE: deleting stored images
    assert advertised == {"GET", "HEAD", "OPTIONS", "POST", "DELETE"}


def test_no_origins_configured_means_no_cross_origin_access(client, upstream):
    response = client.get("/generate?p=x", headers={"Origin": ALLOWED})
    assert response.status_code == 403
    assert allowed_origin(response) is None
    assert upstream.received == []


def test_star_allows_any_origin(make_app):
    client = make_app(CORS_ORIGINS=("*",)).test_client()
    assert allowed_origin(client.get("/", headers={"Origin": "https://anywhere.test"})) in (
        "*", "https://anywhere.test")


@pytest.mark.parametrize("raw", ["https://*.example", "a.example", "https://a.example/",
                                 "https://a.example/path", "https://a.exampl(e|x)", "ftp://a.example"])
def test_origin_settings_that_are_not_exact_origins_are_refused_at_startup(make_app, monkeypatch, raw):
    monkeypatch.setenv("ARTPROXY_CORS_ORIGINS", raw)
    with pytest.raises(ConfigError, match="ARTPROXY_CORS_ORIGINS"):
        make_app()


@pytest.fixture
def keyed_client(make_app):
    return make_app(PREMIUM_KEYS=("key-one", "key-two")).test_client()


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic key-one"},
    {"Authorization": "key-one"},
    {"X-API-Key": "key-on"},
    {"X-API-Key": "key-one-and-more"},
    {"X-API-Key": ""},
])
def test_premium_route_refuses_missing_or_wrong_keys(keyed_client, upstream, image_dir, headers):
    response = keyed_client.get("/image?p=x", headers=headers)
    assert response.status_code == 401
    assert "API key" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert upstream.received == []
    assert list(image_dir.iterdir()) == []


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer key-one"},
    {"Authorization": "bearer key-two"},
    {"X-API-Key": "key-two"},
])
def test_premium_route_accepts_any_configured_key(keyed_client, headers):
    assert keyed_client.get("/image?p=x", headers=headers).status_code == 200


def test_generate_stays_open_when_keys_are_set(keyed_client):
    assert keyed_client.get("/generate?p=x").status_code == 200


def test_keys_come_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("ARTPROXY_PREMIUM_KEYS", " alpha , beta ")
    client = make_app().test_client()
    assert client.get("/image?p=x").status_code == 401
    assert client.get("/image?p=x", headers={"X-API-Key": "beta"}).status_code == 200


def test_key_comparison_checks_every_key():
    assert access.any_key_matches("b", ("a", "b", "c"))
    assert not access.any_key_matches("", ("a",))
    assert not access.any_key_matches("ab", ("a", "b"))
    assert access.any_key_matches("ключ", ("ключ",))
