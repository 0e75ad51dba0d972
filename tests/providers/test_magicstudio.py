"""The MagicStudio client against a real HTTP server on 127.0.0.1: wire format and every fault."""

from __future__ import annotations

import struct
import time
import uuid
import zlib

import pytest

from testing.fake_upstream import Answer, jpeg_bytes, png_bytes
from tests.helpers import free_port, stored_files


def test_request_is_the_multipart_form_the_upstream_expects(client, upstream):
    before = time.time()
    assert client.get("/generate?p=a quiet harbour").status_code == 200
    request = upstream.received[0]
    assert request.path == "/api/ai-art-generator"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    fields = request.fields
    assert fields["prompt"] == "a quiet harbour"
    assert fields["output_format"] == "bytes"
    assert fields["user_profile_id"] == "null"
    assert fields["user_is_subscribed"] == "false"
    assert uuid.UUID(fields["anonymous_user_id"]).version == 4
    assert before - 1 <= float(fields["request_timestamp"]) <= time.time() + 1
    assert len(fields["request_timestamp"].split(".")[1]) == 3
    assert len(fields["client_id"]) >= 32
    assert request.headers["Origin"] == "https://magicstudio.com"
    assert request.headers["Referer"] == "https://magicstudio.com/ai-art-generator/"
    assert "Mozilla" in request.headers["User-Agent"]
    assert request.headers["Accept"]


def test_calls_reuse_one_upstream_connection(client, upstream):
    for number in range(5):
        assert client.get(f"/generate?p=harbour {number}").status_code == 200
    assert len({request.peer for request in upstream.received}) == 1


def test_an_unread_error_body_never_becomes_the_next_answer(client, upstream):
    upstream.will_answer(Answer(status=500, body=b"x" * 200_000), Answer())
    assert client.get("/generate?p=one").status_code == 502
    assert client.get("/generate?p=two").status_code == 200
    assert upstream.received[0].peer != upstream.received[1].peer


def test_every_request_gets_fresh_anonymous_ids(client, upstream):
    client.get("/generate?p=one")
    client.get("/generate?p=two")
    ids = [request.fields["anonymous_user_id"] for request in upstream.received]
    assert len(set(ids)) == 2


def test_configured_client_id_is_sent(make_app, upstream):
    make_app(MAGICSTUDIO_CLIENT_ID="my-client").test_client().get("/generate?p=x")
    assert upstream.received[0].fields["client_id"] == "my-client"


@pytest.mark.parametrize("status", [403, 422])
def test_rejection_is_retried_once_with_fresh_ids(client, upstream, status):
    upstream.will_answer(Answer(status=status, body=b'{"error":"bad id"}'), Answer())
    assert client.get("/generate?p=x").status_code == 200
    first, second = upstream.received
    assert first.fields["anonymous_user_id"] != second.fields["anonymous_user_id"]
    assert first.fields["prompt"] == second.fields["prompt"] == "x"


@pytest.mark.parametrize("status", [403, 422])
def test_second_rejection_is_502_and_never_a_third_try(client, upstream, status):
    upstream.will_answer(Answer(status=status, body=b"no"), Answer(status=status, body=b"no"))
    response = client.get("/generate?p=x")
    assert response.status_code == 502
    assert len(upstream.received) == 2


def bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header claims a huge canvas."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


JPEG = jpeg_bytes()
FAULTS = {
    "server error": (Answer(status=500, body=b"oops"), 502),
    "bad gateway": (Answer(status=502, body=b"<html>down</html>"), 502),
    "unexpected 404": (Answer(status=404, body=b"not here"), 502),
    "redirect": (Answer(status=302, body=b"", headers={"Location": "/login"}), 502),
    "html 200": (Answer(body=b"<!doctype html><h1>Cloudflare</h1>",
                        headers={"Content-Type": "text/html"}), 502),
    "json 200": (Answer(body=b'{"error": "quota"}', headers={"Content-Type": "application/json"}), 502),
    "empty 200": (Answer(body=b""), 502),
    "truncated image": (Answer(body=JPEG[: len(JPEG) // 2]), 502),
    "transfer broken off": (Answer(body=JPEG[:500], declared_length=len(JPEG)), 502),
    "decompression bomb": (Answer(body=bomb_png(60_000, 60_000), headers={"Content-Type": "image/png"}), 502),
    "busy": (Answer(status=429, body=b"slow down", headers={"Retry-After": "17"}), 503),
}


@pytest.mark.parametrize("answer, status", FAULTS.values(), ids=FAULTS.keys())
@pytest.mark.parametrize("path", ["/generate", "/image"])
def test_upstream_faults_map_to_gateway_errors_and_store_nothing(
        client, upstream, image_dir, answer, status, path):
    upstream.will_answer(answer)
    response = client.get(path, query_string={"p": "x"})
    assert response.status_code == status
    assert response.is_json and response.get_json()["error"]
    assert stored_files(image_dir) == []
    assert len(upstream.received) == 1  # none of these is retried


def test_busy_upstream_passes_its_retry_after_on(client, upstream):
    upstream.will_answer(Answer(status=429, body=b"", headers={"Retry-After": "17"}))
    response = client.get("/generate?p=x")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "17"


@pytest.mark.parametrize("header, expected", [(None, "30"), ("Wed, 21 Oct 2026 07:28:00 GMT", "30"),
                                              ("999999", "3600"), ("0", "1")])
def test_retry_after_has_a_sane_value_whatever_the_upstream_says(client, upstream, header, expected):
    upstream.will_answer(Answer(status=429, body=b"", headers={"Retry-After": header} if header else {}))
    assert client.get("/generate?p=x").headers["Retry-After"] == expected


def test_image_larger_than_the_pixel_limit_is_502(make_app, upstream, image_dir):
    client = make_app(MAX_IMAGE_PIXELS=100 * 100).test_client()
    upstream.will_answer(Answer(body=jpeg_bytes(size=(100, 100))), Answer(body=jpeg_bytes(size=(101, 100))))
    assert client.get("/image?p=x").status_code == 200
    response = client.get("/image?p=x")
    assert response.status_code == 502
    assert "pixel limit" in response.get_json()["error"]
    assert len(stored_files(image_dir)) == 1


def test_answer_larger_than_the_byte_limit_is_502(make_app, upstream):
    big_png = png_bytes(size=(300, 300))
    client = make_app(MAX_UPSTREAM_BYTES=len(big_png) - 1).test_client()
    upstream.will_answer(Answer(body=big_png, headers={"Content-Type": "image/png"}))
    assert client.get("/generate?p=x").status_code == 502


def test_upstream_slower_than_the_timeout_is_504(make_app, upstream, image_dir):
    client = make_app(UPSTREAM_TIMEOUT=0.3).test_client()
    upstream.will_answer(Answer(delay=1.5))
    started = time.monotonic()
    response = client.get("/image?p=x")
    assert response.status_code == 504
    assert time.monotonic() - started < 1.5  # we did not wait for the upstream
    assert len(upstream.received) == 1
    assert stored_files(image_dir) == []


def test_a_trickling_answer_is_cut_off_at_the_timeout(make_app, upstream):
    # Each piece arrives well inside the read timeout, but the whole takes far longer.
    client = make_app(UPSTREAM_TIMEOUT=0.4).test_client()
    upstream.will_answer(Answer(body=png_bytes(size=(100, 100)) + b"\0" * 5000, trickle_seconds=0.1))
    started = time.monotonic()
    assert client.get("/generate?p=x").status_code == 504
    assert time.monotonic() - started < 1.5  # the whole answer would take over 5 s


def test_connection_refused_is_502(make_app, image_dir):
    closed_port = free_port()  # nothing listens on it
    client = make_app(MAGICSTUDIO_URL=f"http://127.0.0.1:{closed_port}/api").test_client()
    response = client.get("/image?p=x")
    assert response.status_code == 502
    assert "could not be reached" in response.get_json()["error"]
    assert stored_files(image_dir) == []


TIMEOUT = 1.0
MARGIN = 0.3  # scheduling and the last short read; far below a second read timeout


@pytest.mark.parametrize("status", [403, 422])
def test_the_retry_gets_only_what_is_left_of_the_deadline(make_app, upstream, status):
    client = make_app(UPSTREAM_TIMEOUT=TIMEOUT).test_client()
    upstream.will_answer(Answer(status=status, delay=0.9 * TIMEOUT), Answer(delay=5))
    started = time.monotonic()
    assert client.get("/generate?p=x").status_code == 504
    assert time.monotonic() - started < TIMEOUT + MARGIN  # was 2x the setting: a fresh timeout


def test_headers_just_before_the_deadline_then_silence_end_at_the_deadline(make_app, upstream):
    # The head arrives just in time; the first body piece comes after what would be a whole
    # fresh read timeout. Each wait used to get the full timeout again.
    client = make_app(UPSTREAM_TIMEOUT=TIMEOUT).test_client()
    upstream.will_answer(Answer(delay=0.9 * TIMEOUT, trickle_seconds=0.95 * TIMEOUT,
                                body=png_bytes(size=(100, 100)) + b"\0" * 500))
    started = time.monotonic()
    assert client.get("/generate?p=x").status_code == 504
    assert time.monotonic() - started < TIMEOUT + MARGIN
