"""Image checks and PNG encoding, without a server."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import imaging
import imaging.checks
import imaging.png
from errors import BadUpstreamImage
from testing.fake_upstream import jpeg_bytes, png_bytes
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


def as_png(data: bytes) -> bytes:
    return imaging.png_from_upstream(data, imaging.open_checked(data, max_pixels=10**6))


@pytest.mark.parametrize("image_format", ["JPEG", "WEBP", "GIF", "BMP"])
def test_other_formats_become_png(image_format):
    data = encoded(Image.new("RGB", (20, 10), (1, 2, 3)), image_format)
    png = decode_png(as_png(data))
    assert same_pixels(png, Image.open(io.BytesIO(data)))


def test_a_png_is_returned_byte_for_byte():
    data = png_bytes()
    assert as_png(data) is data


@pytest.mark.parametrize("data", [b"", b"<html></html>", b"\x89PNG\r\n\x1a\n", jpeg_bytes()[:300]])
def test_anything_but_a_complete_image_is_refused(data):
    with pytest.raises(BadUpstreamImage):
        imaging.open_checked(data, max_pixels=10**6)


def test_pixel_limit_is_checked_before_decoding():
    with pytest.raises(BadUpstreamImage, match="64x64"):
        imaging.open_checked(png_bytes(size=(64, 64)), max_pixels=64 * 64 - 1)
    assert imaging.open_checked(png_bytes(size=(64, 64)), max_pixels=64 * 64).size == (64, 64)


def grainy_photo(mode: str, size: tuple[int, int] = (97, 61)) -> Image.Image:
    # Odd sizes and noise: a row-stride or filter slip would change pixels, not just file size.
    noise = Image.effect_noise(size, 60).convert("RGB")
    image = Image.blend(Image.linear_gradient("L").resize(size).convert("RGB"), noise, 0.5)
    if mode == "RGBA":
        image.putalpha(Image.effect_noise(size, 90).convert("L"))
    return image


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_fast_encoder_writes_the_same_pixels(mode):
    assert imaging.png.fpng is not None, "fpng is in requirements.txt for this platform"
    source = grainy_photo(mode)
    png = imaging.to_png(source)
    assert png.startswith(imaging.png.PNG_SIGNATURE)
    assert b"fdEC" in png[:64]  # fpng's marker chunk: this went through the fast encoder
    decoded = decode_png(png)
    assert decoded.mode == mode and same_pixels(decoded, source)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_without_fpng_pillow_encodes_the_same_pixels(mode, monkeypatch):
    monkeypatch.setattr(imaging.png, "fpng", None)
    source = grainy_photo(mode)
    png = imaging.to_png(source)
    assert b"fdEC" not in png
    assert same_pixels(decode_png(png), source)


def test_colour_profile_survives_the_fast_encoder():
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    grainy_photo("RGB").save(buffer, format="JPEG", icc_profile=profile)
    upstream_jpeg = Image.open(io.BytesIO(buffer.getvalue()))
    decoded = decode_png(as_png(buffer.getvalue()))
    assert decoded.info["icc_profile"] == profile
    assert same_pixels(decoded, upstream_jpeg.convert("RGB"))
