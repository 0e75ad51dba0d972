from __future__ import annotations

import base64
import io
import time
from pathlib import Path

from PIL import Image

from testing import START_TIME, FakeClock, free_port  # noqa: F401  (one import line for tests)


def stored_files(directory: Path) -> list[str]:
    """Everything in the image folder, temp files included."""
    return sorted(path.name for path in directory.iterdir())


def decode_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def png_from_json(payload: dict) -> Image.Image:
    return decode_png(base64.b64decode(payload["img"], validate=True))


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.convert("RGBA").tobytes() == b.convert("RGBA").tobytes()


def error_of(response) -> dict:
    """An error answer's JSON without its request_id, which must be the X-Request-ID sent."""
    body = response.get_json()
    assert body.pop("request_id") == response.headers["X-Request-ID"]
    return body


def fast_path_of(app):
    """The stored-image fast path among the app's WSGI layers."""
    from web.fast_path import StoredImageFastPath

    layer = app.wsgi_app
    while not isinstance(layer, StoredImageFastPath):
        layer = layer.wsgi_app
    return layer


def until(check, seconds: float = 20, every: float = 0.05):
    """``check()``'s first true value, or fail after ``seconds``."""
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {seconds} s")
