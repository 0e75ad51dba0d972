"""What the web layer (and later, jobs) ask for: a checked image for a prompt, and storing one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from generator_client import ImageOptions, Provider, create_provider
from imaging import PNG, png_from_upstream
from storage import ImageStore, StoredImage, create_store


@dataclass
class ImageService:
    provider: Provider
    store: ImageStore
    image_ttl_seconds: int
    max_image_pixels: int
    clock: Callable[[], float] = field(default=time.time)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], clock: Callable[[], float]) -> "ImageService":
        return cls(
            provider=create_provider(config["PROVIDER"], config),
            store=create_store(config, clock),
            image_ttl_seconds=config["IMAGE_TTL"],
            max_image_pixels=config["MAX_IMAGE_PIXELS"],
            clock=clock,
        )

    def generate_png(self, prompt: str, options: ImageOptions = ImageOptions()) -> bytes:
        generated = self.provider.generate(prompt, options)
        return png_from_upstream(generated.data, self.max_image_pixels)

    def generate_and_store(self, prompt: str, options: ImageOptions = ImageOptions()) -> StoredImage:
        # Generate and check first: a failed generation leaves nothing behind in the store.
        return self.store.put(self.generate_png(prompt, options), PNG.mime, self.image_ttl_seconds)
