"""Which pages may embed stored images (issue 21's first part): ARTPROXY_EMBED_ORIGINS, told by
the Referer an <img> load carries, on the Flask route and on the fast path below it."""

from __future__ import annotations

import pytest

from testing.fake_upstream import Answer, png_bytes
from tests.helpers import error_of
from tests.real_server import call, get, serve

APP = "https://app.example"


@pytest.fixture
def stored(make_app, upstream):
    """An app with these settings and the URL of one image it stored."""
    upstream.default_answer = Answer(body=png_bytes(), headers={"Content-Type": "image/png"})

    def build(**settings):
        client = make_app(**settings).test_client()
        return client, client.get("/image?p=harbour").get_json()["url"]

    return build


@pytest.mark.parametrize("settings, referer, status", [
    ({"EMBED_ORIGINS": (APP,)}, f"{APP}/gallery?page=2", 200),
    ({"EMBED_ORIGINS": (APP,)}, "https://elsewhere.example/page", 403),
    ({"EMBED_ORIGINS": (APP,)}, "https://APP.example/", 200),  # hosts are case-free
    ({"EMBED_ORIGINS": (APP,)}, "http://app.example/", 403),  # another scheme, another origin
    ({"EMBED_ORIGINS": (APP,)}, "http://localhost/app", 200),  # artproxy's own page
    ({"EMBED_ORIGINS": (APP,)}, "not a url [", 403),
    ({"EMBED_ORIGINS": (APP,)}, None, 200),  # privacy settings strip it
    ({"EMBED_ORIGINS": (APP,), "EMBED_REQUIRE_REFERER": True}, None, 403),
    ({"CORS_ORIGINS": (APP,)}, "https://elsewhere.example/", 403),  # defaults to CORS_ORIGINS
    ({}, "https://elsewhere.example/", 200),  # nothing set: anyone, as before
    ({"EMBED_ORIGINS": ("*",), "CORS_ORIGINS": (APP,)}, "https://elsewhere.example/", 200),
])
def test_a_page_may_embed_only_when_its_site_is_allowed(stored, settings, referer, status):
    client, url = stored(**settings)
    headers = {"Referer": referer} if referer else {}
    response = client.get(url, headers=headers)
    assert response.status_code == status
    if status == 403:
        assert error_of(response)["code"] == "embed_not_allowed"


def test_a_refused_embed_reads_nothing(stored, monkeypatch):
    client, url = stored(EMBED_ORIGINS=(APP,))
    store = client.application.extensions["artproxy"].store
    monkeypatch.setattr(store, "get", lambda name: pytest.fail("the store was read"))
    assert client.get(url, headers={"Referer": "https://elsewhere.example/"}).status_code == 403


def test_the_real_servers_fast_path_keeps_the_guard(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_EMBED_ORIGINS=APP)
    url = base_url + get(f"{base_url}/image?p=harbour")[2]["url"]
    for _ in range(4):  # over both workers
        assert call("GET", url, {"Referer": "https://elsewhere.example/x"})[0] == 403
        assert call("GET", url, {"Referer": f"{APP}/x"})[0] == 200
        assert call("GET", url)[0] == 200
    strict = serve(processes, image_dir, workers=2, ARTPROXY_EMBED_ORIGINS=APP,
                   ARTPROXY_EMBED_REQUIRE_REFERER="true")
    assert call("GET", strict + get(f"{strict}/image?p=harbour")[2]["url"])[0] == 403
