"""The image options a caller may ask for, each declared once, and the style presets.

An option's declaration (``declared_options()``) says its name, the values it takes (its kind:
type and bounds), the code of its error and what it does; its default is ImageOptions'. All the
rest is made from it: reading a query string (/generate, /image) and a JSON body (/jobs, and
/v1 under OpenAI's names), /options, the OpenAPI document and the README's table of options
(``python options.py`` prints it).

Every option is optional and checked before any upstream is called. Each bad value is its own
BadOption with a stable code and a sentence naming the parameter and what is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from errors import BadOption, BadPrompt
from generator_client import ImageOptions
from imaging.formats import FORMATS
from option_kinds import Choice, Flag, Kind, Size, WholeNumber

MIN_SIDE, MAX_SIDE = 64, 2048
ASPECT_LONG_SIDE = 1024
ASPECTS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "32:9")
MAX_SEED = 2**32 - 1
# Other spellings of a format's name: its file extension where that differs (jpg).
FORMAT_ALIASES = {image_format.extension: image_format.name for image_format in FORMATS.values()
                  if image_format.extension != image_format.name}


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

# What a caller who leaves an option out gets: ImageOptions' own defaults.
DEFAULTS = {field.name: field.default for field in dataclasses.fields(ImageOptions)}


@dataclass(frozen=True)
class Option:
    """One image option. Its name is the query parameter, the JSON field and, except for size
    and aspect (which both set width and height), the ImageOptions field it sets."""

    name: str
    kind: Kind
    code: str  # the error code of a bad value
    description: str

    @property
    def default(self) -> Any:
        return DEFAULTS.get(self.name)

    def from_text(self, raw: str | None) -> Any:
        """The value of a query parameter; None when left out or empty."""
        if not raw:
            return None
        try:
            return self.kind.parse(raw)
        except ValueError:
            raise self.bad_value(raw) from None

    def from_json(self, value: object) -> Any:
        """The value of a JSON field; None when null, or empty for a text option."""
        if value is None or (value == "" and self.kind.json_type == "string"):
            return None
        try:
            return self.kind.from_json(value)
        except TypeError:
            raise BadOption(f"invalid_{self.name}",
                            f"{self.name} must be {self.kind.json_words}", self.name) from None
        except ValueError:
            raise self.bad_value(str(value)) from None

    def bad_value(self, raw: str) -> BadOption:
        return BadOption(self.code, f"{self.name} must be {self.kind.expected}; got {raw!r}",
                         self.name)


@functools.cache
def declared_options(providers: tuple[str, ...]) -> tuple[Option, ...]:
    """Every image option as a server with these providers takes it, in the order they are
    checked and documented."""
    return (
        Option("size", Size(MIN_SIDE, MAX_SIDE), "invalid_size",
               "The answer has exactly this size: asked of providers that draw sizes, else "
               "centre-cropped to the shape and resized (Lanczos)."),
        Option("aspect", Choice(ASPECTS, separator=" "), "invalid_aspect",
               f"The same with the long side {ASPECT_LONG_SIDE} (`16:9` is "
               f"{'x'.join(map(str, aspect_size('16:9')))}). Not together with `size`."),
        Option("style", Choice(tuple(STYLES), shown_as="a name from `GET /styles`"),
               "unknown_style",
               "Adds the preset's words after the prompt the upstream receives; your prompt "
               "stays verbatim, and the length limit counts only yours."),
        Option("transparent", Flag(), "invalid_transparent",
               "The near-white background connected to the border becomes transparent with a "
               "smooth edge; white inside the subject stays. Not with `jpeg`."),
        Option("format", Choice(tuple(FORMATS), any_case=True, aliases=FORMAT_ALIASES),
               "invalid_format",
               "The bytes, `mime`, the stored URL's extension (`.png .webp .jpg`) and the served "
               "`Content-Type` agree. Lossy formats are encoded at `quality`."),
        Option("quality", WholeNumber(0, 100), "invalid_quality",
               "For `webp` and `jpeg`: the encoder's quality; higher keeps more detail and "
               "makes larger files. Left out: `ARTPROXY_LOSSY_QUALITY`. PNG is lossless and "
               "ignores it."),
        Option("seed", WholeNumber(0, MAX_SEED), "invalid_seed",
               "Passed to providers that take one (`pollinations`, `offline`): the same prompt, "
               "options and seed give the same picture."),
        Option("provider", Choice(providers, shown_as="a configured provider"), "unknown_provider",
               "Use this one for this call only."),
    )


def option_names() -> tuple[str, ...]:
    return tuple(option.name for option in declared_options(()))


def checked_prompt(raw: object, longest: int, missing_message: str) -> str:
    """The prompt, stripped: it must be text, not blank, and at most ``longest`` characters
    (before any style words are added); BadPrompt with ``missing_message`` or the length."""
    prompt = raw.strip() if isinstance(raw, str) else ""
    if not prompt:
        raise BadPrompt(missing_message)
    if not prompt.isascii():
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, which JSON's "\ud800" can spell
            raise BadPrompt("The prompt is not valid Unicode text") from None
    if len(prompt) > longest:
        raise BadPrompt(f"Prompt is too long: {len(prompt)} characters, the limit is {longest}")
    return prompt


def parse_options(query: Mapping[str, str], providers: Collection[str]) -> ImageOptions:
    """ImageOptions from query parameters; BadOption for the first bad one."""
    options = declared_options(tuple(providers))
    given = {option.name: query.get(option.name) for option in options}
    refuse_size_and_aspect(given)
    return image_options({option.name: option.from_text(given[option.name])
                          for option in options})


def options_from_json(fields: Mapping[str, object], providers: Collection[str]) -> ImageOptions:
    """ImageOptions from a JSON object's fields, each of its JSON type (``"seed": 7``,
    ``"transparent": true``, the rest strings); BadOption for the first bad one."""
    options = declared_options(tuple(providers))
    refuse_size_and_aspect(fields)
    return image_options({option.name: option.from_json(fields.get(option.name))
                          for option in options})


def refuse_size_and_aspect(given: Mapping[str, object]) -> None:
    if given.get("size") and given.get("aspect"):
        raise BadOption("size_and_aspect", "Give size or aspect, not both", "aspect")


def image_options(values: dict[str, Any]) -> ImageOptions:
    """ImageOptions from every option's value (None: left out), once the values agree."""
    size, aspect = values.pop("size"), values.pop("aspect")
    if aspect is not None:
        size = aspect_size(aspect)
    chosen = {name: value for name, value in values.items() if value is not None}
    image_format = chosen.get("format", DEFAULTS["format"])
    if chosen.get("transparent") and not FORMATS[image_format].has_alpha:
        raise BadOption("transparent_format",
                        f"transparent=true needs a format with transparency "
                        f"({' or '.join(transparent_formats())}), not {image_format}",
                        "transparent")
    return ImageOptions(width=size[0] if size else None, height=size[1] if size else None,
                        **chosen)


def transparent_formats() -> list[str]:
    return [name for name, image_format in FORMATS.items() if image_format.has_alpha]


def opaque_format_spellings() -> list[str]:
    """Every way to ask for a format without transparency (jpeg, jpg)."""
    opaque = [name for name, image_format in FORMATS.items() if not image_format.has_alpha]
    return [*opaque, *(alias for alias, name in FORMAT_ALIASES.items() if name in opaque)]


def aspect_size(aspect: str) -> tuple[int, int]:
    """The pixel size of an aspect ratio, with its long side ASPECT_LONG_SIDE."""
    across, down = (int(part) for part in aspect.split(":"))
    if across >= down:
        return ASPECT_LONG_SIDE, round(ASPECT_LONG_SIDE * down / across)
    return round(ASPECT_LONG_SIDE * across / down), ASPECT_LONG_SIDE


def styled_prompt(prompt: str, style: str | None) -> str:
    """The prompt the upstream receives: the caller's, verbatim, then the style's words."""
    return f"{prompt}, {STYLES[style].words}" if style else prompt


def markdown_table(options: Sequence[Option] | None = None) -> str:
    """The README's table of options."""
    rows = ["| Parameter | Values | What it does |", "| --- | --- | --- |"]
    for option in options or declared_options(()):
        rows.append(f"| `{option.name}` | {option.kind.shown(option.default)} "
                    f"| {option.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
