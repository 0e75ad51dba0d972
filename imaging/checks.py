"""Checking what an upstream sent: a complete image within limits, and a PNG with nothing hidden."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

from PIL import Image

from errors import BadUpstreamImage
from imaging.png import PNG_SIGNATURE, to_png


def open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Decode ``data`` completely, or raise BadUpstreamImage.

    The size is checked from the header before any pixel is decoded, so a small file that
    claims a huge canvas (a decompression bomb) costs nothing. Decoding in full here catches
    truncated bodies, which Pillow would otherwise only notice when the pixels are first used.
    """
    if not data:
        raise BadUpstreamImage("The image generator returned an empty answer")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise BadUpstreamImage(
                    f"The image generator returned a {width}x{height} image, "
                    f"larger than the {max_pixels}-pixel limit"
                )
            image.load()
    except BadUpstreamImage:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as error:
        # Pillow reports unknown formats, truncation and corrupt data with these types.
        raise BadUpstreamImage(
            "The image generator returned data that is not a complete image") from error
    return image


def declared_pixels(data: bytes) -> int:
    """How many pixels ``data`` says it holds, from its header alone; 0 if it has none."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.width * image.height
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return 0


def png_from_upstream(data: bytes, image: Image.Image) -> bytes:
    """The upstream's ``data`` (already decoded and checked as ``image``) as a PNG.

    A PNG is passed on byte for byte only when every chunk's checksum is right and nothing
    follows its end; anything else is re-encoded from the decoded pixels, so bytes the decoder
    skipped (a script after IEND, a chunk with a bad checksum) never reach a caller.
    """
    if image.format == "PNG" and is_well_formed_png(data):
        return data
    return to_png(image)


def is_well_formed_png(data: bytes) -> bool:
    """True if ``data`` is the PNG signature, chunks with correct CRCs, and IEND at the very end."""
    if not data.startswith(PNG_SIGNATURE):
        return False
    position = len(PNG_SIGNATURE)
    view = memoryview(data)
    while position + 12 <= len(data):
        length, = struct.unpack_from(">I", data, position)
        end = position + 12 + length
        if end > len(data):
            return False
        kind_and_body = view[position + 4:end - 4]
        checksum, = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(kind_and_body) != checksum:
            return False
        if bytes(view[position + 4:position + 8]) == b"IEND":
            return end == len(data)
        position = end
    return False
