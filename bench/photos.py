"""Deterministic test pictures that compress like photographs, not like flat drawings."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageFilter

from providers.offline import paint_landscape


def photo(size: int, seed: str = "bench") -> Image.Image:
    """A landscape with fine grain, so JPEG and PNG sizes land where real photos do."""
    scene = paint_landscape(seed).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    grain_bytes = random.Random(seed).randbytes(size * size * 3)
    grain = Image.frombytes("RGB", (size, size), grain_bytes)
    return Image.blend(scene, grain, 0.12).filter(ImageFilter.SMOOTH)


def photo_jpeg(size: int, quality: int = 78) -> bytes:
    buffer = io.BytesIO()
    photo(size).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
