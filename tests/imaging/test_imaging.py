"""Image checks and PNG encoding, without a server."""

from __future__ import annotations

import io
import struct
import zlib

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


def chunk(kind: bytes, body: bytes) -> bytes:
    """A PNG chunk with its right checksum."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_of(width: int, height: int, rows: bytes, colour_type: int = 2, interlaced: bool = False,
           pixel_data: bytes | None = None, before: tuple[bytes, ...] = (),
           between: tuple[bytes, ...] = (), after: tuple[bytes, ...] = ()) -> bytes:
    """A PNG with right checksums around whatever rows (or compressed pixel data) it is given;
    ``before`` the pixels, ``between`` two halves of them, ``after`` them: more chunks."""
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, int(interlaced))
    compressed = zlib.compress(rows) if pixel_data is None else pixel_data
    half = len(compressed) // 2 if between else len(compressed)
    pixels = chunk(b"IDAT", compressed[:half]) + b"".join(between) + (
        chunk(b"IDAT", compressed[half:]) if between else b"")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + b"".join(before) + pixels
            + b"".join(after) + chunk(b"IEND", b""))


def passed_on(image: Image.Image) -> bool:
    return True


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
@pytest.mark.parametrize("size", [(1, 1), (7, 3), (33, 17)])
def test_a_whole_png_passed_on_is_known_complete_without_decoding(mode, size):
    image = grainy_photo("RGB", size).convert(mode) if mode != "I;16" else Image.new(mode, size, 300)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert imaging.checks.png_rows_complete(buffer.getvalue()) is True
    checked = imaging.open_checked(buffer.getvalue(), max_pixels=10**6, passed_on=passed_on)
    assert checked.tile  # not decoded; and when it is, the same pixels
    assert same_pixels(checked, image)


def test_a_png_not_passed_on_is_decoded_here():
    for told in (None, lambda image: False):
        assert imaging.open_checked(png_bytes(), max_pixels=10**6, passed_on=told).tile == []


ROW = b"\x00" + b"\x10\x20\x30" * 4  # one unfiltered row of 4 RGB pixels


@pytest.mark.parametrize("data", [
    png_of(4, 3, ROW * 2),  # a row short
    png_of(4, 3, ROW * 4),  # a row too many
    png_of(4, 3, ROW * 2 + b"\x05" + ROW[1:]),  # a filter PNG does not have
    png_of(4, 3, b"", pixel_data=zlib.compress(ROW * 3)[:-6]),  # the stream cut off
    png_of(4, 3, b"", pixel_data=b"\x78\x9c" + bytes(range(60))),  # not deflate at all
], ids=["short", "long", "filter", "cut", "garbage"])
def test_a_png_with_whole_chunks_but_broken_pixels_is_refused(data):
    assert imaging.checks.png_rows_complete(data) is False
    with pytest.raises(BadUpstreamImage):
        imaging.open_checked(data, max_pixels=10**6, passed_on=passed_on)


def test_an_animated_png_is_decoded_to_be_checked():
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    assert imaging.checks.png_rows_complete(buffer.getvalue()) is None
    assert imaging.open_checked(buffer.getvalue(), max_pixels=100, passed_on=passed_on).tile == []


TEXT = chunk(b"tEXt", b"Comment\x00hello")


@pytest.mark.parametrize("data, decodes", [
    (png_of(4, 3, ROW * 3, between=(TEXT,)), False),  # Pillow stops at the text: truncated
    (png_of(4, 3, ROW * 3, after=(chunk(b"pHYs", b"\x00\x01"),)), False),  # read at the end
    (png_of(4, 3, ROW * 3, after=(TEXT,)), True),
    (png_of(4, 3, ROW * 3, before=(chunk(b"IHDR", struct.pack(">IIBBBBB", 9, 9, 8, 2, 0, 0, 0)),)),
     False),  # a second header: Pillow takes its size
    (png_of(1, 1, b"\x00\x10\x20\x30", interlaced=True), True),
], ids=["split pixels", "short pHYs after", "text after", "second header", "interlaced"])
def test_anything_but_a_plain_png_is_decoded_to_be_checked(data, decodes):
    assert imaging.checks.png_rows_complete(data) is None
    if decodes:
        assert imaging.open_checked(data, max_pixels=100, passed_on=passed_on).tile == []
    else:
        with pytest.raises(BadUpstreamImage):
            imaging.open_checked(data, max_pixels=100, passed_on=passed_on)


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
