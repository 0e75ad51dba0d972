"""What the routes ask for: a checked PNG for a prompt, and storing one for a while."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from generator_client import ImageOptions, Provider
from imaging import png_from_upstream
from storage import ImageStore, StoredImage

PNG = "image/png"


@dataclass
class ImageService:
    provider: Provider
    store: ImageStore
    image_ttl_seconds: int
    max_image_pixels: int
    clock: Callable[[], float] = field(default=time.time)

    def generate_png(self, prompt: str, options: ImageOptions = ImageOptions()) -> bytes:
        generated = self.provider.generate(prompt, options)
        return png_from_upstream(generated.data, self.max_image_pixels)

    def generate_and_store(self, prompt: str, options: ImageOptions = ImageOptions()) -> StoredImage:
        # Generate and check first: a failed generation leaves nothing behind in the store.
        return self.store.put(self.generate_png(prompt, options), PNG, self.image_ttl_seconds)
