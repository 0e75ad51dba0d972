"""The offline provider: deterministic, prompt-dependent pictures with no network at all."""

from __future__ import annotations

import socket

import pytest
from PIL import ImageChops, ImageStat

from config import ConfigError
from generator_client import ImageOptions
from providers.offline import OfflineProvider, paint_landscape
from tests.helpers import decode_png, png_from_json


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the offline provider touched the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_same_prompt_same_picture(no_network):
    provider = OfflineProvider()
    first = provider.generate("a lighthouse at dusk", ImageOptions()).data
    second = provider.generate("a lighthouse at dusk", ImageOptions()).data
    assert first == second


def test_different_prompts_look_different():
    images = [paint_landscape(prompt).convert("L") for prompt in ("a fox", "a fox.", "cathedral", "ocean")]
    for index, image in enumerate(images):
        for other in images[index + 1:]:
            mean_difference = ImageStat.Stat(ImageChops.difference(image, other)).mean[0]
            assert mean_difference > 10  # out of 255: a change anyone sees at a glance


def test_pictures_are_smooth_not_noise():
    image = paint_landscape("noise check").convert("L")
    pixels = image.load()
    jumps = [abs(pixels[x, y] - pixels[x + 1, y]) for y in range(0, 512, 8) for x in range(511)]
    assert sum(jumps) / len(jumps) < 4  # neighbouring pixels are alike almost everywhere
    assert ImageStat.Stat(image).stddev[0] > 20  # yet the picture is far from flat


def test_the_service_runs_on_the_offline_provider(make_app, no_network):
    client = make_app(PROVIDER=("offline",)).test_client()
    png = png_from_json(client.get("/generate?p=castle").get_json())
    assert png.size == (512, 512)
    url = client.get("/image?p=castle").get_json()["url"]
    assert decode_png(client.get(url).data).tobytes() == png.tobytes()


def test_unknown_provider_is_refused_at_startup(make_app):
    with pytest.raises(ConfigError, match="ARTPROXY_PROVIDER='dalle' is not valid.*magicstudio, offline"):
        make_app(PROVIDER=("dalle",))
