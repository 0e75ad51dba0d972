"""GET /images/<name>: headers, caching, expiry, and names that must never reach the disk."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from tests.helpers import decode_png, error_of, fast_path_of, stored_files


def make_image(client) -> str:
    return client.get("/image?p=a tower").get_json()["url"]


def test_stored_image_has_type_cache_and_validator_headers(client, clock):
    url = make_image(client)
    clock.advance(20)
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "public, max-age=100"
    assert response.headers["ETag"]
    decode_png(response.data)


def test_cache_lifetime_never_reaches_past_the_deadline(client, clock):
    url = make_image(client)
    clock.advance(119.4)
    assert "max-age=0" in client.get(url).headers["Cache-Control"]


def test_conditional_request_gets_304(client):
    url = make_image(client)
    etag = client.get(url).headers["ETag"]
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert "max-age" in response.headers["Cache-Control"]


def test_expired_image_is_404_before_any_sweep(client, clock, image_dir):
    url = make_image(client)
    clock.advance(119.999)
    assert client.get(url).status_code == 200
    clock.advance(0.001)
    response = client.get(url)
    assert response.status_code == 404
    assert error_of(response) == {"error": "Image not found or expired", "code": "image_not_found"}
    assert len(stored_files(image_dir)) == 1  # still on disk: only the deadline decided


def test_unknown_name_of_the_right_shape_is_404(client):
    response = client.get("/images/1900000000000-0123456789abcdef0123456789abcdef.png")
    assert response.status_code == 404
    assert response.is_json


TRAVERSAL_PROBES = [
    "/images/..%2fmain.py",
    "/images/..%2F..%2Fetc%2Fpasswd",
    "/images/%2e%2e%2fmain.py",
    "/images/%2E%2E/main.py",
    "/images/..%5cmain.py",
    "/images/..\\main.py",
    "/images/%2fetc%2fpasswd",
    "/images//etc/passwd",
    "/images/%00",
    "/images/..",
    "/images/.",
    "/images/.gitkeep",
    "/images/secret.txt",
    "/images/..%252fsecret.txt",
    "/images/%c0%ae%c0%ae%2fsecret.txt",
]


def traversal_targets(image_dir):
    (image_dir.parent / "secret.txt").write_text("outside the image folder")
    (image_dir / "secret.txt").write_text("not an artproxy image")


@pytest.mark.parametrize("path", TRAVERSAL_PROBES)
def test_traversal_probes_are_404_json_through_a_real_server(app, serve, image_dir, path):
    traversal_targets(image_dir)
    base = urlsplit(serve(app))
    connection = http.client.HTTPConnection(base.hostname, base.port, timeout=5)
    connection.putrequest("GET", path, skip_accept_encoding=True)  # the raw path, not re-encoded
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 404
    assert response.getheader("Content-Type") == "application/json"
    assert b"outside" not in body and b"not an artproxy" not in body


def test_a_real_name_with_anything_around_it_is_404(client, image_dir):
    url = make_image(client)
    name = url.removeprefix("/images/")
    (image_dir / f"{name}.bak").write_bytes(b"x")
    for probe in (f"{url}%00", f"{url}.bak", f"{url}/", f"/images/./{name}", f"/images/x/../{name}",
                  url.upper(), url.replace(".png", ".PNG"), f"{url}%20"):
        assert client.get(probe).status_code == 404, probe
    assert client.get(url).status_code == 200


def test_temp_files_are_never_served(client, image_dir):
    (image_dir / ".tmp-abc123").write_bytes(b"half")
    assert client.get("/images/.tmp-abc123").status_code == 404


# The plain GETs that <img> tags send are answered below Flask (web/fast_path.py); these
# check that it answers exactly as the Flask route does, and hands everything else over.

def through_flask_only(app):
    from werkzeug.test import Client

    return Client(fast_path_of(app).wsgi_app)  # the app without the fast path in front


COMPARABLE_HEADERS = ("Content-Type", "Content-Length", "Content-Disposition", "Last-Modified",
                      "Cache-Control", "ETag", "Accept-Ranges", "X-Content-Type-Options")


@pytest.mark.parametrize("request_headers", [
    {}, {"Range": "bytes=0-99"}, {"If-Modified-Since": "Sat, 01 Jan 2050 00:00:00 GMT"}])
def test_fast_path_answers_like_the_flask_route(app, client, request_headers):
    url = make_image(client)
    fast = client.get(url, headers=request_headers)
    slow = through_flask_only(app).get(url, headers=request_headers)
    assert fast.status_code == slow.status_code
    assert fast.data == slow.data
    for name in COMPARABLE_HEADERS:
        assert fast.headers.get(name) == slow.headers.get(name), name


def test_fast_path_is_taken_for_plain_gets(app, client, monkeypatch):
    url = make_image(client)
    monkeypatch.setattr(fast_path_of(app), "wsgi_app",
                        lambda environ, start: pytest.fail("reached Flask"))
    assert client.get(url).status_code == 200


def test_with_cors_on_plain_gets_say_they_vary_by_origin_and_origin_requests_get_cors(make_app, clock):
    client = make_app(CLOCK=clock, CORS_ORIGINS=("https://pages.example",)).test_client()
    url = make_image(client)
    assert "Origin" in client.get(url).headers["Vary"]
    with_origin = client.get(url, headers={"Origin": "https://pages.example"})
    assert with_origin.headers["Access-Control-Allow-Origin"] == "https://pages.example"


def test_image_swept_between_lookup_and_open_is_404_json(client, image_dir, monkeypatch):
    url = make_image(client)
    import storage.file_storage

    real_get = storage.file_storage.FileImageStore.get

    def get_then_sweep(store, name):
        stored = real_get(store, name)
        (image_dir / name).unlink(missing_ok=True)
        return stored

    monkeypatch.setattr(storage.file_storage.FileImageStore, "get", get_then_sweep)
    response = client.get(url)
    assert response.status_code == 404
    assert error_of(response) == {"error": "Image not found or expired", "code": "image_not_found"}


def test_a_missing_image_costs_one_lookup_and_gets_the_routes_404(app, client, monkeypatch):
    store = app.extensions["artproxy"].store
    lookups = []
    real_get = store.get
    monkeypatch.setattr(store, "get", lambda name: lookups.append(name) or real_get(name))
    name = "1795281846919-" + "0" * 32 + ".png"
    fast = client.get(f"/images/{name}")
    assert lookups == [name]
    slow = through_flask_only(app).get(f"/images/{name}")
    slow_body = slow.get_json()
    del slow_body["request_id"]  # the request ids are made outside both
    assert (fast.status_code, error_of(fast)) == (slow.status_code, slow_body) == (
        404, {"error": "Image not found or expired", "code": "image_not_found"})
    assert fast.headers["X-Content-Type-Options"] == "nosniff"
