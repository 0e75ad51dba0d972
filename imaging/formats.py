"""The one table of image formats artproxy writes: name, MIME type, file extension, encoder.

Stores name files by ``extension``, serve them as ``mime``, and never serve a format that is not
in this table; the service encodes with ``encode``. WebP and JPEG become rows here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PIL import Image

from imaging.png import to_png


@dataclass(frozen=True)
class ImageFormat:
    name: str
    mime: str
    extension: str
    encode: Callable[[Image.Image], bytes]


PNG = ImageFormat("png", "image/png", "png", to_png)

FORMATS: dict[str, ImageFormat] = {image_format.name: image_format for image_format in (PNG,)}
BY_MIME: dict[str, ImageFormat] = {image_format.mime: image_format for image_format in FORMATS.values()}
BY_EXTENSION: dict[str, ImageFormat] = {
    image_format.extension: image_format for image_format in FORMATS.values()}
