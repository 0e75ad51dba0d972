"""What an attacker and faulty parts found, reproduced against the real server (2 workers)."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
from PIL import Image

from storage import new_name
from testing.fake_upstream import Answer, png_bytes
from tests.helpers import decode_png
from tests.real_server import call, get, serve


@pytest.fixture
def server(image_dir, processes) -> str:
    return serve(processes, image_dir, workers=2)


def stored_url(base_url: str) -> str:
    status, _, body = get(base_url + "/image?p=harbour")
    assert status == 200
    return body["url"]


@pytest.mark.parametrize("range_header", [
    "bytes=9-0", ",".join(["bytes=0-0"] + [f"{n}-{n}" for n in range(1, 300)]), "garbage",
    "bytes=999999999-",
])
def test_a_bad_range_is_416_json_on_the_plain_get_path(server, range_header):
    status, headers, body = call("GET", server + stored_url(server), {"Range": range_header})
    assert status == 416
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["code"] == "requested_range_not_satisfiable"


def test_a_failed_if_match_is_412_json_without_the_image(server):
    status, headers, body = call("GET", server + stored_url(server), {"If-Match": '"other"'})
    assert status == 412
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["code"] == "precondition_failed"


def test_a_doubled_slash_is_a_json_404_not_a_redirect(server):
    url = stored_url(server)
    status, headers, body = call("GET", server + url.replace("/images/", "/images//"))
    assert status == 404
    assert json.loads(body)["code"] == "not_found"


def test_options_is_an_empty_204_that_lists_the_methods(server):
    status, headers, body = call("OPTIONS", server + stored_url(server))
    assert (status, body) == (204, b"")
    assert "Content-Type" not in headers
    assert set(headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS", "DELETE"}


@pytest.mark.parametrize("path", ["/image?p=x", "/generate?p=x"])
def test_head_never_generates(server, image_dir, path):
    status, headers, _ = call("HEAD", server + path)
    assert status == 405
    assert "HEAD" not in headers["Allow"]
    assert list(image_dir.iterdir()) == []


def test_links_planted_under_valid_names_are_never_followed(server, image_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    symlink = image_dir / new_name("image/png", time.time() + 600)
    symlink.symlink_to(secret)
    hard_link = image_dir / new_name("image/png", time.time() + 600)
    os.link(secret, hard_link)
    for planted in (symlink, hard_link):
        status, _, body = call("GET", server + f"/images/{planted.name}")
        assert status == 404
        assert b"root" not in body


def test_an_undeletable_entry_does_not_stop_the_sweeper(image_dir, processes):
    blocker = image_dir / new_name("image/png", time.time() - 60)
    blocker.mkdir()  # named like an expired image, but a directory: unlink() fails on it
    (blocker / "inside").write_text("x")
    expired = image_dir / new_name("image/png", time.time() - 60)
    expired.write_bytes(b"old")
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_IMAGE_TTL="1",
                     ARTPROXY_SWEEP_INTERVAL="0.2")
    assert not expired.exists()  # the startup sweep went on past the blocker
    url = stored_url(base_url)
    made_at_run_time = image_dir / url.removeprefix("/images/")
    give_up = time.monotonic() + 5
    while made_at_run_time.exists() and time.monotonic() < give_up:
        time.sleep(0.1)
    assert not made_at_run_time.exists()
    assert blocker.is_dir()


def test_a_png_is_passed_on_only_when_every_byte_is_accounted_for(make_app, upstream):
    client = make_app().test_client()
    clean = png_bytes()
    for tampered in (clean + b"<script>alert(1)</script>",
                     clean[:40] + bytes([clean[40] ^ 1]) + clean[41:]):
        upstream.will_answer(Answer(body=tampered, headers={"Content-Type": "image/png"}))
        response = client.get("/generate?p=x")
        if response.status_code == 200:  # decodable despite the damage: re-encoded, clean
            png = base64.b64decode(response.get_json()["img"])
            assert b"<script>" not in png and png != tampered
            decode_png(png)
        else:
            assert response.status_code == 502
    upstream.will_answer(Answer(body=clean, headers={"Content-Type": "image/png"}))
    png = base64.b64decode(client.get("/generate?p=x").get_json()["img"])
    assert png == clean  # a well-formed PNG still goes through byte for byte


def test_a_png_already_at_the_size_asked_is_passed_on_as_it_came(make_app, upstream):
    client = make_app().test_client()
    drawn = png_bytes(size=(128, 64))
    upstream.default_answer = Answer(body=drawn, headers={"Content-Type": "image/png"})
    exact = client.get("/generate?p=x&size=128x64").get_json()
    assert base64.b64decode(exact["img"]) == drawn and (exact["width"], exact["height"]) == (128, 64)
    smaller = client.get("/generate?p=x&size=64x64").get_json()
    assert base64.b64decode(smaller["img"]) != drawn and (smaller["width"], smaller["height"]) == (64, 64)


def raw_exchange(base_url: str, data: bytes, seconds: float = 10) -> bytes:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=seconds) as connection:
        try:
            connection.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we finished sending: the answer is still there to read
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def test_the_longest_prompt_in_any_script_passes_and_a_huge_line_is_refused_at_once(server):
    # 4-byte characters percent-encode to 12 bytes each: the longest line a prompt can need.
    assert get(server + "/generate?p=" + quote("𝔸" * 1000))[0] == 200
    started = time.monotonic()
    answer = raw_exchange(server, b"GET /generate?p=" + b"a" * (4 * 2**20) + b" HTTP/1.1\r\n\r\n")
    assert time.monotonic() - started < 2
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["code"] == "uri_too_long"
    assert get(server + "/")[0] == 200


@pytest.mark.parametrize("data, status", [
    (b"NOT HTTP AT ALL\r\n\r\n", b"400"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n", b"431"),
])
def test_gunicorns_own_errors_are_json(server, data, status):
    head, _, body = raw_exchange(server, data).partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == status
    assert b"Content-Type: application/json" in head
    assert "code" in json.loads(body)


def test_an_upstream_that_streams_without_pause_does_not_starve_its_worker(
        image_dir, processes, upstream):
    # Compressed, so the whole answer is in the socket at once and every read returns at once:
    # the reading greenlet never has to wait, which is when gevent would switch.
    upstream.default_answer = Answer(body=gzip.compress(b"\0" * (300 * 2**20), compresslevel=1),
                                     headers={"Content-Encoding": "gzip"})
    base_url = serve(processes, image_dir, workers=1, ARTPROXY_PROVIDER="magicstudio",
                     ARTPROXY_MAGICSTUDIO_URL=upstream.url,
                     ARTPROXY_MAX_UPSTREAM_BYTES=str(400 * 2**20))
    results = []
    streaming = threading.Thread(target=lambda: results.append(get(base_url + "/generate?p=x", 60)))
    streaming.start()
    give_up = time.monotonic() + 10
    while not upstream.received and time.monotonic() < give_up:
        time.sleep(0.01)
    time.sleep(0.05)  # let the body start flowing
    started = time.monotonic()
    assert get(base_url + "/")[0] == 200
    waited = time.monotonic() - started
    still_streaming = streaming.is_alive()
    streaming.join(timeout=60)
    assert waited < 0.1  # it waited for the whole stream before the reading loop yielded
    assert still_streaming, "the stream ended before GET / was tried; make it longer"
    assert results[0][0] == 502  # not an image, in the end


def test_running_out_of_descriptors_is_never_blamed_on_the_upstream(image_dir, processes, upstream):
    # Under `ulimit -n 256` the 2 workers get 96 connections each (two descriptors per request).
    upstream.default_answer = Answer(delay=1.0)
    base_url = serve(processes, image_dir, workers=2, open_files=256,
                     ARTPROXY_PROVIDER="magicstudio", ARTPROXY_MAGICSTUDIO_URL=upstream.url)
    with ThreadPoolExecutor(max_workers=400) as pool:
        answers = list(pool.map(lambda i: get(f"{base_url}/generate?p={i}", timeout=60)[0],
                                range(400)))
    counts = {status: answers.count(status) for status in set(answers)}
    assert set(counts) <= {200, 503}, counts
    assert counts.get(200, 0) >= 300, counts


def noise_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
        buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def test_a_client_that_never_reads_its_answer_is_dropped(image_dir, processes, upstream):
    upstream.default_answer = Answer(body=noise_png(1800), headers={"Content-Type": "image/png"})
    base_url = serve(processes, image_dir, workers=1, ARTPROXY_PROVIDER="magicstudio",
                     ARTPROXY_MAGICSTUDIO_URL=upstream.url, ARTPROXY_CLIENT_TIMEOUT="1")
    host, port = base_url.removeprefix("http://").split(":")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # takes almost nothing
    stalled.connect((host, int(port)))
    stalled.sendall(b"GET /generate?p=big HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(3)  # three client timeouts without reading a byte
    assert get(base_url + "/")[0] == 200  # the worker serves others meanwhile
    received = b""
    stalled.settimeout(10)
    while chunk := stalled.recv(1 << 20):
        received += chunk
    stalled.close()
    head, _, body = received.partition(b"\r\n\r\n")
    declared = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    assert declared > 10_000_000
    assert len(body) < declared  # the server gave up on it and closed the connection
