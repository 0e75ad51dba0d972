"""The fields of OpenAI's image requests, read into artproxy's prompt, options and answer.

Most of them are artproxy's image options (options.py) under OpenAI's names, some with words
of OpenAI's own for a value (``"size": "auto"`` leaves the size to the upstream). The others
are the API's own: ``model`` (artproxy's chain, or one provider), ``n`` and
``response_format``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from errors import BadOption, BadPrompt
from generator_client import ImageOptions
from options import checked_prompt, options_from_json

CHAIN_MODEL = "artproxy"  # the model that is the whole configured chain
RESPONSE_FORMATS = ("b64_json", "url")
DEFAULT_RESPONSE_FORMAT = "b64_json"


@dataclass(frozen=True)
class OpenAIName:
    """An option under OpenAI's name. ``words`` are OpenAI's words for some of its values (None
    is the option's default); with ``only_words`` nothing else is taken."""

    option: str
    words: Mapping[str, object] = field(default_factory=dict)
    only_words: bool = False

    def read(self, name: str, raw: object) -> object:
        """The option's JSON value for ``raw``, sent as ``name``; None when left out."""
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str):
            raise BadOption(f"invalid_{name}", f"{name} must be a string", name)
        if raw in self.words:
            return self.words[raw]
        if self.only_words:
            *others, last = self.words
            raise BadOption(f"invalid_{name}", f"{name} must be {', '.join(others)} or {last}",
                            name)
        return raw


OPENAI_NAMES: dict[str, OpenAIName] = {
    "size": OpenAIName("size", {"auto": None}),
    "background": OpenAIName("transparent", {"transparent": True, "opaque": False, "auto": None},
                             only_words=True),
    "output_format": OpenAIName("format"),
    # OpenAI's two dall-e-3 styles are accepted and change nothing.
    "style": OpenAIName("style", {"vivid": None, "natural": None}),
}
# An option at fault, by the name an OpenAI client knows it by.
PARAMS = {name.option: openai for openai, name in OPENAI_NAMES.items()} | {"provider": "model"}


@dataclass(frozen=True)
class ImagesRequest:
    prompt: str
    count: int  # n: how many pictures
    options: ImageOptions
    response_format: str


def read_request(fields: Mapping[str, Any], config: Mapping[str, Any]) -> ImagesRequest:
    """What a generation or edit asks for (a JSON body's or a form's fields); BadInput naming
    the field at fault."""
    try:
        prompt = checked_prompt(fields.get("prompt"), config["MAX_PROMPT_CHARS"],
                                "prompt is required")
    except BadPrompt as error:
        error.param = "prompt"
        raise
    providers = config["PROVIDER"]
    provider = read_model(text_field(fields, "model"), providers)
    count = read_count(fields.get("n"), config["MAX_IMAGES_PER_REQUEST"])
    values = {name.option: name.read(openai, fields.get(openai))
              for openai, name in OPENAI_NAMES.items()}
    response_format = text_field(fields, "response_format") or DEFAULT_RESPONSE_FORMAT
    if response_format not in RESPONSE_FORMATS:
        raise BadOption("invalid_response_format",
                        f"response_format must be {' or '.join(RESPONSE_FORMATS)}",
                        "response_format")
    options = options_from_json({**values, "provider": provider}, providers)
    return ImagesRequest(prompt, count, options, response_format)


def text_field(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise BadOption(f"invalid_{name}", f"{name} must be a string", name)
    return value


def read_model(model: str | None, providers: tuple[str, ...]) -> str | None:
    """The provider a model names; None for the whole chain."""
    if not model or model == CHAIN_MODEL:
        return None
    if model not in providers:
        raise BadOption("model_not_found", f"model must be {CHAIN_MODEL} or one of the configured "
                                           f"providers: {', '.join(providers)}; got {model!r}",
                        "model")
    return model


def read_count(raw: Any, largest: int) -> int:
    """``n``: a whole number from 1 to ``largest`` (1 when left out)."""
    if raw is None:
        return 1
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # JSON's 2.0 is the whole number 2
    try:
        count = int(raw) if not isinstance(raw, bool) else None
    except (TypeError, ValueError, OverflowError):  # JSON's 1e400 is infinity
        count = None
    if count is None or not 1 <= count <= largest or str(raw).strip() != str(count):
        raise BadOption("invalid_n", f"n must be a whole number from 1 to {largest}", "n")
    return count
