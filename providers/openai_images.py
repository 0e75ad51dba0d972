"""OpenAI's images API (or any server that speaks it).

The model draws only a few sizes; the nearest in shape is asked for and the service crops and
resizes to the exact size. Images come back as base64, never as a URL to fetch.

A plain generation, the call nearly every request makes, is one JSON POST sent through
urllib3's pool. Streams, edits and variations go through the official ``openai`` SDK, which
knows their event and multipart shapes. Under bench/ target L the SDK's own work for a plain
generation (httpx, building the request, pydantic models of the answer) was a third of a
worker's CPU.
"""

from __future__ import annotations

import base64
import binascii
import json
import platform
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import openai
from openai.types import ImagesResponse

from capacity import out_of_descriptors
from errors import (
    BadUpstreamImage,
    ServerBusy,
    UpstreamBusy,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from generator_client import (
    PARTIAL_IMAGES,
    Editor,
    GeneratedImage,
    ImageOptions,
    PartialImages,
    UpstreamProvider,
    Varier,
)
from providers.http_upstream import (
    UpstreamPool,
    raise_for_status,
    read_body,
    retry_after_seconds,
    timeouts,
    too_large_message,
)

# The sizes each model family draws (OpenAI's API reference); others get the gpt-image sizes.
SIZES = {
    "dall-e-2": ((256, 256), (512, 512), (1024, 1024)),
    "dall-e-3": ((1024, 1024), (1792, 1024), (1024, 1792)),
    "gpt-image": ((1024, 1024), (1536, 1024), (1024, 1536)),
}
STREAMING_MODELS = ("gpt-image", "chatgpt-image")
MAX_PARTIAL_IMAGES = 3  # OpenAI's limit
# Room in an answer for what surrounds the base64 (OpenAI's usage, a revised prompt).
ANSWER_ENVELOPE_BYTES = 64 * 1024


class OpenAIProvider(UpstreamProvider, Editor, Varier):
    name = "openai"

    def __init__(self, api_key: str, base_url: str, model: str, connect_timeout: float,
                 read_timeout: float, max_bytes: int):
        self.model = model
        self.max_bytes = max_bytes
        self.base_url = base_url
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.generations_url = base_url.rstrip("/") + "/images/generations"
        self.connections = UpstreamPool(self.generations_url)
        # No SDK retries: fallback and the breaker decide what happens after a failure.
        self.client = openai.OpenAI(
            api_key=api_key, base_url=base_url, max_retries=0,
            timeout=openai.Timeout(read_timeout, connect=connect_timeout))
        # The SDK describes the platform in headers, and Python learns the processor by running
        # `uname -p`, once: asked here, not by each call of the first burst (200 clients made a
        # worker fork a dozen times).
        platform.platform()
        # Plain generations send what the SDK's calls send, with what it reads from the
        # environment (OPENAI_ORG_ID, OPENAI_PROJECT_ID, OPENAI_CUSTOM_HEADERS).
        self.headers = {name: value for name, value in {
            **self.client.default_headers, **self.client.auth_headers}.items()
            if isinstance(value, str)}

    @property
    def upstream(self) -> str:
        return f"{self.base_url} model={self.model}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OpenAIProvider:
        return cls(config["OPENAI_API_KEY"], config["OPENAI_BASE_URL"], config["OPENAI_MODEL"],
                   config["UPSTREAM_CONNECT_TIMEOUT"], config["UPSTREAM_TIMEOUT"],
                   config["MAX_UPSTREAM_BYTES"])

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        arguments = self._arguments(prompt, options.size)
        if self._streams():
            return self._drawn(self.client.images.generate, arguments)
        return GeneratedImage(data=self.decoded(self._posted(arguments)), provider=self.name)

    def _posted(self, arguments: dict[str, Any]) -> str | None:
        """The base64 of the picture ``arguments`` ask for, from one POST with one deadline for
        the whole call; failures map as every HTTP provider's do."""
        deadline = time.monotonic() + self.read_timeout
        base64_bytes = (self.max_bytes + 2) // 3 * 4
        with self.connections.request(
                "POST", self.generations_url, body=json.dumps(arguments).encode(),
                headers=self.headers, timeout=timeouts(self.connect_timeout, deadline)) as answer:
            raise_for_status(answer)
            body = read_body(answer, deadline, base64_bytes + ANSWER_ENVELOPE_BYTES)
        try:
            return first_of(json.loads(body))
        except (ValueError, TypeError, LookupError, RecursionError) as error:
            raise BadUpstreamImage(NOT_OPENAI_SHAPE) from error

    def _streams(self) -> bool:
        """True when someone wants the partial pictures on the way and the model streams
        (gpt-image models do, dall-e ones do not)."""
        return PARTIAL_IMAGES.get() is not None and self.model.startswith(STREAMING_MODELS)

    def edit(self, prompt: str, image_png: bytes, mask_png: bytes,
             options: ImageOptions) -> GeneratedImage:
        """OpenAI's own edit: redraws where ``mask_png`` is transparent."""
        arguments = self._arguments(prompt, options.size)
        arguments.update(image=("image.png", image_png, "image/png"),
                         mask=("mask.png", mask_png, "image/png"))
        return self._drawn(self.client.images.edit, arguments)

    def _drawn(self, method: Callable[..., Any], arguments: dict[str, Any]) -> GeneratedImage:
        """The picture, through the SDK, asked for as a stream when ``_streams()``."""
        partials = PARTIAL_IMAGES.get()
        if partials is None or not self._streams():
            return self._call(lambda: first_image(method(**arguments)))
        arguments.update(stream=True, partial_images=min(partials.wanted, MAX_PARTIAL_IMAGES))
        return self._call(lambda: self.streamed(method(**arguments), partials))

    def streamed(self, events: Iterable[Any], partials: PartialImages) -> str | None:
        """The completed picture's base64; the partial ones before it, up to those wanted,
        are sent on as they come."""
        sent = 0
        for event in events:
            if event.type.endswith(".partial_image") and sent < partials.wanted:
                try:
                    partial = self.decoded(event.b64_json)
                except BadUpstreamImage:
                    continue  # an unfinished picture that cannot be used is left out
                partials.send(partial)
                sent += 1
            elif event.type.endswith(".completed"):
                return str(event.b64_json)
        return None

    @property
    def draws_variations(self) -> bool:
        return self.model.startswith("dall-e-2")  # the only model OpenAI draws them with

    def vary(self, image_png: bytes, options: ImageOptions) -> GeneratedImage:
        arguments = self._arguments(None, options.size)
        arguments["image"] = ("image.png", image_png, "image/png")
        with warnings.catch_warnings():
            # The SDK marks variations deprecated, as dall-e-2 is; they still work, and the
            # servers that speak OpenAI's API still draw them.
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._call(
                lambda: first_image(self.client.images.create_variation(**arguments)))

    def _arguments(self, prompt: str | None, size: tuple[int, int] | None) -> dict[str, Any]:
        arguments: dict[str, Any] = {"model": self.model, "n": 1,
                                     "size": "x".join(map(str, self.nearest_size(size)))}
        if prompt is not None:
            arguments["prompt"] = prompt
        if not self.model.startswith("gpt-image"):
            arguments["response_format"] = "b64_json"  # gpt-image models only answer base64
        return arguments

    def _call(self, fetch: Callable[[], str | None]) -> GeneratedImage:
        """The upstream's picture, from ``fetch``'s base64, with its failures as artproxy's."""
        try:
            encoded = fetch()
        except openai.APITimeoutError as error:
            raise UpstreamTimeout() from error
        except openai.APIConnectionError as error:
            if out_of_descriptors(error):
                raise ServerBusy() from error
            raise UpstreamUnavailable() from error
        except openai.RateLimitError as error:
            retry_after = retry_after_seconds(error.response.headers.get("Retry-After"))
            raise UpstreamBusy(retry_after) from error
        except openai.APIStatusError as error:
            if error.status_code >= 500:
                raise UpstreamUnavailable(
                    f"The image generator failed with status {error.status_code}") from error
            raise UpstreamRejected(f"The image generator refused the request with status "
                                   f"{error.status_code}") from error
        except openai.APIError as error:  # an error event in the middle of a stream
            raise UpstreamUnavailable("The image generator failed while drawing") from error
        return GeneratedImage(data=self.decoded(encoded), provider=self.name)

    def nearest_size(self, wanted: tuple[int, int] | None) -> tuple[int, int]:
        family = next((name for name in SIZES if self.model.startswith(name)), "gpt-image")
        sizes = SIZES[family]
        if wanted is None:
            return (1024, 1024) if (1024, 1024) in sizes else sizes[-1]
        aspect = wanted[0] / wanted[1]
        # Closest in shape first (less is cropped away), then the smallest that covers the size.
        return min(sizes, key=lambda size: (
            abs(size[0] / size[1] - aspect),
            max(0, wanted[0] - size[0]) + max(0, wanted[1] - size[1]),
            size[0] * size[1]))

    def decoded(self, encoded: str | None) -> bytes:
        if not encoded:
            raise BadUpstreamImage("The image generator answered without an image")
        if len(encoded) * 3 // 4 > self.max_bytes:
            raise BadUpstreamImage(too_large_message(self.max_bytes))
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise BadUpstreamImage("The image generator's base64 is not valid") from error


NOT_OPENAI_SHAPE = "The image generator did not answer in OpenAI's shape"


def first_image(result: ImagesResponse) -> str | None:
    if not isinstance(result, ImagesResponse):  # the SDK hands over a body that is not JSON as text
        raise BadUpstreamImage(NOT_OPENAI_SHAPE)
    return result.data[0].b64_json if result.data else None


def first_of(answer: Any) -> str | None:
    """The first picture's base64 in an answer's parsed JSON, None when it holds none;
    TypeError or LookupError when the JSON is not in OpenAI's shape."""
    pictures = answer["data"]
    if not isinstance(pictures, list):
        raise TypeError("data is not a list")
    if not pictures:
        return None
    if not isinstance(pictures[0], dict):
        raise TypeError("a picture is not an object")
    encoded = pictures[0].get("b64_json")
    if encoded is not None and not isinstance(encoded, str):
        raise TypeError("b64_json is not a string")
    return encoded
