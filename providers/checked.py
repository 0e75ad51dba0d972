"""A provider whose answers are checked to be complete images within limits before anyone
takes them, so a broken answer counts as that provider's failure: the breaker sees it and the
fallback chain moves on to the next provider."""

from __future__ import annotations

from generator_client import GeneratedImage, ImageOptions, Provider
from imaging import open_checked


class CheckedImages(Provider):
    def __init__(self, provider: Provider, max_pixels: int):
        self.provider = provider
        self.name = provider.name
        self.max_pixels = max_pixels

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        generated = self.provider.generate(prompt, options)
        image = open_checked(generated.data, self.max_pixels)  # BadUpstreamImage if not
        return GeneratedImage(data=generated.data, provider=generated.provider, image=image)
