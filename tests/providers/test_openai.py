"""The openai provider against a real local server playing OpenAI: plain generations through
urllib3, streams and edits through the official SDK."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from testing import free_port
from testing.fake_upstream import Answer, png_bytes
from tests.real_server import COMMANDS, PROJECT_DIR, environment


def openai_answer(image: bytes) -> Answer:
    body = json.dumps({"created": 1, "data": [{"b64_json": base64.b64encode(image).decode()}]})
    return Answer(body=body.encode(), headers={"Content-Type": "application/json"})


@pytest.fixture
def openai_app(make_app, upstream):
    def build(**overrides):
        settings = dict(PROVIDER=("openai",), OPENAI_API_KEY="sk-test-secret",
                        OPENAI_BASE_URL=upstream.url.rsplit("/", 2)[0] + "/v1")
        settings.update(overrides)
        return make_app(**settings)

    return build


def test_an_image_is_asked_for_as_base64_at_the_nearest_size(openai_app, upstream):
    upstream.default_answer = openai_answer(png_bytes(size=(1536, 1024)))
    response = openai_app().test_client().get("/generate?p=harbour&aspect=16:9")
    assert response.status_code == 200
    assert (response.get_json()["width"], response.get_json()["height"]) == (1024, 576)
    request = upstream.received[0]
    assert request.path == "/v1/images/generations"
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["authorization"] == "Bearer sk-test-secret"
    assert request.json() == {"model": "gpt-image-1", "prompt": "harbour", "n": 1,
                              "size": "1536x1024"}


def test_older_models_are_asked_for_base64_explicitly(openai_app, upstream):
    upstream.default_answer = openai_answer(png_bytes(size=(1024, 1792)))
    client = openai_app(OPENAI_MODEL="dall-e-3").test_client()
    assert client.get("/generate?p=x&aspect=9:16").status_code == 200
    sent = upstream.received[0].json()
    assert sent["response_format"] == "b64_json" and sent["size"] == "1024x1792"


@pytest.mark.parametrize("answer, status", [
    (Answer(status=429, headers={"Retry-After": "12", "Content-Type": "application/json"},
            body=b'{"error": {"message": "slow down"}}'), 503),
    (Answer(status=500, body=b'{"error": {"message": "oops"}}',
            headers={"Content-Type": "application/json"}), 502),
    (Answer(status=400, body=b'{"error": {"message": "no"}}',
            headers={"Content-Type": "application/json"}), 502),
    (Answer(body=b'{"data": []}', headers={"Content-Type": "application/json"}), 502),
    (Answer(body=b'{"data": [{"b64_json": "@@@"}]}', headers={"Content-Type": "application/json"}), 502),
    (Answer(body=b"<html>a login page</html>", headers={"Content-Type": "text/html"}), 502),
    (Answer(body=b'{"data": {"b64_json": "iVBO"}}', headers={"Content-Type": "application/json"}), 502),
    (Answer(body=b'{"data": ["iVBO"]}', headers={"Content-Type": "application/json"}), 502),
    (Answer(body=b'{"data": [{"b64_json": 7}]}', headers={"Content-Type": "application/json"}), 502),
    (Answer(body=b'[1, 2]', headers={"Content-Type": "application/json"}), 502),
    (Answer(body=b"[" * 5000, headers={"Content-Type": "application/json"}), 502),
    (Answer(delay=2), 504),
])
def test_failures_map_as_for_every_provider(openai_app, upstream, answer, status):
    client = openai_app(UPSTREAM_TIMEOUT=0.5).test_client()
    upstream.will_answer(answer)
    response = client.get("/generate?p=x")
    assert response.status_code == status
    if status == 503:
        assert response.headers["Retry-After"] == "12"
    assert len(upstream.received) == 1  # the SDK's own retries are off


def test_calls_reuse_one_upstream_connection_and_an_unread_error_is_dropped(openai_app,
                                                                             upstream):
    client = openai_app().test_client()
    upstream.will_answer(openai_answer(png_bytes()), openai_answer(png_bytes()),
                         Answer(status=500, body=b"x" * 200_000), openai_answer(png_bytes()))
    statuses = [client.get(f"/generate?p=harbour {number}").status_code for number in range(4)]
    assert statuses == [200, 200, 502, 200]
    peers = [request.peer for request in upstream.received]
    assert peers[0] == peers[1] == peers[2] != peers[3]


def test_an_answer_past_the_byte_limit_is_502_however_it_is_sent(openai_app, upstream):
    picture = png_bytes(size=(300, 300))
    client = openai_app(MAX_UPSTREAM_BYTES=len(picture) - 1).test_client()
    answer = openai_answer(picture)
    upstream.will_answer(answer, Answer(body=answer.body + b" " * 70_000, headers=answer.headers))
    assert client.get("/generate?p=x").status_code == 502  # its base64 is too long
    assert client.get("/generate?p=y").status_code == 502  # the body as a whole is


@pytest.mark.parametrize("query", ["p=x", "p=x&aspect=16:9"], ids=["passed on", "resized"])
def test_a_png_broken_between_its_pixel_chunks_is_502_passed_on_or_resized(openai_app, upstream,
                                                                         query):
    from tests.imaging.test_imaging import ROW, TEXT, png_of

    upstream.default_answer = openai_answer(png_of(4, 3, ROW * 3, between=(TEXT,)))
    response = openai_app().test_client().get(f"/generate?{query}")
    assert response.status_code == 502
    assert response.get_json()["code"] == "bad_upstream_image"


def test_plain_generations_send_the_sdks_headers_and_any_2xx_is_an_answer(
        openai_app, upstream, monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-123")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-9")
    answer = openai_answer(png_bytes())
    upstream.default_answer = Answer(status=201, body=answer.body, headers=answer.headers)
    assert openai_app().test_client().get("/generate?p=x").status_code == 200
    headers = {name.lower(): value for name, value in upstream.received[0].headers.items()}
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-123", "proj-9")
    assert headers["authorization"] == "Bearer sk-test-secret"


def test_a_proxy_with_a_user_in_its_address_gets_its_credentials(openai_app, upstream,
                                                                   monkeypatch):
    # The local server plays the proxy: it sees the request as a proxy would.
    monkeypatch.setenv("HTTP_PROXY", upstream.url.rsplit("/", 2)[0].replace(
        "http://", "http://artproxy:p%40ss@"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    upstream.default_answer = openai_answer(png_bytes())
    client = openai_app(OPENAI_BASE_URL="http://openai.test/v1").test_client()
    assert client.get("/generate?p=x").status_code == 200
    request = upstream.received[0]
    assert request.path == "http://openai.test/v1/images/generations"  # a proxy's request line
    sent = {name.lower(): value for name, value in request.headers.items()}
    assert sent["proxy-authorization"] == "Basic " + base64.b64encode(b"artproxy:p@ss").decode()


def test_an_upstream_that_refuses_connections_is_502(openai_app):
    closed_port = free_port()  # nothing listens on it
    client = openai_app(OPENAI_BASE_URL=f"http://127.0.0.1:{closed_port}/v1").test_client()
    response = client.get("/generate?p=x")
    assert response.status_code == 502
    assert response.get_json()["code"] == "upstream_unreachable"


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_choosing_openai_without_a_key_stops_startup_with_exit_2(image_dir, command):
    env = environment(image_dir, free_port(), ARTPROXY_PROVIDER="magicstudio,openai")
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == "artproxy: ARTPROXY_OPENAI_API_KEY must be set to use the openai provider"


def test_an_edit_through_artproxy_is_an_edit_call_upstream(openai_app, upstream):
    import io

    from PIL import Image

    upstream.default_answer = openai_answer(png_bytes(size=(1024, 1024)))
    client = openai_app().test_client()
    image = io.BytesIO()
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(image, format="PNG")
    response = client.post("/v1/images/edits", data={
        "prompt": "a cat", "image": (io.BytesIO(image.getvalue()), "cat.png"), "model": "openai"})
    assert response.status_code == 200
    request = upstream.received[0]
    assert request.path == "/v1/images/edits"
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="image"' in request.body and b'name="mask"' in request.body
    assert b"a cat" in request.body
    assert Image.open(io.BytesIO(base64.b64decode(response.get_json()["data"][0]["b64_json"]))).size == (64, 64)


def test_a_cold_burst_forks_nothing_and_every_answer_arrives(upstream, image_dir, processes):
    """The SDK's first calls (streams here) describe the platform, and Python asks `uname -p`
    for it: a burst of first calls forked a worker once per call, and each fork used to start an
    expiry sweeper in the child, whose start let the parent's request greenlets run there."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.real_server import call, serve

    completed = {"type": "image_generation.completed",
                 "b64_json": base64.b64encode(png_bytes(size=(64, 64))).decode()}
    upstream.default_answer = Answer(
        body=f"event: {completed['type']}\ndata: {json.dumps(completed)}\n\n".encode(),
        headers={"Content-Type": "text/event-stream"})
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PROVIDER="openai",
                     ARTPROXY_OPENAI_API_KEY="sk-test-secret",
                     ARTPROXY_OPENAI_BASE_URL=upstream.url.rsplit("/", 2)[0] + "/v1")

    def one(number: int) -> int:
        status, _, body = call("POST", f"{base_url}/v1/images/generations",
                               {"Content-Type": "application/json"},
                               json.dumps({"prompt": f"a fox {number}", "size": "1024x1024",
                                           "stream": True, "partial_images": 1}).encode())
        assert b"image_generation.completed" in body
        return status

    with ThreadPoolExecutor(max_workers=60) as pool:
        statuses = list(pool.map(one, range(60)))
    assert statuses == [200] * 60
    assert processes.server_log(base_url).count("expiry sweeper started in process") == 2
