from __future__ import annotations

import base64
import io
import socket
from pathlib import Path

from PIL import Image

START_TIME = 1_800_000_000.0  # 2027-01-15: a fixed "now" for tests that control time


class FakeClock:
    def __init__(self, now: float = START_TIME):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
