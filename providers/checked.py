"""A provider whose answers are checked to be complete images within limits before anyone
takes them, so a broken answer counts as that provider's failure: the breaker sees it and the
fallback chain moves on to the next provider."""

from __future__ import annotations

from PIL import Image

from generator_client import GeneratedImage, ImageOptions, Provider
from imaging import declared_pixels, open_checked
from os_threads import INLINE_PIXELS, in_os_thread


class CheckedImages(Provider):
    def __init__(self, provider: Provider, max_pixels: int):
        self.provider = provider
        self.name = provider.name
        self.max_pixels = max_pixels

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        generated = self.provider.generate(prompt, options)
        def decoded() -> Image.Image:
            # BadUpstreamImage if not complete; a PNG that goes out as it came need not be
            # decoded to know it is (imaging/checks.py).
            return open_checked(generated.data, self.max_pixels,
                                passed_on=lambda image: options.leave_unchanged(image.size))

        # A large picture is decoded off the gevent loop (os_threads.py).
        heavy = declared_pixels(generated.data) > INLINE_PIXELS
        image = in_os_thread(decoded) if heavy else decoded()
        return GeneratedImage(data=generated.data, provider=generated.provider, image=image)
