"""What the web layer (and later, jobs) ask for: a checked image as asked, and storing one.

    prompt + options -> style words -> provider chain -> checks -> exact size -> transparency
    -> format -> (store)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from limits.storage import storage_from_string

from generator_client import ImageOptions, Provider, create_chain
from imaging import (
    FORMATS,
    PNG,
    ImageFormat,
    fit,
    make_transparent,
    open_checked,
    png_from_upstream,
)
from options import styled_prompt
from storage import ImageStore, StoredImage, create_store


@dataclass(frozen=True)
class RenderedImage:
    data: bytes
    format: ImageFormat
    width: int
    height: int
    provider: str  # the one that drew it


@dataclass
class ImageService:
    provider: Provider
    store: ImageStore
    image_ttl_seconds: int
    max_image_pixels: int
    lossy_quality: int = 90
    clock: Callable[[], float] = field(default=time.time)
    breakers: list = field(default_factory=list)  # one per provider, for /healthz

    @classmethod
    def from_config(cls, config: Mapping[str, Any], clock: Callable[[], float]) -> "ImageService":
        store = create_store(config, clock)
        shared = store.limits_storage()
        counters = storage_from_string(shared.uri, **shared.options)
        chain, breakers = create_chain(config, counters, clock)
        return cls(
            provider=chain,
            breakers=breakers,
            store=store,
            image_ttl_seconds=config["IMAGE_TTL"],
            max_image_pixels=config["MAX_IMAGE_PIXELS"],
            lossy_quality=config["LOSSY_QUALITY"],
            clock=clock,
        )

    def render(self, prompt: str, options: ImageOptions = ImageOptions()) -> RenderedImage:
        generated = self.provider.generate(styled_prompt(prompt, options.style), options)
        image = generated.image or open_checked(generated.data, self.max_image_pixels)
        image_format = FORMATS[options.format]
        if options.size is None and not options.transparent and image_format is PNG:
            # Nothing to change: a well-formed PNG goes out byte for byte, with no re-encoding.
            data = png_from_upstream(generated.data, image)
        else:
            if options.size is not None:
                image = fit(image, options.size)
            if options.transparent:
                image = make_transparent(image)
            data = image_format.encode(image, self.lossy_quality)
        return RenderedImage(data, image_format, image.width, image.height, generated.provider)

    def render_and_store(self, prompt: str,
                         options: ImageOptions = ImageOptions()) -> tuple[RenderedImage, StoredImage]:
        # Render and check first: a failed generation leaves nothing behind in the store.
        rendered = self.render(prompt, options)
        stored = self.store.put(rendered.data, rendered.format.mime, self.image_ttl_seconds)
        return rendered, stored
