"""The clients people point at an OpenAI-compatible images API, unchanged but for their base URL
and key, against the real server: the official Node SDK (tests/node, run with the machine's
node), the Python SDK, LiteLLM, Open WebUI's and LibreChat's own request bodies, and a browser
(Debian's chromium) calling from an allowed origin with keys set."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import shutil
import subprocess
import time
from urllib.parse import urlsplit

import openai
import pytest
from PIL import Image

from testing.fake_upstream import png_bytes
from tests.real_server import PROJECT_DIR, call, post_json, serve
from tests.web.test_openai_v1_compat import sse_answer

KEY = "sk-artproxy-clients"
NODE_CLIENT = PROJECT_DIR / "tests" / "node" / "openai_client.mjs"


@pytest.fixture
def server(image_dir, processes) -> str:
    return serve(processes, image_dir, workers=2, ARTPROXY_PREMIUM_KEYS=KEY)


def node(base_url: str, scenario: str, **arguments) -> dict:
    """What the Node SDK got for ``scenario`` (tests/node/openai_client.mjs)."""
    if not (NODE_CLIENT.parent / "node_modules" / "openai").is_dir():
        raise RuntimeError("the Node SDK is not installed; .ci/run runs npm ci in tests/node")
    finished = subprocess.run(
        [shutil.which("node") or "node", str(NODE_CLIENT), scenario, json.dumps(arguments)],
        env={**os.environ, "ARTPROXY_URL": base_url, "ARTPROXY_KEY": KEY},
        capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def decoded(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def fetched(url: str) -> Image.Image:
    status, _, body = call("GET", url)
    assert status == 200
    return decoded(base64.b64encode(body).decode())


@pytest.fixture
def hole_png(tmp_path):
    """A PNG whose left half is transparent: what an edit redraws."""
    image = Image.new("RGBA", (96, 64), (30, 140, 60, 255))
    image.paste((0, 0, 0, 0), (0, 0, 48, 64))
    path = tmp_path / "hole.png"
    image.save(path)
    return path


# The official Node SDK (npm openai 6.x)

@pytest.mark.parametrize("model", ["dall-e-2", "dall-e-3", "gpt-image-1"])
def test_node_generates_with_each_of_openais_model_names(server, model):
    result = node(server, "generate", model=model, prompt="a harbour at dusk", size="256x256")
    [item] = result["data"]
    if model.startswith("dall-e"):  # OpenAI's default for them: a URL
        assert fetched(item["url"]).size == (256, 256)
    else:
        assert decoded(item["b64_json"]).size == (256, 256)
    assert item["revised_prompt"] == "a harbour at dusk"
    assert (result["size"], result["output_format"]) == ("256x256", "png")


def test_node_generates_base64_and_urls_when_asked(server):
    as_b64 = node(server, "generate", model="dall-e-3", prompt="x", response_format="b64_json")
    as_url = node(server, "generate", model="gpt-image-1", prompt="x", response_format="url")
    assert decoded(as_b64["data"][0]["b64_json"]).format == "PNG"
    assert fetched(as_url["data"][0]["url"]).format == "PNG"


@pytest.mark.parametrize("streamed", [False, True])
def test_node_edits_a_file_sent_sized_or_chunked(server, hole_png, streamed):
    result = node(server, "edit", model="gpt-image-1", prompt="a meadow", path=str(hole_png),
                  streamed=streamed)
    edited = decoded(result["data"][0]["b64_json"]).convert("RGBA")
    assert edited.size == (96, 64)
    assert edited.getpixel((70, 30)) == (30, 140, 60, 255)  # kept
    assert edited.getpixel((10, 30))[3] == 255  # redrawn


def test_node_lists_and_retrieves_models(server):
    result = node(server, "models", retrieve="dall-e-3")
    assert result["listed"][:2] == ["artproxy", "offline"] and "dall-e-3" in result["listed"]
    assert result["retrieved"] == "dall-e-3"
    missing = node(server, "models", retrieve="tts-1")
    assert missing["error"]["status"] == 404
    assert missing["error"]["name"] == "NotFoundError"


def test_node_reads_a_stream_as_its_events(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PREMIUM_KEYS=KEY,
                     ARTPROXY_OFFLINE_DELAY="0.6", ARTPROXY_STREAM_KEEPALIVE="0.2")
    result = node(base_url, "stream", model="gpt-image-1", prompt="x", partial_images=2,
                  size="128x128")
    [completed] = result["events"]  # the offline provider draws no partial pictures
    assert completed["type"] == "image_generation.completed"
    assert decoded(completed["b64_json"]).size == (128, 128)


def test_node_streams_the_upstreams_partial_images(image_dir, processes, upstream, hole_png):
    upstream.default_answer = sse_answer(
        {"type": "image_edit.partial_image", "b64_json": base64.b64encode(
            png_bytes(size=(96, 64))).decode(), "partial_image_index": 0},
        {"type": "image_edit.completed", "b64_json": base64.b64encode(
            png_bytes(size=(96, 64))).decode()})
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PREMIUM_KEYS=KEY,
                     ARTPROXY_PROVIDER="openai", ARTPROXY_OPENAI_API_KEY="sk-upstream",
                     ARTPROXY_OPENAI_BASE_URL=upstream.url.rsplit("/", 2)[0] + "/v1")
    result = node(base_url, "stream", model="gpt-image-1", prompt="x", partial_images=1,
                  edit_path=str(hole_png))
    assert [(event["type"], event.get("partial_image_index")) for event in result["events"]] == [
        ("image_edit.partial_image", 0), ("image_edit.completed", None)]


def test_node_gets_a_variations_error_it_can_read(server, hole_png):
    result = node(server, "variation", path=str(hole_png), n=1)
    assert (result["error"]["status"], result["error"]["code"]) == (400, "variations_unsupported")
    assert result["error"]["name"] == "BadRequestError"


# The Python SDK: what the Node tests cannot see from inside the SDK

def raw_stream(base_url: str, body: dict) -> list[tuple[float, str]]:
    """Each line of a streamed answer with the second it arrived."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    connection.request("POST", "/v1/images/generations", json.dumps(body), {
        "Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    answer = connection.getresponse()
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
    started = time.monotonic()
    lines = [(time.monotonic() - started, line.decode().rstrip("\n"))
             for line in iter(answer.readline, b"")]
    connection.close()
    return lines


def test_a_stream_says_something_while_it_waits_and_ends_cleanly(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PREMIUM_KEYS=KEY,
                     ARTPROXY_OFFLINE_DELAY="1.2", ARTPROXY_STREAM_KEEPALIVE="0.3")
    lines = raw_stream(base_url, {"prompt": "x", "stream": True, "size": "64x64"})
    comments = [seconds for seconds, line in lines if line.startswith(":")]
    completed = next(seconds for seconds, line in lines
                     if line == "event: image_generation.completed")
    assert len(comments) >= 2 and comments[0] < 0.8 < completed  # as they happened, not at once
    assert lines[-1][1] == ""  # the last event is whole; then the connection closed


def test_the_python_sdk_raises_on_an_error_in_the_stream(image_dir, processes, upstream):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PREMIUM_KEYS=KEY,
                     ARTPROXY_PROVIDER="openai", ARTPROXY_OPENAI_API_KEY="sk-upstream",
                     ARTPROXY_OPENAI_BASE_URL=upstream.url.rsplit("/", 2)[0] + "/v1")
    upstream.default_answer = sse_answer(
        {"type": "error", "error": {"message": "the upstream broke", "code": "server_error"}})
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.APIError) as raised:
        for _ in client.images.generate(prompt="x", model="gpt-image-1", stream=True,
                                        partial_images=1):
            pass
    assert raised.value.body["code"] == "upstream_unreachable"


# LiteLLM, the real package, in its own venv (requirements-litellm.txt)

def litellm(scenario: str, **arguments) -> list[dict]:
    """The data items LiteLLM got for ``scenario`` (tests/litellm_client.py)."""
    python = PROJECT_DIR / ".venv-litellm" / "bin" / "python"
    if not python.exists():
        raise RuntimeError("LiteLLM is not installed; .ci/run makes .venv-litellm")
    finished = subprocess.run([str(python), str(PROJECT_DIR / "tests" / "litellm_client.py"),
                               scenario, json.dumps(arguments)],
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("model", ["openai/dall-e-3", "openai/gpt-image-1"])
def test_litellm_generates_and_edits(server, hole_png, model):
    common = {"model": model, "api_base": f"{server}/v1", "api_key": KEY}
    [item] = litellm("generate", prompt="a fox", size="1024x1024", **common)
    picture = fetched(item["url"]) if item["url"] else decoded(item["b64_json"])
    assert picture.size == (1024, 1024)
    [item] = litellm("edit", prompt="a meadow", path=str(hole_png), **common)
    edited = fetched(item["url"]) if item["url"] else decoded(item["b64_json"])
    assert edited.size == (96, 64)


# The exact bodies of apps people run

def test_open_webuis_request_body(server):
    status, _, body = post_json(f"{server}/v1/images/generations", {
        "model": "dall-e-2", "prompt": "a lighthouse", "n": 1, "size": "512x512",
        "response_format": "b64_json"}, {"Authorization": f"Bearer {KEY}"})
    assert status == 200 and decoded(body["data"][0]["b64_json"]).size == (512, 512)


def test_librechats_request_body(server):
    status, _, body = post_json(f"{server}/v1/images/generations", {
        "model": "gpt-image-1", "prompt": "a lighthouse", "background": "transparent",
        "output_format": "webp", "output_compression": 80, "quality": "auto", "size": "auto"},
        {"Authorization": f"Bearer {KEY}"})
    assert status == 200
    picture = decoded(body["data"][0]["b64_json"])
    assert picture.format == "WEBP" and picture.mode == "RGBA"
    assert (body["background"], body["output_format"]) == ("transparent", "webp")


# A browser on an allowed origin

CALL_FROM_PAGE = """async ([url, key]) => {
    const answer = await fetch(url, {method: "POST", body: JSON.stringify(
        {model: "dall-e-3", prompt: "a harbour", response_format: "b64_json", size: "64x64"}),
        headers: key ? {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
                     : {"Content-Type": "application/json"}});
    const body = await answer.json();
    return {status: answer.status, b64: body.data ? body.data[0].b64_json.length : 0};
}"""


def test_a_browser_on_an_allowed_origin_calls_v1_with_a_key(browser, image_dir,
                                                            processes, app_origin):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PREMIUM_KEYS=KEY,
                     ARTPROXY_CORS_ORIGINS=app_origin)
    context = browser.new_context()
    page = context.new_page()
    page.goto(app_origin)
    url = f"{base_url}/v1/images/generations"
    # Authorization and a JSON body make Chromium ask first (a preflight, with no key).
    assert page.evaluate(CALL_FROM_PAGE, [url, KEY])["status"] == 200
    assert page.evaluate(CALL_FROM_PAGE, [url, KEY])["b64"] > 100
    assert page.evaluate(CALL_FROM_PAGE, [url, "sk-wrong"]) == {"status": 401, "b64": 0}
    context.close()
