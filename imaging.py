"""Small pure functions over image bytes and Pillow images."""

from __future__ import annotations

import io
import warnings

from PIL import Image

from errors import BadUpstreamImage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Modes a PNG stores as they are; anything else (CMYK, YCbCr, 16-bit variants) is converted.
PNG_NATIVE_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}
# zlib level 1: photographs barely shrink at higher levels, and encoding time is our main CPU cost.
PNG_COMPRESS_LEVEL = 1


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
            Image.DecompressionBombError):
        # Pillow reports unknown formats, truncation and corrupt data with these types.
        raise BadUpstreamImage("The image generator returned data that is not a complete image") from None
    return image


def to_png(image: Image.Image) -> bytes:
    """Encode ``image`` as a lossless PNG."""
    if image.mode not in PNG_NATIVE_MODES:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def png_from_upstream(data: bytes, max_pixels: int) -> bytes:
    """Check the upstream's bytes and return them as a PNG, re-encoding only when they are not one."""
    image = open_checked(data, max_pixels)
    if image.format == "PNG" and data.startswith(PNG_SIGNATURE):
        return data
    return to_png(image)
