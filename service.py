"""What the web layer (and later, jobs) ask for: a checked image as asked, and storing one.

    prompt + options -> style words -> provider chain -> checks -> exact size -> transparency
    -> format -> (store)
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from limits.storage import storage_from_string
from PIL import Image, ImageChops

import tokens
from errors import ImageNotFound, InvalidDeleteToken
from generator_client import ImageOptions, Provider, create_chain
from imaging import (
    FORMATS,
    PNG,
    ImageFormat,
    fit,
    make_transparent,
    open_checked,
    png_from_upstream,
    to_png,
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
    editors: dict = field(default_factory=dict)  # providers whose upstream edits natively
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], clock: Callable[[], float],
                    metrics=None) -> "ImageService":
        store = create_store(config, clock)
        shared = store.limits_storage()
        counters = storage_from_string(shared.uri, **shared.options)
        chain, breakers, bare = create_chain(config, counters, clock, metrics)
        return cls(
            provider=chain,
            breakers=breakers,
            editors={name: provider for name, provider in bare.items() if hasattr(provider, "edit")},
            store=store,
            image_ttl_seconds=config["IMAGE_TTL"],
            max_image_pixels=config["MAX_IMAGE_PIXELS"],
            lossy_quality=config["LOSSY_QUALITY"],
            clock=clock,
            # Empty: this process's own secret (gunicorn.conf.py gives a whole instance one).
            secret_key=config["SECRET_KEY"] or secrets.token_hex(32),
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

    def edit(self, prompt: str, image: Image.Image, region: Image.Image,
             options: ImageOptions = ImageOptions()) -> RenderedImage:
        """``image`` redrawn by ``prompt`` inside ``region`` (an L mask, 255 = redraw); every
        pixel outside it is kept as it was.

        A provider whose upstream edits natively is asked to (when the call names it, or it is
        the only one configured); any other draws the prompt at the image's size, and the
        drawing is composited into the region."""
        prompt = styled_prompt(prompt, options.style)
        editor = self.native_editor(options.provider)
        original = image.convert("RGBA")
        if editor is not None:
            mask = original.copy()
            mask.putalpha(ImageChops.invert(region))  # OpenAI: transparent = redraw
            generated = editor.edit(prompt, to_png(original), to_png(mask), options)
            edited = open_checked(generated.data, self.max_image_pixels)
        else:
            drawing_options = replace(options, width=image.width, height=image.height)
            generated = self.provider.generate(prompt, drawing_options)
            drawn = generated.image or open_checked(generated.data, self.max_image_pixels)
            drawn = fit(drawn, image.size).convert("RGBA")
            edited = Image.composite(drawn, original, region)
        if options.size is not None:
            edited = fit(edited, options.size)
        elif edited.size != image.size:
            edited = fit(edited, image.size)
        if options.transparent:
            edited = make_transparent(edited)
        image_format = FORMATS[options.format]
        return RenderedImage(image_format.encode(edited, self.lossy_quality), image_format,
                             edited.width, edited.height, generated.provider)

    def native_editor(self, provider: str | None):
        """The provider to ask for a native edit: the one named, or the only one configured."""
        if provider is not None:
            return self.editors.get(provider)
        if len(self.breakers) == 1 and self.editors:
            return next(iter(self.editors.values()))
        return None

    def delete_token(self, name: str) -> str:
        return tokens.delete_token(self.secret_key, name)

    def delete_with_token(self, name: str, presented: str) -> None:
        """Delete a live image whose token the caller holds: ImageNotFound, InvalidDeleteToken."""
        if self.store.get(name) is None:
            raise ImageNotFound()
        if not tokens.token_matches(self.secret_key, name, presented):
            raise InvalidDeleteToken()
        self.store.delete(name)

    def keep(self, rendered: RenderedImage) -> StoredImage:
        """Store a rendered image for ARTPROXY_IMAGE_TTL seconds."""
        return self.store.put(rendered.data, rendered.format.mime, self.image_ttl_seconds)

    def render_and_store(self, prompt: str,
                         options: ImageOptions = ImageOptions()) -> tuple[RenderedImage, StoredImage]:
        # Render and check first: a failed generation leaves nothing behind in the store.
        rendered = self.render(prompt, options)
        return rendered, self.keep(rendered)
