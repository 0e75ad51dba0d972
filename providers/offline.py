"""A provider with no network: paints a landscape whose every detail is chosen by the prompt.

The same prompt always gives the same picture and different prompts give visibly different
ones, so the service can be shown and tested on a machine that cannot reach any upstream.
"""

from __future__ import annotations

import colorsys
import hashlib
import random
import time
from collections.abc import Mapping
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageOps

from generator_client import GeneratedImage, ImageOptions, UpstreamProvider
from imaging import to_png
from os_threads import in_os_thread

SIZE = 512
RIDGE_LAYERS = 4
RIDGE_SEGMENTS = 64  # a power of two, for midpoint displacement
GROUND, RIM = (253, 252, 250), (40, 36, 48)  # a cut-out's light ground, and its subject's rim


class OfflineProvider(UpstreamProvider):
    name = "offline"

    def __init__(self, delay_seconds: float = 0.0):
        self.delay_seconds = delay_seconds

    @property
    def upstream(self) -> str:
        return "offline"  # no network: the same painter everywhere

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OfflineProvider:
        return cls(config["OFFLINE_DELAY"])

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)  # as long as a real upstream, so progress shows
        width, height = options.size or (SIZE, SIZE)
        # Asked for a cut-out, it paints a subject on a light ground, as a generator asked for
        # "... on a white background" does: an edge-to-edge landscape has no background to cut.
        paint = paint_subject if options.transparent else paint_landscape
        painted = in_os_thread(lambda: to_png(paint(prompt, width, height, options.seed)))
        return GeneratedImage(data=painted, provider=self.name)


def paint_landscape(prompt: str, width: int = SIZE, height: int = SIZE,
                    seed: int | None = None) -> Image.Image:
    """The prompt's landscape at any size; a seed picks another landscape for the same prompt."""
    key = prompt if seed is None else f"{prompt}\0seed={seed}"
    rng = random.Random(hashlib.sha256(key.encode("utf-8")).digest())
    hue = rng.random()
    sky_top = hsv(hue + 0.55, 0.55, 0.30)
    sky_horizon = hsv(hue, 0.45, 0.98)
    gradient = Image.linear_gradient("L").resize((width, height))
    picture = ImageOps.colorize(gradient, sky_top, sky_horizon).convert("RGBA")

    paint_sun(picture, rng, color=hsv(hue + 0.1, 0.25, 1.0))
    ridge_far, ridge_near = hsv(hue + 0.5, 0.25, 0.75), hsv(hue + 0.6, 0.6, 0.12)
    for layer in range(RIDGE_LAYERS):
        depth = layer / (RIDGE_LAYERS - 1)
        color = mix(ridge_far, ridge_near, depth)
        baseline = height * (0.50 + 0.14 * layer)
        outline = ridge(rng, width, height, baseline, roughness=height * 0.18)
        ImageDraw.Draw(picture).polygon(outline, fill=color)
    return picture.convert("RGB")


def paint_subject(prompt: str, width: int = SIZE, height: int = SIZE,
                  seed: int | None = None) -> Image.Image:
    """The prompt's landscape in a round frame with a dark rim, on a near-white ground."""
    picture = Image.new("RGB", (width, height), GROUND)
    radius = round(min(width, height) * 0.42)
    centre = (width / 2, height / 2)
    disc = Image.new("L", (width, height), 0)
    ImageDraw.Draw(disc).ellipse(box(*centre, radius), fill=255)
    picture.paste(paint_landscape(prompt, width, height, seed), mask=disc)
    rim = max(2, round(radius * 0.04))
    ImageDraw.Draw(picture).ellipse(box(*centre, radius), outline=RIM, width=rim)
    return picture


def paint_sun(picture: Image.Image, rng: random.Random, color: tuple[int, int, int]) -> None:
    x, y = rng.uniform(0.15, 0.85) * picture.width, rng.uniform(0.12, 0.40) * picture.height
    radius = rng.uniform(0.05, 0.10) * min(picture.size)
    glow = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(glow)
    draw.ellipse(box(x, y, radius * 2.2), fill=(*color, 90))
    draw.ellipse(box(x, y, radius), fill=(*color, 255))
    picture.alpha_composite(glow.filter(ImageFilter.GaussianBlur(radius * 0.25)))


def ridge(rng: random.Random, width: int, height: int, baseline: float,
          roughness: float) -> list[tuple[float, float]]:
    """A mountain outline by midpoint displacement, closed along the bottom edge."""
    heights = [0.0] * (RIDGE_SEGMENTS + 1)
    heights[0], heights[-1] = rng.uniform(-1, 1) * roughness, rng.uniform(-1, 1) * roughness
    step, spread = RIDGE_SEGMENTS, roughness
    while step > 1:
        half = step // 2
        for left in range(0, RIDGE_SEGMENTS, step):
            middle = (heights[left] + heights[left + step]) / 2
            heights[left + half] = middle + rng.uniform(-1, 1) * spread
        step, spread = half, spread * 0.55
    outline = [(width * i / RIDGE_SEGMENTS, baseline - h) for i, h in enumerate(heights)]
    return outline + [(width, height), (0, height)]


def box(x: float, y: float, radius: float) -> tuple[float, float, float, float]:
    return (x - radius, y - radius, x + radius, y + radius)


def hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return (round(red * 255), round(green * 255), round(blue * 255))


def mix(a: tuple[int, ...], b: tuple[int, ...], amount: float) -> tuple[int, ...]:
    return tuple(round(x + (y - x) * amount) for x, y in zip(a, b, strict=True))
