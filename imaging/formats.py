"""The one table of image formats artproxy writes: name, MIME type, file extension, encoder.

Stores name files by ``extension``, serve them as ``mime``, and never serve a format that is not
in this table; the service encodes with ``encode(image, quality)``. ``quality`` is
ARTPROXY_LOSSY_QUALITY; the lossless PNG ignores it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from imaging.png import to_png


@dataclass(frozen=True)
class ImageFormat:
    name: str
    mime: str
    extension: str
    has_alpha: bool
    encode: Callable[[Image.Image, int], bytes]


def encode_png(image: Image.Image, quality: int) -> bytes:
    return to_png(image)


def encode_webp(image: Image.Image, quality: int) -> bytes:
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return _saved(image, "WEBP", quality=quality, method=4)


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")  # JPEG has no alpha; transparent=true is refused before
    return _saved(image, "JPEG", quality=quality, optimize=True)


def _saved(image: Image.Image, format_name: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    icc_profile = image.info.get("icc_profile")
    if icc_profile:
        options["icc_profile"] = icc_profile  # so colour-managed viewers show what was meant
    image.save(buffer, format=format_name, **options)
    return buffer.getvalue()


PNG = ImageFormat("png", "image/png", "png", True, encode_png)
WEBP = ImageFormat("webp", "image/webp", "webp", True, encode_webp)
JPEG = ImageFormat("jpeg", "image/jpeg", "jpg", False, encode_jpeg)

FORMATS: dict[str, ImageFormat] = {
    image_format.name: image_format for image_format in (PNG, WEBP, JPEG)}
BY_MIME: dict[str, ImageFormat] = {
    image_format.mime: image_format for image_format in FORMATS.values()}
BY_EXTENSION: dict[str, ImageFormat] = {
    image_format.extension: image_format for image_format in FORMATS.values()}
