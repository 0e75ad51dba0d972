"""Image checks and PNG encoding, without a server."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import imaging
from errors import BadUpstreamImage
from tests.fake_upstream import jpeg_bytes, png_bytes
from tests.helpers import decode_png, same_pixels


def encoded(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "1"])
def test_png_is_lossless_for_every_mode(mode):
    source = Image.linear_gradient("L").resize((32, 16)).convert(mode)
    png = decode_png(imaging.to_png(source))
    if mode == "CMYK":
        assert same_pixels(png, source.convert("RGB"))
    else:
        assert same_pixels(png, source)


@pytest.mark.parametrize("image_format", ["JPEG", "WEBP", "GIF", "BMP"])
def test_other_formats_become_png(image_format):
    data = encoded(Image.new("RGB", (20, 10), (1, 2, 3)), image_format)
    png = decode_png(imaging.png_from_upstream(data, max_pixels=10**6))
    assert same_pixels(png, Image.open(io.BytesIO(data)))


def test_a_png_is_returned_byte_for_byte():
    data = png_bytes()
    assert imaging.png_from_upstream(data, max_pixels=10**6) is data


@pytest.mark.parametrize("data", [b"", b"<html></html>", b"\x89PNG\r\n\x1a\n", jpeg_bytes()[:300]])
def test_anything_but_a_complete_image_is_refused(data):
    with pytest.raises(BadUpstreamImage):
        imaging.open_checked(data, max_pixels=10**6)


def test_pixel_limit_is_checked_before_decoding():
    with pytest.raises(BadUpstreamImage, match="64x64"):
        imaging.open_checked(png_bytes(size=(64, 64)), max_pixels=64 * 64 - 1)
    assert imaging.open_checked(png_bytes(size=(64, 64)), max_pixels=64 * 64).size == (64, 64)
