"""The OpenAI-compatible API, driven by the official openai SDK against a real `python main.py`."""

from __future__ import annotations

import base64
import io
import urllib.request

import openai
import pytest
from PIL import Image, ImageChops

from tests.real_server import serve

KEY = "sk-artproxy-test"


@pytest.fixture
def server(image_dir, processes) -> str:
    return serve(processes, image_dir, workers=2, ARTPROXY_PROVIDER="offline",
                 ARTPROXY_PREMIUM_KEYS=KEY)


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0)


def picture(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_generate_as_base64(client):
    result = client.images.generate(model="artproxy", prompt="a harbour at dusk", size="512x256")
    assert result.created > 0
    image = picture(result.data[0].b64_json)
    assert (image.format, image.size) == ("PNG", (512, 256))
    assert result.size == "512x256" and result.output_format == "png"


def test_generate_as_an_absolute_url_that_serves_the_image(client, server):
    result = client.images.generate(prompt="a lighthouse", response_format="url")
    url = result.data[0].url
    assert url.startswith(server + "/images/")
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(answer.read())).size == (512, 512)


def test_three_images_differ(client):
    result = client.images.generate(prompt="a fox", n=3)
    images = [base64.b64decode(item.b64_json) for item in result.data]
    assert len(images) == 3 and len(set(images)) == 3


@pytest.mark.parametrize("size, expected", [("1024x576", (1024, 576)), ("64x64", (64, 64)),
                                            ("1536x1024", (1536, 1024)), ("auto", (512, 512))])
def test_sizes(client, size, expected):
    result = client.images.generate(prompt="a forest", size=size)
    assert picture(result.data[0].b64_json).size == expected


def test_transparent_background(client):
    result = client.images.generate(prompt="a logo", background="transparent")
    assert picture(result.data[0].b64_json).mode == "RGBA"
    assert result.background == "transparent"


def test_webp(client):
    result = client.images.generate(prompt="a logo", output_format="webp", style="vivid")
    assert picture(result.data[0].b64_json).format == "WEBP"
    assert result.output_format == "webp"


def test_an_edit_with_a_mask_changes_only_the_masked_region(client):
    original = Image.effect_noise((128, 96), 60).convert("RGB")
    mask = Image.new("RGBA", original.size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (32, 24, 96, 72))  # transparent: redraw here
    result = client.images.edit(image=("photo.png", png(original), "image/png"),
                                mask=("mask.png", png(mask), "image/png"), prompt="a red sun")
    edited = picture(result.data[0].b64_json).convert("RGB")
    assert edited.size == original.size
    kept = Image.new("L", original.size, 255)
    kept.paste(0, (32, 24, 96, 72))
    difference = ImageChops.difference(edited, original)
    assert ImageChops.multiply(difference.convert("L"), kept).getbbox() is None  # unchanged
    assert difference.crop((32, 24, 96, 72)).getbbox() is not None  # redrawn


def test_an_edit_without_a_mask_redraws_the_images_transparent_pixels(client):
    original = Image.new("RGBA", (100, 80), (20, 160, 40, 255))
    original.paste((0, 0, 0, 0), (0, 0, 40, 80))
    result = client.images.edit(image=[("hole.png", png(original), "image/png")], prompt="sky")
    edited = picture(result.data[0].b64_json).convert("RGBA")
    assert edited.getpixel((10, 10))[3] == 255  # filled
    assert edited.getpixel((70, 40)) == (20, 160, 40, 255)  # kept


def test_models_lists_the_chain_each_provider_and_openais_names(client):
    assert [model.id for model in client.models.list()] == [
        "artproxy", "offline", "dall-e-2", "dall-e-3", "gpt-image-1"]
    assert client.models.retrieve("gpt-image-1").id == "gpt-image-1"


@pytest.mark.parametrize("arguments, param", [
    ({"n": 9}, "n"), ({"size": "10x10"}, "size"), ({"model": 7}, "model"),
    ({"output_format": "gif"}, "output_format"),
    ({"background": "transparent", "output_format": "jpeg"}, "background"),
    ({"style": "vaporwave"}, "style"), ({"response_format": "bmp"}, "response_format"),
])
def test_bad_requests_raise_the_sdks_bad_request_error(client, arguments, param):
    with pytest.raises(openai.BadRequestError) as raised:
        client.images.generate(prompt="x", **arguments)
    assert raised.value.status_code == 400
    assert raised.value.body["param"] == param


def test_a_mask_of_another_size_is_400(client):
    image = png(Image.new("RGB", (64, 64)))
    mask = png(Image.new("RGBA", (32, 32)))
    with pytest.raises(openai.BadRequestError, match="must match"):
        client.images.edit(image=("a.png", image, "image/png"), mask=("m.png", mask, "image/png"),
                           prompt="x")


def test_an_image_with_nothing_to_redraw_is_400(client):
    with pytest.raises(openai.BadRequestError, match="Nothing to edit"):
        client.images.edit(image=("a.png", png(Image.new("RGB", (64, 64))), "image/png"), prompt="x")


def test_a_wrong_key_raises_the_sdks_authentication_error(server):
    stranger = openai.OpenAI(base_url=f"{server}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()


def test_the_rate_limit_counts_each_image_and_raises_the_sdks_rate_limit_error(image_dir,
                                                                                processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PROVIDER="offline",
                     ARTPROXY_RATE_LIMIT="3/minute")
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)
    client.images.generate(prompt="x", n=3)  # spends the whole budget at once
    with pytest.raises(openai.RateLimitError) as raised:
        client.images.generate(prompt="y")
    assert 1 <= int(raised.value.response.headers["Retry-After"]) <= 60
    assert raised.value.body["code"] == "rate_limited"
