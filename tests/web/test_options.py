"""Image options on /generate and /image: checked first, then drawn exactly as asked."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from options import ASPECTS, STYLES
from testing.fake_upstream import Answer, jpeg_bytes

BAD_OPTIONS = [
    ("size=0x100", "invalid_size", "size"),
    ("size=63x100", "invalid_size", "size"),
    ("size=100x2049", "invalid_size", "size"),
    ("size=big", "invalid_size", "size"),
    ("size=100x100&aspect=1:1", "size_and_aspect", "aspect"),
    ("aspect=5:4", "invalid_aspect", "aspect"),
    ("style=vaporwave", "unknown_style", "photo"),
    ("transparent=maybe", "invalid_transparent", "transparent"),
    ("format=gif", "invalid_format", "png, webp, jpeg"),
    ("format=jpeg&transparent=true", "transparent_format", "png or webp"),
    ("seed=-1", "invalid_seed", "seed"),
    ("seed=4294967296", "invalid_seed", "4294967295"),
    ("seed=1.5", "invalid_seed", "seed"),
    ("provider=dalle", "unknown_provider", "magicstudio"),
]


@pytest.mark.parametrize("path", ["/generate", "/image"])
@pytest.mark.parametrize("query, code, named", BAD_OPTIONS)
def test_a_bad_option_is_400_naming_it_before_any_upstream_call(client, upstream, image_dir,
                                                                path, query, code, named):
    response = client.get(f"{path}?p=x&{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == code
    assert named in body["error"]
    assert upstream.received == []
    assert list(image_dir.iterdir()) == []


def decoded(response) -> Image.Image:
    payload = response.get_json()
    image = Image.open(io.BytesIO(base64.b64decode(payload["img"])))
    image.load()
    return image


@pytest.mark.parametrize("size", ["64x64", "768x512", "512x1024", "2048x100"])
def test_size_is_exact_whatever_the_upstream_drew(client, size):
    response = client.get(f"/generate?p=x&size={size}")  # the fake upstream draws 64x48
    width, height = map(int, size.split("x"))
    assert decoded(response).size == (width, height)
    assert (response.get_json()["width"], response.get_json()["height"]) == (width, height)


@pytest.mark.parametrize("aspect", ASPECTS)
def test_every_aspect_has_its_long_side_1024(client, aspect):
    across, down = map(int, aspect.split(":"))
    image = decoded(client.get(f"/generate?p=x&aspect={aspect}"))
    assert max(image.size) == 1024
    assert abs(image.width / image.height - across / down) < 0.01


def test_sixteen_by_nine_is_1024_by_576(client):
    assert decoded(client.get("/generate?p=x&aspect=16:9")).size == (1024, 576)


def test_without_size_the_upstreams_size_is_kept(client):
    assert decoded(client.get("/generate?p=x")).size == (64, 48)


def test_a_style_adds_its_words_and_keeps_the_prompt_verbatim(client, upstream):
    client.get("/generate?p=A+Fox,+at+dawn&style=watercolor")
    sent = upstream.received[0].fields["prompt"]
    assert sent.startswith("A Fox, at dawn")
    assert STYLES["watercolor"].words in sent


def test_the_prompt_limit_counts_the_callers_words_only(make_app, upstream):
    client = make_app(MAX_PROMPT_CHARS=10).test_client()
    assert client.get("/generate?p=0123456789&style=photo").status_code == 200


def test_styles_lists_every_preset(client):
    styles = client.get("/styles").get_json()
    names = {style["name"] for style in styles}
    assert {"photo", "anime", "pixel-art", "3d-render", "watercolor", "oil-painting", "sketch",
            "comic", "fantasy", "cyberpunk", "space", "abstract", "dark"} <= names
    assert all(set(style) == {"name", "label", "description"} for style in styles)


@pytest.mark.parametrize("image_format, mime, extension, pillow_name", [
    ("png", "image/png", ".png", "PNG"),
    ("webp", "image/webp", ".webp", "WEBP"),
    ("jpeg", "image/jpeg", ".jpg", "JPEG"),
])
def test_the_format_agrees_everywhere(client, image_format, mime, extension, pillow_name):
    generated = client.get(f"/generate?p=x&format={image_format}")
    assert generated.get_json()["mime"] == mime
    assert decoded(generated).format == pillow_name
    stored = client.get(f"/image?p=x&format={image_format}").get_json()
    assert stored["url"].endswith(extension) and stored["mime"] == mime
    served = client.get(stored["url"])
    assert served.status_code == 200 and served.content_type == mime
    assert Image.open(io.BytesIO(served.data)).format == pillow_name


def test_lossy_quality_is_a_setting(make_app, upstream):
    upstream.default_answer = Answer(body=jpeg_bytes(size=(256, 256)))
    small = make_app(LOSSY_QUALITY=10).test_client().get("/generate?p=x&format=jpeg")
    large = make_app(LOSSY_QUALITY=95).test_client().get("/generate?p=x&format=jpeg")
    assert len(small.get_json()["img"]) < len(large.get_json()["img"])


def test_transparent_gives_an_image_with_alpha(client):
    image = decoded(client.get("/generate?p=x&transparent=true"))
    assert image.mode == "RGBA"


def test_answers_say_which_provider_drew_them(client):
    response = client.get("/generate?p=x")
    assert response.headers["X-Artproxy-Provider"] == "magicstudio"
    assert response.get_json()["provider"] == "magicstudio"
    stored = client.get("/image?p=x")
    assert stored.headers["X-Artproxy-Provider"] == "magicstudio"
    assert stored.get_json()["provider"] == "magicstudio"


def test_old_clients_that_send_only_p_get_a_png_as_before(client):
    payload = client.get("/generate?p=x").get_json()
    assert payload["mime"] == "image/png"
    assert set(payload) >= {"img", "mime"}
    assert client.get("/image?p=x").get_json()["url"].endswith(".png")


def test_offline_seed_gives_the_same_bytes_and_another_seed_other_bytes(make_app):
    client = make_app(PROVIDER=("offline",)).test_client()
    first = client.get("/generate?p=fox&seed=7&size=200x100").get_json()["img"]
    again = client.get("/generate?p=fox&seed=7&size=200x100").get_json()["img"]
    other = client.get("/generate?p=fox&seed=8&size=200x100").get_json()["img"]
    assert first == again
    assert first != other


def test_provider_picks_one_configured_provider_for_this_call(make_app, upstream):
    client = make_app(PROVIDER=("magicstudio", "offline")).test_client()
    response = client.get("/generate?p=x&provider=offline")
    assert response.get_json()["provider"] == "offline"
    assert upstream.received == []


def test_options_lists_every_declared_option_with_what_it_takes(make_app):
    listed = make_app(PROVIDER=("offline", "magicstudio")).test_client().get("/options").get_json()
    by_name = {option["name"]: option for option in listed["options"]}
    assert list(by_name) == ["size", "aspect", "style", "transparent", "format", "quality",
                             "seed", "provider"]
    assert by_name["provider"]["schema"] == {"enum": ["offline", "magicstudio"]}
    assert by_name["seed"]["schema"] == {"type": "integer", "minimum": 0,
                                         "maximum": listed["max_seed"]}
    assert (by_name["format"]["default"], by_name["format"]["error_code"]) == ("png",
                                                                               "invalid_format")
    assert set(by_name["aspect"]["schema"]["enum"]) == {aspect["name"]
                                                        for aspect in listed["aspects"]}
    assert all(option["description"] for option in listed["options"])
