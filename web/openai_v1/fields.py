"""The fields of OpenAI's image requests, read into artproxy's prompt, options and answer.

Most of them are artproxy's image options (options.py) under OpenAI's names, some with words
of OpenAI's own for a value (``"size": "auto"`` leaves the size to the upstream). The others
are the API's own: ``model`` (artproxy's chain, or one provider), ``n``, ``response_format``,
``stream`` and ``partial_images``, and a few that OpenAI's models use and artproxy's upstreams
have no use for (``quality``, ``moderation``, ``input_fidelity``, ``user``): they are checked as
OpenAI checks them and change nothing. Fields OpenAI does not know are ignored, as it ignores
them. Multipart forms (edits, variations) send every value as text; JSON sends each in its type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from errors import BadOption, BadPrompt, ModelNotFound
from generator_client import ImageOptions
from option_kinds import Choice, Flag, Kind, WholeNumber
from options import Option, checked_prompt, declared_options, options_from_json

CHAIN_MODEL = "artproxy"  # the model that is the whole configured chain
RESPONSE_FORMATS = ("b64_json", "url")
# OpenAI's image models, released and to come; always drawn by the chain (or an alias).
OPENAI_MODELS = re.compile(r"dall-e-\d+|(chatgpt-|gpt-)image(-[\w.]+)*")
OPENAI_MODELS_LISTED = ("dall-e-2", "dall-e-3", "gpt-image-1")
MAX_PARTIAL_IMAGES = 3


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
        if isinstance(raw, str) and raw in self.words:
            return self.words[raw]
        if self.only_words:
            *others, last = self.words
            raise BadOption(f"invalid_{name}", f"{name} must be {', '.join(others)} or {last}",
                            name)
        return raw  # the option checks it


OPENAI_NAMES: dict[str, OpenAIName] = {
    "size": OpenAIName("size", {"auto": None}),
    "background": OpenAIName("transparent", {"transparent": True, "opaque": False, "auto": None},
                             only_words=True),
    "output_format": OpenAIName("format"),
    # OpenAI's name is a misnomer: like a quality, 100 keeps the most.
    "output_compression": OpenAIName("quality"),
    # OpenAI's two dall-e-3 styles are accepted and change nothing.
    "style": OpenAIName("style", {"vivid": None, "natural": None}),
}
# An option at fault, by the name an OpenAI client knows it by.
PARAMS = {name.option: openai for openai, name in OPENAI_NAMES.items()} | {"provider": "model"}



def api_field(name: str, kind: Kind, description: str) -> Option:
    return Option(name, kind, f"invalid_{name}", description)


# The API's own fields, read and refused as options are, and what leaving one out means.
API_FIELDS: dict[str, tuple[Option, object]] = {
    "quality": (api_field("quality", Choice(("auto", "low", "medium", "high", "standard", "hd")),
                          "Said again in the answer; changes nothing"), "auto"),
    "moderation": (api_field("moderation", Choice(("auto", "low")), "Changes nothing"), "auto"),
    "input_fidelity": (api_field("input_fidelity", Choice(("high", "low")), "Changes nothing"),
                       None),
    "stream": (api_field("stream", Flag(), "Answer as OpenAI's server-sent events"), False),
    "partial_images": (api_field("partial_images", WholeNumber(0, MAX_PARTIAL_IMAGES),
                                 "Unfinished pictures to stream, where the upstream gives them"),
                       0),
}


@dataclass(frozen=True)
class ImagesRequest:
    prompt: str
    count: int  # n: how many pictures
    options: ImageOptions
    response_format: str
    quality: str  # as asked, said again in the answer
    stream: bool = False
    partial_images: int = 0


def read_request(fields: Mapping[str, Any], config: Mapping[str, Any],
                 from_form: bool = False) -> ImagesRequest:
    """What a generation or edit asks for (a JSON body's fields, or with ``from_form`` a
    multipart form's); BadInput naming the field at fault."""
    try:
        prompt = checked_prompt(fields.get("prompt"), config["MAX_PROMPT_CHARS"],
                                "prompt is required")
    except BadPrompt as error:
        error.param = "prompt"
        raise
    model = text_field(fields, "model")
    provider = read_model(model, config)
    count = read_count(fields.get("n"), config["MAX_IMAGES_PER_REQUEST"], from_form)
    api = {name: read_api_field(fields, option, from_form, default)
           for name, (option, default) in API_FIELDS.items()}
    text_field(fields, "user")  # taken, and only checked
    return ImagesRequest(prompt, count, read_options(fields, provider, config, from_form),
                         read_response_format(fields, model), cast(str, api["quality"]),
                         cast(bool, api["stream"]), cast(int, api["partial_images"]))


def read_options(fields: Mapping[str, Any], provider: str | None, config: Mapping[str, Any],
                 from_form: bool) -> ImageOptions:
    values = {name.option: name.read(openai, fields.get(openai))
              for openai, name in OPENAI_NAMES.items()}
    providers = config["PROVIDER"]
    try:
        if from_form:
            for option in declared_options(providers):
                value = values.get(option.name)
                if isinstance(value, str) and option.kind.json_type != "string":
                    values[option.name] = option.from_text(value)
        return options_from_json({**values, "provider": provider}, providers)
    except BadOption as error:
        if error.param in PARAMS:  # said with the name the caller sent
            sent_as = PARAMS[error.param]
            error.message = (error.message.replace(f"{error.param} must", f"{sent_as} must", 1)
                             .replace("transparent=true", 'background "transparent"', 1))
            error.param = sent_as
        raise


def read_api_field(fields: Mapping[str, Any], option: Option, from_form: bool,
                   default: object) -> object:
    """The field's value, or ``default`` when it is left out (null, or empty)."""
    raw = fields.get(option.name)
    if raw is None or raw == "":
        return default
    return option.from_text(raw) if from_form and isinstance(raw, str) else option.from_json(raw)


def read_response_format(fields: Mapping[str, Any], model: str | None) -> str:
    """As asked; left out, ``url`` for the dall-e models and ``b64_json`` for the rest, as
    OpenAI's own defaults are."""
    response_format = text_field(fields, "response_format")
    if not response_format:
        return "url" if model and model.startswith("dall-e-") else "b64_json"
    if response_format not in RESPONSE_FORMATS:
        raise BadOption("invalid_response_format",
                        f"response_format must be {' or '.join(RESPONSE_FORMATS)}",
                        "response_format")
    return response_format


def text_field(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise BadOption(f"invalid_{name}", f"{name} must be a string", name)
    return value


def read_model(model: str | None, config: Mapping[str, Any]) -> str | None:
    """The provider a model names; None for the whole chain."""
    if not model or model == CHAIN_MODEL:
        return None
    if model in config["MODEL_ALIASES"]:
        return str(config["MODEL_ALIASES"][model])
    if model in config["PROVIDER"]:
        return model
    if config["STRICT_MODELS"] and not OPENAI_MODELS.fullmatch(model):
        raise ModelNotFound(f"The model {model!r} does not exist: use {CHAIN_MODEL}, one of "
                            f"GET /v1/models, or one of OpenAI's image models")
    return None


def read_count(raw: Any, largest: int, from_form: bool = False) -> int:
    """``n``: a whole number from 1 to ``largest`` (1 when left out); text only in a form."""
    if raw is None:
        return 1
    if isinstance(raw, str) and not from_form:
        raise BadOption("invalid_n", "n must be a number, not text", "n")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # JSON's 2.0 is the whole number 2
    try:
        count = int(raw) if not isinstance(raw, bool) else None
    except (TypeError, ValueError, OverflowError):  # JSON's 1e400 is infinity
        count = None
    if count is None or not 1 <= count <= largest or str(raw).strip() != str(count):
        raise BadOption("invalid_n", f"n must be a whole number from 1 to {largest}", "n")
    return count
