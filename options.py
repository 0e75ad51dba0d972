"""The image options a caller may ask for: parsing, checking, and the style presets.

Every option is optional and checked before any upstream is called. Each bad value is its own
BadOption with a stable code and a sentence naming the parameter and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping

from errors import BadOption, BadPrompt
from generator_client import ImageOptions
from imaging.formats import FORMATS

MIN_SIDE, MAX_SIDE = 64, 2048
ASPECT_LONG_SIDE = 1024
ASPECTS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "32:9")
MAX_SEED = 2**32 - 1
TRUE, FALSE = ("true", "1"), ("false", "0")


@dataclass(frozen=True)
class Style:
    name: str
    label: str
    description: str
    words: str  # added after the caller's prompt, which stays as it was written


STYLES: dict[str, Style] = {style.name: style for style in (
    Style("photo", "Photo", "A realistic photograph",
          "photorealistic photograph, natural light, sharp focus, high detail"),
    Style("anime", "Anime", "Japanese animation, clean lines and flat colour",
          "anime style, cel shading, clean line art, vibrant colours"),
    Style("pixel-art", "Pixel art", "Retro game graphics from big square pixels",
          "pixel art, 16-bit retro game sprite style, limited palette"),
    Style("3d-render", "3D render", "A rendered 3D scene",
          "3D render, octane render, global illumination, smooth materials"),
    Style("watercolor", "Watercolour", "Soft washes of watercolour on paper",
          "watercolor painting, soft washes, paper texture, bleeding edges"),
    Style("oil-painting", "Oil painting", "Thick brushstrokes of oil paint on canvas",
          "oil painting on canvas, visible brushstrokes, rich texture"),
    Style("sketch", "Sketch", "A pencil drawing",
          "pencil sketch, graphite, cross-hatching, on white paper"),
    Style("comic", "Comic", "A comic-book panel with inks and halftone",
          "comic book art, bold ink outlines, halftone shading"),
    Style("fantasy", "Fantasy", "An epic fantasy illustration",
          "epic fantasy illustration, magical atmosphere, dramatic lighting"),
    Style("cyberpunk", "Cyberpunk", "Neon-lit future city",
          "cyberpunk, neon lights, rainy futuristic city, high contrast"),
    Style("space", "Space", "Stars, nebulae and planets",
          "outer space, nebula, stars, cosmic scale, astrophotography"),
    Style("abstract", "Abstract", "Shapes and colour rather than things",
          "abstract art, bold shapes, expressive colour, non-representational"),
    Style("dark", "Dark", "Moody, low-key and shadowy",
          "dark moody atmosphere, low key lighting, deep shadows"),
)}


def checked_prompt(raw: object, longest: int, missing_message: str) -> str:
    """The prompt, stripped: it must be text, not blank, and at most ``longest`` characters
    (before any style words are added); BadPrompt with ``missing_message`` or the length."""
    prompt = raw.strip() if isinstance(raw, str) else ""
    if not prompt:
        raise BadPrompt(missing_message)
    if len(prompt) > longest:
        raise BadPrompt(f"Prompt is too long: {len(prompt)} characters, the limit is {longest}")
    return prompt


def parse_options(query: Mapping[str, str], providers: Collection[str]) -> ImageOptions:
    """ImageOptions from query parameters (``size``, ``aspect``, ``style``, ``transparent``,
    ``format``, ``seed``, ``provider``); BadOption for the first bad one."""
    if query.get("size") and query.get("aspect"):
        raise BadOption("size_and_aspect", "Give size or aspect, not both", "aspect")
    size = parse_size(query["size"]) if query.get("size") else None
    if query.get("aspect"):
        size = aspect_size(query["aspect"])
    image_format = parse_format(query.get("format") or "png")
    transparent = parse_boolean("transparent", query.get("transparent") or "false")
    if transparent and not FORMATS[image_format].has_alpha:
        raise BadOption("transparent_format",
                        f"transparent=true needs a format with transparency (png or webp), "
                        f"not {image_format}", "transparent")
    return ImageOptions(
        width=size[0] if size else None,
        height=size[1] if size else None,
        seed=parse_seed(query["seed"]) if query.get("seed") else None,
        style=parse_style(query["style"]) if query.get("style") else None,
        transparent=transparent,
        format=image_format,
        provider=parse_provider(query["provider"], providers) if query.get("provider") else None,
    )


def parse_size(raw: str) -> tuple[int, int]:
    width, separator, height = raw.lower().partition("x")
    if separator and width.isdigit() and height.isdigit():
        size = int(width), int(height)
        if all(MIN_SIDE <= side <= MAX_SIDE for side in size):
            return size
    raise BadOption("invalid_size",
                    f"size must be WIDTHxHEIGHT with each side from {MIN_SIDE} to {MAX_SIDE}, "
                    f"e.g. 768x512; got {raw!r}", "size")


def aspect_size(raw: str) -> tuple[int, int]:
    """The pixel size of an aspect ratio, with its long side ASPECT_LONG_SIDE."""
    if raw not in ASPECTS:
        raise BadOption("invalid_aspect", f"aspect must be one of {' '.join(ASPECTS)}; got {raw!r}",
                        "aspect")
    across, down = (int(part) for part in raw.split(":"))
    if across >= down:
        return ASPECT_LONG_SIDE, round(ASPECT_LONG_SIDE * down / across)
    return round(ASPECT_LONG_SIDE * across / down), ASPECT_LONG_SIDE


def parse_format(raw: str) -> str:
    name = raw.lower()
    if name == "jpg":
        name = "jpeg"
    if name not in FORMATS:
        raise BadOption("invalid_format", f"format must be one of {', '.join(FORMATS)}; got {raw!r}",
                        "format")
    return name


def parse_boolean(parameter: str, raw: str) -> bool:
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise BadOption(f"invalid_{parameter}", f"{parameter} must be true, false, 1 or 0; got {raw!r}",
                    parameter)


def parse_seed(raw: str) -> int:
    if raw.isdigit() and int(raw) <= MAX_SEED:
        return int(raw)
    raise BadOption("invalid_seed", f"seed must be a whole number from 0 to {MAX_SEED}; got {raw!r}",
                    "seed")


def parse_style(raw: str) -> str:
    if raw not in STYLES:
        raise BadOption("unknown_style", f"style must be one of {', '.join(STYLES)}; got {raw!r}",
                        "style")
    return raw


def parse_provider(raw: str, providers: Collection[str]) -> str:
    if raw not in providers:
        raise BadOption("unknown_provider",
                        f"provider must be one of the configured ones: {', '.join(providers)}; "
                        f"got {raw!r}", "provider")
    return raw


def styled_prompt(prompt: str, style: str | None) -> str:
    """The prompt the upstream receives: the caller's, verbatim, then the style's words."""
    return f"{prompt}, {STYLES[style].words}" if style else prompt
