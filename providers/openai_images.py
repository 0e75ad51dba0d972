"""OpenAI's images API (or any server that speaks it), through the official ``openai`` SDK.

The model draws only a few sizes; the nearest in shape is asked for and the service crops and
resizes to the exact size. Images come back as base64, never as a URL to fetch.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
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
from generator_client import Editor, GeneratedImage, ImageOptions, UpstreamProvider
from providers.http_upstream import retry_after_seconds, too_large_message

# The sizes each model family draws (OpenAI's API reference); others get the gpt-image sizes.
SIZES = {
    "dall-e-2": ((256, 256), (512, 512), (1024, 1024)),
    "dall-e-3": ((1024, 1024), (1792, 1024), (1024, 1792)),
    "gpt-image": ((1024, 1024), (1536, 1024), (1024, 1536)),
}


class OpenAIProvider(UpstreamProvider, Editor):
    name = "openai"

    def __init__(self, api_key: str, base_url: str, model: str, connect_timeout: float,
                 read_timeout: float, max_bytes: int):
        self.model = model
        self.max_bytes = max_bytes
        self.base_url = base_url
        # No SDK retries: fallback and the breaker decide what happens after a failure.
        self.client = openai.OpenAI(
            api_key=api_key, base_url=base_url, max_retries=0,
            timeout=openai.Timeout(read_timeout, connect=connect_timeout))

    @property
    def upstream(self) -> str:
        return f"{self.base_url} model={self.model}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OpenAIProvider:
        return cls(config["OPENAI_API_KEY"], config["OPENAI_BASE_URL"], config["OPENAI_MODEL"],
                   config["UPSTREAM_CONNECT_TIMEOUT"], config["UPSTREAM_TIMEOUT"],
                   config["MAX_UPSTREAM_BYTES"])

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        return self._call(self.client.images.generate, self._arguments(prompt, options.size))

    def edit(self, prompt: str, image_png: bytes, mask_png: bytes,
             options: ImageOptions) -> GeneratedImage:
        """OpenAI's own edit: redraws where ``mask_png`` is transparent."""
        arguments = self._arguments(prompt, options.size)
        arguments.update(image=("image.png", image_png, "image/png"),
                         mask=("mask.png", mask_png, "image/png"))
        return self._call(self.client.images.edit, arguments)

    def _arguments(self, prompt: str, size: tuple[int, int] | None) -> dict[str, Any]:
        arguments: dict[str, Any] = {"model": self.model, "prompt": prompt, "n": 1,
                                     "size": "x".join(map(str, self.nearest_size(size)))}
        if not self.model.startswith("gpt-image"):
            arguments["response_format"] = "b64_json"  # gpt-image models only answer base64
        return arguments

    def _call(self, method: Callable[..., ImagesResponse],
              arguments: dict[str, Any]) -> GeneratedImage:
        try:
            result = method(**arguments)
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
        return GeneratedImage(data=self.decoded(result), provider=self.name)

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

    def decoded(self, result: ImagesResponse) -> bytes:
        encoded = result.data[0].b64_json if result.data else None
        if not encoded:
            raise BadUpstreamImage("The image generator answered without an image")
        if len(encoded) * 3 // 4 > self.max_bytes:
            raise BadUpstreamImage(too_large_message(self.max_bytes))
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise BadUpstreamImage("The image generator's base64 is not valid") from error
