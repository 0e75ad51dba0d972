"""/v1 as OpenAI's clients use it on their defaults (issue 20), through the app: model names and
aliases, every field of OpenAI's reference, several images to edit, variations, streams and
browser preflights. tests/web/test_openai_clients.py drives the real clients."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from config import ConfigError
from testing.fake_upstream import Answer, png_bytes
from tests.web.test_openai_v1_shapes import openai_error

OFFLINE = {"PROVIDER": ("offline",)}


@pytest.fixture
def offline(make_app):
    return make_app(**OFFLINE).test_client()


def generate(client, **fields):
    return client.post("/v1/images/generations", json={"prompt": "a harbour", **fields})


def picture(item: dict) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(item["b64_json"])))
    image.load()
    return image


@pytest.mark.parametrize("model, answered_as", [
    ("dall-e-2", "url"), ("dall-e-3", "url"), ("gpt-image-1", "b64_json"),
    ("gpt-image-1-mini", "b64_json"), ("gpt-image-2", "b64_json"),
    ("chatgpt-image-latest", "b64_json"), ("artproxy", "b64_json"), (None, "b64_json"),
    ("some-model-of-my-own", "b64_json"),
])
def test_every_model_name_is_drawn_and_answers_as_openai_would(offline, model, answered_as):
    response = generate(offline, model=model)
    assert response.status_code == 200
    [item] = response.get_json()["data"]
    assert set(item) - {"delete_token", "revised_prompt"} == {answered_as}


def test_an_explicit_response_format_is_always_honoured(offline):
    assert "b64_json" in generate(offline, model="dall-e-3", response_format="b64_json"
                                  ).get_json()["data"][0]
    assert "url" in generate(offline, model="gpt-image-1", response_format="url"
                             ).get_json()["data"][0]


def test_strict_models_refuse_a_name_nobody_knows_with_404(make_app):
    client = make_app(**OFFLINE, STRICT_MODELS=True).test_client()
    response = generate(client, model="dall-e-9000x")
    assert response.status_code == 404
    assert openai_error(response) | {"message": ""} == {
        "message": "", "type": "not_found_error", "param": "model", "code": "model_not_found"}
    assert generate(client, model="dall-e-3").status_code == 200  # OpenAI's own still draw
    assert generate(client, model="offline").status_code == 200


def test_an_alias_routes_a_model_name_to_its_provider(make_app, upstream):
    client = make_app(PROVIDER=("magicstudio", "offline"),
                      MODEL_ALIASES={"dall-e-3": "offline"}).test_client()
    upstream.default_answer = Answer(body=png_bytes(), headers={"Content-Type": "image/png"})
    assert generate(client, model="dall-e-3").headers["X-Artproxy-Provider"] == "offline"
    assert generate(client, model="dall-e-2").headers["X-Artproxy-Provider"] == "magicstudio"
    assert len(upstream.received) == 1


def test_an_alias_to_a_provider_not_configured_stops_startup(make_app):
    with pytest.raises(ConfigError, match="routes dall-e-3 to openai"):
        make_app(**OFFLINE, MODEL_ALIASES={"dall-e-3": "openai"})


def test_models_are_listed_and_each_answers_alone(make_app):
    client = make_app(**OFFLINE, MODEL_ALIASES={"house-style": "offline"}).test_client()
    listed = [model["id"] for model in client.get("/v1/models").get_json()["data"]]
    assert listed == ["artproxy", "offline", "house-style", "dall-e-2", "dall-e-3", "gpt-image-1"]
    for name in [*listed, "gpt-image-1.5"]:
        answer = client.get(f"/v1/models/{name}")
        assert answer.status_code == 200 and answer.get_json()["id"] == name
    unknown = client.get("/v1/models/whisper-1")
    assert unknown.status_code == 404 and openai_error(unknown)["code"] == "model_not_found"


def test_output_compression_is_the_lossy_quality(offline):
    sizes = {}
    for compression in (10, 100):
        response = generate(offline, output_format="jpeg", output_compression=compression,
                            size="512x512", seed=3)
        sizes[compression] = len(base64.b64decode(response.get_json()["data"][0]["b64_json"]))
    assert sizes[10] * 3 < sizes[100]
    as_png = [generate(offline, output_compression=compression, seed=3, size="256x256"
                       ).get_json()["data"][0]["b64_json"] for compression in (10, 100)]
    assert as_png[0] == as_png[1]  # PNG is lossless: nothing to compress


def test_the_answer_says_what_openai_says(offline):
    body = generate(offline, style="vivid", quality="hd", size="256x128",
                    output_format="webp", background="transparent").get_json()
    assert set(body) == {"created", "data", "size", "quality", "output_format", "background"}
    assert (body["size"], body["quality"], body["output_format"], body["background"]) == (
        "256x128", "hd", "webp", "transparent")
    assert body["data"][0]["revised_prompt"] == "a harbour"  # OpenAI's styles add no words
    assert generate(offline).get_json()["quality"] == "auto"


def test_the_revised_prompt_is_what_the_upstream_received(make_app, upstream):
    client = make_app().test_client()
    upstream.default_answer = Answer(body=png_bytes(), headers={"Content-Type": "image/png"})
    body = client.post("/v1/images/generations", data=json.dumps(
        {"prompt": "a harbour", "n": 1}), content_type="application/json").get_json()
    assert body["data"][0]["revised_prompt"] == upstream.received[0].fields["prompt"]


def test_every_field_of_openais_reference_is_taken_and_unknown_ones_ignored(offline):
    response = generate(offline, model="gpt-image-1", n=2, quality="low", moderation="low",
                        output_compression=50, output_format="jpeg", input_fidelity="high",
                        user="user-1234", partial_images=0, stream=False, background="opaque",
                        size="1024x1024", style="natural", safety_identifier="x",
                        something_new={"nested": True})
    assert response.status_code == 200
    assert [picture(item).format for item in response.get_json()["data"]] == ["JPEG", "JPEG"]


@pytest.mark.parametrize("fields, param", [
    ({"stream": "yes"}, "stream"), ({"partial_images": 4}, "partial_images"),
    ({"partial_images": "2"}, "partial_images"), ({"quality": "ultra"}, "quality"),
    ({"moderation": "none"}, "moderation"), ({"input_fidelity": 1}, "input_fidelity"),
    ({"user": 5}, "user"), ({"output_compression": 101}, "output_compression"),
    ({"output_compression": "50"}, "output_compression"), ({"model": 3}, "model"),
])
def test_a_known_field_of_the_wrong_type_or_value_is_400(offline, fields, param):
    response = generate(offline, **fields)
    assert response.status_code == 400
    error = openai_error(response)
    assert error["param"] == param and error["message"].startswith(param)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_several_images_are_laid_over_one_another_in_order_and_edited(offline):
    below = Image.new("RGBA", (64, 64), (200, 0, 0, 255))
    below.paste((0, 0, 0, 0), (0, 0, 32, 64))  # the left half is to be redrawn
    above = Image.new("RGBA", (128, 128), (0, 0, 0, 0))  # fitted to 64x64: halves again
    above.paste((0, 0, 255, 255), (64, 0, 128, 64))  # the top right quarter
    response = offline.post("/v1/images/edits", data={
        "prompt": "sky", "image[]": [(io.BytesIO(png(below)), "a.png"),
                                     (io.BytesIO(png(above)), "b.png")]})
    assert response.status_code == 200
    edited = picture(response.get_json()["data"][0]).convert("RGBA")
    assert edited.getpixel((48, 10)) == (0, 0, 255, 255)  # the second image, on top
    assert edited.getpixel((48, 54)) == (200, 0, 0, 255)  # the first, where the second is clear
    assert edited.getpixel((10, 30))[3] == 255  # redrawn


def test_more_than_sixteen_images_is_400(offline):
    image = png(Image.new("RGBA", (8, 8)))
    response = offline.post("/v1/images/edits", data={
        "prompt": "x", "image[]": [(io.BytesIO(image), f"{n}.png") for n in range(17)]})
    assert response.status_code == 400 and openai_error(response)["param"] == "image"


def test_form_fields_are_read_as_text_and_checked(offline):
    hole = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    fields = {"prompt": "x", "n": "2", "output_compression": "20", "output_format": "webp",
              "stream": "false", "partial_images": "1", "quality": "high",
              "image": (io.BytesIO(png(hole)), "a.png")}
    response = offline.post("/v1/images/edits", data=fields)
    assert response.status_code == 200 and len(response.get_json()["data"]) == 2
    bad = offline.post("/v1/images/edits", data={**fields, "image": (io.BytesIO(png(hole)), "a"),
                                                 "output_compression": "lots"})
    assert bad.status_code == 400 and openai_error(bad)["param"] == "output_compression"


def test_variations_say_what_would_make_them_available(offline):
    response = offline.post("/v1/images/variations", data={
        "image": (io.BytesIO(png(Image.new("RGB", (64, 64)))), "a.png"), "n": "1"})
    assert response.status_code == 400
    error = openai_error(response)
    assert error["code"] == "variations_unsupported"
    assert "ARTPROXY_OPENAI_MODEL=dall-e-2" in error["message"]


def openai_answer(image: bytes) -> Answer:
    body = json.dumps({"created": 1, "data": [{"b64_json": base64.b64encode(image).decode()}]})
    return Answer(body=body.encode(), headers={"Content-Type": "application/json"})


@pytest.fixture
def dall_e_2(make_app, upstream):
    return make_app(PROVIDER=("offline", "openai"), OPENAI_API_KEY="sk-test",
                    OPENAI_MODEL="dall-e-2",
                    OPENAI_BASE_URL=upstream.url.rsplit("/", 2)[0] + "/v1").test_client()


def test_variations_are_drawn_by_a_dall_e_2_upstream(dall_e_2, upstream):
    upstream.default_answer = openai_answer(png_bytes(size=(256, 256)))
    response = dall_e_2.post("/v1/images/variations", data={
        "image": (io.BytesIO(png(Image.new("RGB", (300, 300), "green"))), "a.png"),
        "n": "2", "size": "256x256", "response_format": "b64_json", "user": "u"})
    assert response.status_code == 200
    assert [picture(item).size for item in response.get_json()["data"]] == [(256, 256)] * 2
    assert [request.path for request in upstream.received] == ["/v1/images/variations"] * 2
    assert upstream.received[0].fields["size"] == "256x256"


def events_of(response) -> list[tuple[str | None, dict | None, list[str]]]:
    """(event name, data, comments before it) of each server-sent event."""
    found = []
    comments: list[str] = []
    for block in response.get_data(as_text=True).split("\n\n"):
        if not block.strip():
            continue
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line)
            elif line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
        if name or data:
            found.append((name, data, comments))
            comments = []
    return found


def test_a_stream_without_partial_images_sends_the_completed_one(make_app):
    client = make_app(**OFFLINE, OFFLINE_DELAY=0.5, STREAM_KEEPALIVE=0.1).test_client()
    response = generate(client, stream=True, partial_images=2, size="128x128")
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    [(name, data, comments)] = events_of(response)
    assert name == data["type"] == "image_generation.completed"
    assert picture(data).size == (128, 128)
    assert {"created_at", "size", "quality", "background", "output_format"} <= set(data)
    assert len(comments) >= 3  # one every 0.1 s while the 0.5 s drawing went on


def sse_answer(*events: dict) -> Answer:
    body = "".join(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events)
    return Answer(body=body.encode(), headers={"Content-Type": "text/event-stream"})


@pytest.fixture
def gpt_image(make_app, upstream):
    return make_app(PROVIDER=("openai",), OPENAI_API_KEY="sk-test",
                    OPENAI_BASE_URL=upstream.url.rsplit("/", 2)[0] + "/v1").test_client()


def b64_png(colour: str, size=(64, 64)) -> str:
    return base64.b64encode(png(Image.new("RGB", size, colour))).decode()


def test_the_openai_upstreams_partial_images_are_passed_on_finished(gpt_image, upstream):
    upstream.default_answer = sse_answer(
        {"type": "image_generation.partial_image", "b64_json": b64_png("red"),
         "partial_image_index": 0},
        {"type": "image_generation.partial_image", "b64_json": b64_png("green"),
         "partial_image_index": 1},
        {"type": "image_generation.completed", "b64_json": b64_png("blue")})
    response = generate(gpt_image, stream=True, partial_images=2, size="128x64",
                        output_format="webp")
    events = events_of(response)
    assert [name for name, _, _ in events] == ["image_generation.partial_image"] * 2 + [
        "image_generation.completed"]
    assert [data["partial_image_index"] for _, data, _ in events[:2]] == [0, 1]
    colours = [picture(data).convert("RGB").getpixel((64, 32)) for _, data, _ in events]
    assert [max(range(3), key=colour.__getitem__) for colour in colours] == [0, 1, 2]
    assert {(picture(data).format, picture(data).size) for _, data, _ in events} == {
        ("WEBP", (128, 64))}
    sent = upstream.received[0].json()
    assert (sent["stream"], sent["partial_images"]) == (True, 2)


def test_an_edit_streams_as_image_edit_events(gpt_image, upstream):
    upstream.default_answer = sse_answer(
        {"type": "image_edit.partial_image", "b64_json": b64_png("red"), "partial_image_index": 0},
        {"type": "image_edit.completed", "b64_json": b64_png("blue")})
    hole = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    response = gpt_image.post("/v1/images/edits", data={
        "prompt": "x", "stream": "true", "partial_images": "1",
        "image": (io.BytesIO(png(hole)), "a.png")})
    assert [name for name, _, _ in events_of(response)] == [
        "image_edit.partial_image", "image_edit.completed"]


def test_a_failure_in_the_stream_is_an_error_event_in_openais_shape(gpt_image, upstream):
    upstream.default_answer = Answer(status=500, body=b'{"error": {"message": "down"}}',
                                     headers={"Content-Type": "application/json"})
    response = generate(gpt_image, stream=True)
    [(name, data, _)] = events_of(response)
    assert name == data["type"] == "error"
    assert data["error"]["code"] == "upstream_unreachable"
    assert set(data["error"]) == {"message", "type", "param", "code"}


def test_a_bad_stream_request_is_a_plain_400_before_any_event(offline):
    response = generate(offline, stream=True, size="1x1")
    assert response.status_code == 400 and response.mimetype == "application/json"


@pytest.mark.parametrize("path, settings", [
    ("/v1/images/generations", {"PREMIUM_KEYS": ("k",)}),
    ("/v1/models", {"PREMIUM_KEYS": ("k",)}),
    ("/image", {"PREMIUM_KEYS": ("k",)}),
    ("/admin/images", {"ADMIN_KEYS": ("a",)}),
    ("/metrics", {"METRICS_KEY": "m"}),
])
def test_a_preflight_needs_no_key_but_the_request_does(make_app, path, settings):
    client = make_app(**OFFLINE, CORS_ORIGINS=("https://app.example",), **settings).test_client()
    preflight = client.options(path, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    method = "POST" if "generations" in path else "GET"
    refused = client.open(path, method=method, json={"prompt": "x"},
                          headers={"Origin": "https://app.example"})
    assert refused.status_code == 401


def test_an_upstream_that_answers_in_another_shape_is_a_502(gpt_image, upstream):
    upstream.default_answer = Answer(body=b"<html>a login page</html>",
                                     headers={"Content-Type": "text/html"})
    response = generate(gpt_image)
    assert response.status_code == 502 and openai_error(response)["code"] == "bad_upstream_image"


def test_streams_count_against_the_rate_limit(make_app):
    client = make_app(**OFFLINE, RATE_LIMIT="2/minute").test_client()
    assert generate(client, stream=True, n=2).status_code == 200
    refused = generate(client, stream=True)
    assert refused.status_code == 429 and openai_error(refused)["code"] == "rate_limited"


# What an attack on the first version found

def test_a_streamed_edit_with_a_bad_image_is_a_plain_400(offline):
    response = offline.post("/v1/images/edits", data={
        "prompt": "x", "stream": "true", "image": (io.BytesIO(b"not an image"), "a.png")})
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert openai_error(response)["param"] == "image"


def test_a_failure_to_store_a_streamed_url_is_an_error_event(make_app, image_dir):
    client = make_app(**OFFLINE).test_client()
    image_dir.rmdir()
    image_dir.write_text("a file where the folder was")
    response = generate(client, stream=True, response_format="url", size="64x64")
    [(name, data, _)] = events_of(response)
    assert name == "error" and data["error"]["code"] == "storage_unavailable"


def test_variations_nobody_draws_spend_no_limit(make_app):
    client = make_app(**OFFLINE, RATE_LIMIT="1/minute").test_client()
    image = png(Image.new("RGB", (64, 64)))
    for _ in range(3):
        refused = client.post("/v1/images/variations", data={
            "image": (io.BytesIO(image), "a.png"), "n": "2"})
        assert openai_error(refused)["code"] == "variations_unsupported"
    assert generate(client).status_code == 200  # the budget is whole


def test_a_body_that_is_not_an_object_still_spends_the_limit(make_app):
    client = make_app(**OFFLINE, RATE_LIMIT="2/minute").test_client()
    statuses = [client.post("/v1/images/generations", data="[1]",
                            content_type="application/json").status_code for _ in range(3)]
    assert statuses == [400, 400, 429]


def test_n_as_text_in_json_is_400(offline):
    response = generate(offline, n="2")
    assert response.status_code == 400 and openai_error(response)["param"] == "n"


def test_a_transparent_jpeg_is_refused_in_openais_words(offline):
    response = generate(offline, background="transparent", output_format="jpeg")
    assert openai_error(response)["message"].startswith('background "transparent" needs')


def test_partials_past_those_asked_and_broken_ones_are_left_out(gpt_image, upstream):
    partial = {"type": "image_generation.partial_image", "b64_json": b64_png("red")}
    upstream.default_answer = sse_answer(
        {"type": "image_generation.partial_image", "b64_json": "not base64!"},
        partial, partial, partial,
        {"type": "image_generation.completed", "b64_json": b64_png("blue")})
    events = events_of(generate(gpt_image, stream=True, partial_images=2, size="64x64"))
    assert [name for name, _, _ in events] == ["image_generation.partial_image"] * 2 + [
        "image_generation.completed"]
