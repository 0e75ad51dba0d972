"""The public API, through HTTP, against a real fake upstream."""

from __future__ import annotations

import base64
import io
import logging
import re
from datetime import datetime

import pytest
from PIL import Image

from testing.fake_upstream import Answer, jpeg_bytes, png_bytes
from tests.helpers import (
    START_TIME,
    decode_png,
    error_of,
    png_from_json,
    same_pixels,
    stored_files,
)


def test_health_check(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.get_json() == {"status": "Server is alive"}


def test_generate_returns_the_upstream_image_as_base64_png(client, upstream):
    jpeg = jpeg_bytes(size=(80, 60))
    upstream.will_answer(Answer(body=jpeg))
    response = client.get("/generate", query_string={"p": "a red fox"})
    assert response.status_code == 200
    payload = response.get_json()
    assert payload["mime"] == "image/png"
    png = png_from_json(payload)
    assert same_pixels(png, Image.open(io.BytesIO(jpeg)))  # lossless of the decoded upstream image
    assert upstream.received[0].fields["prompt"] == "a red fox"


def test_generate_passes_an_upstream_png_through_unchanged(client, upstream):
    png = png_bytes()
    upstream.will_answer(Answer(body=png, headers={"Content-Type": "image/png"}))
    payload = client.get("/generate?p=sky").get_json()
    assert payload["img"] == base64.b64encode(png).decode()


def test_generate_trims_the_prompt(client, upstream):
    client.get("/generate", query_string={"p": "  a boat  "})
    assert upstream.received[0].fields["prompt"] == "a boat"


@pytest.mark.parametrize("path, message", [
    ("/generate", "Prompt is required"),
    ("/generate?p=", "Prompt is required"),
    ("/generate?p=%20%20%09", "Prompt is required"),
    ("/image", "No prompt provided"),
    ("/image?p=", "No prompt provided"),
    ("/image?p=%20", "No prompt provided"),
])
def test_missing_or_blank_prompt_is_400(client, upstream, path, message):
    response = client.get(path)
    assert response.status_code == 400
    assert error_of(response) == {"error": message, "code": "invalid_prompt"}
    assert upstream.received == []


@pytest.mark.parametrize("path", ["/generate", "/image"])
def test_prompt_over_the_limit_is_400_without_calling_upstream(make_app, upstream, path):
    client = make_app(MAX_PROMPT_CHARS=10).test_client()
    assert client.get(path, query_string={"p": "x" * 10}).status_code == 200
    response = client.get(path, query_string={"p": "x" * 11})
    assert response.status_code == 400
    assert "too long" in response.get_json()["error"]
    assert len(upstream.received) == 1


def test_default_prompt_limit_is_1000_characters(client, upstream):
    assert client.get("/generate", query_string={"p": "y" * 1000}).status_code == 200
    assert client.get("/generate", query_string={"p": "y" * 1001}).status_code == 400
    assert len(upstream.received) == 1


def test_image_stores_a_png_and_reports_its_lifetime(client, upstream, image_dir):
    response = client.get("/image?p=lighthouse")
    assert response.status_code == 200
    payload = response.get_json()
    assert re.fullmatch(r"/images/[0-9]+-[0-9a-f]{32}\.png", payload["url"])
    assert payload["expires_in"] == 120
    assert datetime.fromisoformat(payload["expires_at"].replace("Z", "+00:00")).timestamp() == START_TIME + 120
    assert stored_files(image_dir) == [payload["url"].removeprefix("/images/")]

    served = client.get(payload["url"])
    assert served.status_code == 200
    assert served.mimetype == "image/png"
    decode_png(served.data)


def test_image_names_are_unique_and_unguessable(client):
    names = {client.get("/image?p=same prompt").get_json()["url"] for _ in range(20)}
    assert len(names) == 20
    random_parts = {name.rsplit("-", 1)[1].removesuffix(".png") for name in names}
    assert all(len(part) == 32 for part in random_parts)  # 128 bits each


def test_responses_with_images_are_not_cached(client):
    for path in ("/generate?p=a", "/image?p=a"):
        assert client.get(path).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/nope", "/images/", "/generate/extra"])
def test_unknown_routes_answer_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.is_json and response.get_json()["error"]


def test_wrong_method_answers_json_405(client):
    response = client.post("/generate?p=x")
    assert response.status_code == 405
    assert response.get_json()["error"]
    assert "GET" in response.headers["Allow"]


def test_every_response_forbids_content_sniffing(client):
    for path in ("/", "/generate", "/nope"):
        assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"


def test_a_bug_answers_json_500_without_a_traceback(app, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app.extensions["artproxy"], "render", broken)
    response = app.test_client().get("/generate?p=x")
    assert response.status_code == 500
    assert error_of(response) == {"error": "Internal server error", "code": "internal_error"}
    assert b"secret" not in response.data and b"Traceback" not in response.data


def test_readiness_reports_file_storage_and_sweeper(make_app, clock):
    client = make_app(CLOCK=clock, SWEEP_ENABLED=True, SWEEP_INTERVAL=60).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready", "sweeper": "running", "storage": {"kind": "file", "reachable": True},
        "state": {"writable": True},
        "providers": {"magicstudio": {"state": "closed", "failures_in_a_row": 0}},
        "jobs": {"queued": 0, "running": 0, "done": 0, "failed": 0,
                 "by": "the server's worker processes"},
        "prompt_cache": {"entries": 0, "hits": 0, "misses": 0}}


def test_readiness_is_503_when_the_image_folder_cannot_be_made(client, image_dir):
    image_dir.rmdir()
    image_dir.write_text("a file where the folder should be")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["storage"]["reachable"] is False
    assert client.get("/").status_code == 200  # liveness is not readiness


def test_an_upstream_failure_is_logged_with_its_cause_and_hidden_from_the_caller(make_app, caplog):
    client = make_app(MAGICSTUDIO_URL="http://127.0.0.1:9/closed").test_client()
    with caplog.at_level(logging.WARNING, logger="artproxy"):
        response = client.get("/generate?p=x")
    assert response.status_code == 502
    assert error_of(response) == {"error": "The image generator could not be reached",
                                   "code": "upstream_unreachable"}
    [line] = [record.getMessage() for record in caplog.records]
    assert "GET /generate -> 502 upstream_unreachable" in line
    assert "ConnectionRefusedError" in line  # what really failed, for the operator
