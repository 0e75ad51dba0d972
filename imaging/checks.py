"""Checking what an upstream sent: a complete image within limits, and a PNG with nothing hidden."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable

from PIL import Image

from errors import BadUpstreamImage
from imaging.png import PNG_SIGNATURE, to_png


def open_checked(data: bytes, max_pixels: int,
                 passed_on: Callable[[Image.Image], bool] | None = None) -> Image.Image:
    """``data`` as an image known to be complete, or BadUpstreamImage.

    The size is checked from the header before any pixel is decoded, so a small file that
    claims a huge canvas (a decompression bomb) costs nothing. Decoding in full here catches
    truncated bodies, which Pillow would otherwise only notice when the pixels are first used.

    A PNG that ``passed_on(image)`` says goes out byte for byte needs less: when its chunks are
    whole and its pixel data inflates to exactly its rows (``png_rows_complete``), it is known
    complete and its pixels are never decoded (under bench/ target L, decoding was a quarter of
    a worker's CPU for a /v1 generation); one missing rows is refused, which Pillow lets pass.
    Any other picture is decoded here, so what uses its pixels later cannot meet a broken one.
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
            unchanged = image.format == "PNG" and passed_on is not None and passed_on(image)
            complete = png_rows_complete(data) if unchanged else None
            if complete is False:
                raise BadUpstreamImage(NOT_COMPLETE)
            if complete is None:
                image.load()
    except BadUpstreamImage:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as error:
        # Pillow reports unknown formats, truncation and corrupt data with these types.
        raise BadUpstreamImage(NOT_COMPLETE) from error
    return image


NOT_COMPLETE = "The image generator returned data that is not a complete image"


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
    return png_chunks(data) is not None


def png_chunks(data: bytes) -> list[tuple[bytes, memoryview]] | None:
    """Each chunk's kind and body, if ``data`` is a well-formed PNG; None if it is not."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    chunks = []
    position = len(PNG_SIGNATURE)
    view = memoryview(data)
    while position + 12 <= len(data):
        length, = struct.unpack_from(">I", data, position)
        end = position + 12 + length
        if end > len(data):
            return None
        kind_and_body = view[position + 4:end - 4]
        checksum, = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(kind_and_body) != checksum:
            return None
        kind = bytes(kind_and_body[:4])
        chunks.append((kind, kind_and_body[4:]))
        if kind == b"IEND":
            return chunks if end == len(data) else None
        position = end
    return None


# Channels by PNG colour type: grey, RGB, palette, grey and alpha, RGBA.
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
NO_FILTER, LAST_FILTER = 0, 4  # PNG's row filters: none, sub, up, average, Paeth


def png_rows_complete(data: bytes) -> bool | None:
    """Whether ``data``, a plain PNG, inflates to exactly the rows its header declares, each
    starting with a known filter: what decoding it would find wrong, without unfiltering a row.

    Plain: chunks whole, one IHDR first, no animation, not interlaced, and its IDAT chunks in
    one run with only IEND after them. Pillow reads the chunks before the pixels when it opens
    a PNG, but those between or after IDATs only when it decodes, and fails on some of them
    (a short tRNS or pHYs after the pixels, an IDAT run split by a text chunk). None when only
    decoding can tell, for anything but a plain PNG."""
    chunks = png_chunks(data)
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        return None
    kinds = [kind for kind, _ in chunks]
    first_pixels = kinds.index(b"IDAT") if b"IDAT" in kinds else len(kinds)
    before, after = kinds[1:first_pixels], kinds[first_pixels:]
    if (b"IHDR" in before or b"acTL" in before or b"fcTL" in before
            or after != [b"IDAT"] * (len(after) - 1) + [b"IEND"]):
        return None
    width, height, depth, colour, _, _, interlaced = struct.unpack(">IIBBBBB", chunks[0][1])
    if interlaced or colour not in CHANNELS:
        return None
    row = 1 + (width * CHANNELS[colour] * depth + 7) // 8
    expected = row * height
    inflater = zlib.decompressobj()
    rows = bytearray()
    try:
        for kind, body in chunks:
            if kind == b"IDAT":
                # Never more than one byte past the expected rows: a bomb inside the declared
                # size is found without inflating it.
                rows += inflater.decompress(body, expected + 1 - len(rows))
                if len(rows) > expected:
                    return False
    except zlib.error:
        return False
    return (inflater.eof and len(rows) == expected
            and max(rows[::row], default=NO_FILTER) <= LAST_FILTER)
