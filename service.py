"""What the web layer and jobs ask for: checked images as asked (one, or n at once), edits,
and storing them.

    prompt + options -> style words -> provider chain -> checks -> exact size -> transparency
    -> format -> (store)
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from limits.storage import Storage, storage_from_string
from PIL import Image, ImageChops

import tokens
from clock import Clock
from errors import (
    ArtproxyError,
    BadImage,
    ImageNotFound,
    InvalidDeleteToken,
    VariationsUnsupported,
)
from generator_client import (
    PARTIAL_IMAGES,
    Editor,
    GeneratedImage,
    ImageOptions,
    PartialImages,
    Provider,
    Varier,
)
from imaging import (
    FORMATS,
    PNG,
    ImageFormat,
    declared_pixels,
    fit,
    make_transparent,
    open_checked,
    png_from_upstream,
    to_png,
)
from imaging.edits import (
    laid_over,
    open_editable,
    region_to_redraw,
    scaled_within,
    within_side,
)
from metrics import Metrics, NullMetrics
from options import MAX_SEED, MAX_SIDE, styled_prompt
from os_threads import INLINE_PIXELS, in_os_thread
from providers.breaker import CircuitBreaker
from providers.chain import create_chain
from providers.turns import Turns
from storage import ImageStore, StoredImage, create_store

if TYPE_CHECKING:
    from accounts.store import AccountStore

T = TypeVar("T")
AS_THE_UPSTREAM_DRAWS = ImageOptions()  # no option set: a PNG at the upstream's size


@dataclass(frozen=True)
class RenderedImage:
    data: bytes
    format: ImageFormat
    width: int
    height: int
    provider: str  # the one that drew it
    prompt: str = ""  # what the upstream received: the caller's, with the style's words


@dataclass(frozen=True)
class PartialsWanted:
    """Up to ``count`` unfinished pictures per picture, for ``send``, where the upstream gives
    them."""

    count: int
    send: Callable[[RenderedImage], None]


@dataclass
class ImageService:
    provider: Provider
    store: ImageStore
    image_ttl_seconds: int
    max_image_pixels: int
    lossy_quality: int = 90
    clock: Clock = field(default=time.time)
    breakers: list[CircuitBreaker] = field(default_factory=list)  # one per provider, for /healthz
    editors: dict[str, Editor] = field(default_factory=dict)  # providers that edit natively
    variers: dict[str, Varier] = field(default_factory=dict)  # providers that draw variations
    turns: dict[str, Turns] = field(default_factory=dict)  # providers with a concurrency limit
    # What every process of the deployment counts in (limits, breakers); None in bare tests.
    counters: Storage | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    # The accounts that pay for images (None without sign-in): jobs settle with it.
    accounts: AccountStore | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], clock: Clock,
                    metrics: Metrics | None = None) -> ImageService:
        store = create_store(config, clock)
        shared = store.limits_storage()
        counters = storage_from_string(shared.uri, **shared.options)
        assert isinstance(counters, Storage)  # a synchronous one, as every store names
        chain = create_chain(config, counters, clock, metrics or NullMetrics())
        return cls(
            provider=chain.provider,
            breakers=chain.breakers,
            editors=chain.editors,
            variers=chain.variers,
            turns=chain.turns,
            counters=counters,
            store=store,
            image_ttl_seconds=config["IMAGE_TTL"],
            max_image_pixels=config["MAX_IMAGE_PIXELS"],
            lossy_quality=config["LOSSY_QUALITY"],
            clock=clock,
            # Empty: this process's own secret (gunicorn.conf.py gives a whole instance one).
            secret_key=config["SECRET_KEY"] or secrets.token_hex(32),
        )

    def render(self, prompt: str, options: ImageOptions = AS_THE_UPSTREAM_DRAWS,
               partials: PartialsWanted | None = None) -> RenderedImage:
        styled = styled_prompt(prompt, options.style)
        with self.partials_sent(partials, options):
            generated = self.provider.generate(styled, options)
        if generated.image is not None and not heavy(generated.image, options):
            finished = self.finished(generated, options)  # light work: stay in the greenlet
        else:
            finished = in_os_thread(lambda: self.finished(generated, options))
        return replace(finished, prompt=styled)

    @contextmanager
    def partials_sent(self, partials: PartialsWanted | None,
                      options: ImageOptions) -> Iterator[None]:
        """While drawing: the upstream's partial pictures, if it streams them, finished as the
        final one will be (size, transparency, format) and sent on; one that cannot be used is
        left out."""
        if partials is None or not partials.count:
            yield
            return

        def send(data: bytes) -> None:
            try:
                partials.send(in_os_thread(lambda: self.finished(
                    GeneratedImage(data, provider=""), options)))
            except ArtproxyError:
                pass

        token = PARTIAL_IMAGES.set(PartialImages(partials.count, send))
        try:
            yield
        finally:
            PARTIAL_IMAGES.reset(token)

    def finished(self, generated: GeneratedImage, options: ImageOptions) -> RenderedImage:
        """The upstream's picture as asked."""
        image = generated.image or open_checked(generated.data, self.max_image_pixels)
        if options.leave_unchanged(image.size):
            # Nothing to change: a well-formed PNG goes out byte for byte, with no re-encoding.
            return RenderedImage(png_from_upstream(generated.data, image), PNG, image.width,
                                 image.height, generated.provider)
        return self.encoded(image, options, generated.provider)

    def encoded(self, image: Image.Image, options: ImageOptions, provider: str) -> RenderedImage:
        """``image`` at the asked size, transparency and format."""
        if options.size is not None:
            image = fit(image, options.size)
        if options.transparent:
            image = make_transparent(image)
        image_format = FORMATS[options.format]
        quality = self.lossy_quality if options.quality is None else options.quality
        return RenderedImage(image_format.encode(image, quality), image_format,
                             image.width, image.height, provider)

    def edit(self, prompt: str, image: Image.Image, region: Image.Image,
             options: ImageOptions = AS_THE_UPSTREAM_DRAWS,
             partials: PartialsWanted | None = None) -> RenderedImage:
        """``image`` redrawn by ``prompt`` inside ``region`` (an L mask, 255 = redraw); every
        pixel outside it is kept as it was.

        A provider whose upstream edits natively is asked to (when the call names it, or it is
        the only one configured); any other draws the prompt at the image's size, and the
        drawing is composited into the region."""
        prompt = styled_prompt(prompt, options.style)
        editor = self.native_editor(options.provider)
        original = image if image.mode == "RGBA" else image.convert("RGBA")
        if editor is not None:
            image_png, mask_png = in_os_thread(lambda: openai_edit_inputs(original, region))
            # Only a native edit's partial pictures are the edit's; another upstream's would be
            # its drawing before the caller's picture is laid around it.
            with self.partials_sent(partials, options):
                generated = editor.edit(prompt, image_png, mask_png, options)

            def edited() -> Image.Image:
                return open_checked(generated.data, self.max_image_pixels)
        else:
            drawing_options = replace(options, width=image.width, height=image.height)
            generated = self.provider.generate(prompt, drawing_options)

            def edited() -> Image.Image:
                return composited(generated, original, region, self.max_image_pixels)
        # The caller's size if it asked for one, else the image's own.
        sized = options if options.size else replace(options, width=image.width,
                                                    height=image.height)
        finished = in_os_thread(lambda: self.encoded(edited(), sized, generated.provider))
        return replace(finished, prompt=prompt)

    def render_many(self, prompt: str, options: ImageOptions, count: int,
                    partials: PartialsWanted | None = None) -> list[RenderedImage]:
        """``count`` different pictures of ``prompt``, drawn at once."""
        return in_parallel(lambda picture: self.render(prompt, picture, partials),
                           pictures(options, count))

    def editable(self, images_data: Sequence[bytes],
                 mask_data: bytes | None) -> tuple[Image.Image, Image.Image]:
        """The caller's images laid over one another in order, and the region to redraw: where
        the mask (applied to the first image) or, without one, the laid-over picture is
        transparent; at most MAX_SIDE a side. BadImage for images or a mask that cannot be
        used, and for images that hold more than ARTPROXY_MAX_IMAGE_PIXELS together, so that
        sixteen of them cost no more than one of the largest."""
        together = sum(declared_pixels(data) for data in images_data)
        if len(images_data) > 1 and together > self.max_image_pixels:
            raise BadImage(f"The images hold {together} pixels together; the limit is "
                           f"{self.max_image_pixels}", "image")
        return in_os_thread(lambda: self.edit_inputs(images_data, mask_data))

    def edit_many(self, prompt: str, editable: tuple[Image.Image, Image.Image],
                  options: ImageOptions, count: int,
                  partials: PartialsWanted | None = None) -> list[RenderedImage]:
        """``count`` different edits of an ``editable()`` picture and its region.

        An image larger than MAX_SIDE a side is edited scaled down to fit MAX_SIDE x MAX_SIDE,
        so an edit costs no more than a generation of that size."""
        image, region = editable
        return in_parallel(lambda picture: self.edit(prompt, image, region, picture, partials),
                           pictures(options, count))

    def edit_inputs(self, images_data: Sequence[bytes],
                    mask_data: bytes | None) -> tuple[Image.Image, Image.Image]:
        """The caller's images as one, and the region to redraw, at most MAX_SIDE a side. The
        first is scaled down before the others are laid over it, and each is decoded only
        when it is, so only two are in memory at once."""
        first, *others = images_data
        image = open_editable(first, "image", self.max_image_pixels)
        mask = (open_editable(mask_data, "mask", self.max_image_pixels)
                if mask_data is not None else None)
        region = None
        if mask is not None:  # the mask is the first image's, at its size
            image, region = within_side(image, region_to_redraw(image, mask), MAX_SIDE)
        elif others:
            image = scaled_within(image, MAX_SIDE)
        for data in others:
            image = laid_over(image, open_editable(data, "image", self.max_image_pixels))
        if region is None:  # without a mask, the laid-over picture's transparent pixels
            return within_side(image, region_to_redraw(image, None), MAX_SIDE)
        return image, region

    def vary_many(self, image_data: bytes, options: ImageOptions,
                  count: int) -> list[RenderedImage]:
        """``count`` variations of the caller's image, drawn by the provider named in
        ``options`` or the first that can; VariationsUnsupported when none can."""
        varier = self.check_variations(options.provider)
        image_png = in_os_thread(lambda: to_png(
            open_editable(image_data, "image", self.max_image_pixels)))

        def vary(picture: ImageOptions) -> RenderedImage:
            generated = varier.vary(image_png, picture)
            return in_os_thread(lambda: self.encoded(
                open_checked(generated.data, self.max_image_pixels), picture, generated.provider))

        return in_parallel(vary, pictures(options, count))

    def check_variations(self, provider: str | None) -> Varier:
        """The provider that draws variations (the one named, or the first that can);
        VariationsUnsupported when none does."""
        varier = (self.variers.get(provider) if provider
                  else next(iter(self.variers.values()), None))
        if varier is None:
            raise VariationsUnsupported(
                "No configured provider draws variations"
                + (f" as {provider}" if provider else "")
                + ": they need the openai provider with a dall-e-2 model (ARTPROXY_PROVIDER "
                "including openai, ARTPROXY_OPENAI_MODEL=dall-e-2)", "model")
        return varier

    def native_editor(self, provider: str | None) -> Editor | None:
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

    def render_and_store(self, prompt: str, options: ImageOptions = AS_THE_UPSTREAM_DRAWS
                         ) -> tuple[RenderedImage, StoredImage]:
        # Render and check first: a failed generation leaves nothing behind in the store.
        rendered = self.render(prompt, options)
        return rendered, self.keep(rendered)


def pictures(options: ImageOptions, count: int) -> list[ImageOptions]:
    """``count`` sets of options; with more than one, each gets its own seed so they differ."""
    if count == 1:
        return [options]
    first_seed = secrets.randbelow(MAX_SEED - count)
    return [replace(options, seed=first_seed + number) for number in range(count)]


def in_parallel(draw: Callable[[ImageOptions], T], each: list[ImageOptions]) -> list[T]:
    if len(each) == 1:
        return [draw(each[0])]
    # Under gevent these threads are greenlets: n upstream calls wait at once, not in turn.
    with ThreadPoolExecutor(max_workers=len(each)) as pool:
        return list(pool.map(draw, each))


def heavy(image: Image.Image, options: ImageOptions) -> bool:
    """Whether making ``image`` as asked takes long enough (some 50 ms or more) to be worth an
    OS thread. Per megapixel, measured: decoding and PNG about 25 ms, WebP or JPEG about 75,
    the transparent cut-out about 100; a small picture handed to a thread cost a tenth more CPU
    than the work itself (256x256: 6.3 against 5.7 ms a /generate)."""
    pixels = max(image.width * image.height, (options.width or 0) * (options.height or 0))
    if options.transparent:
        pixels *= 8
    elif options.format != PNG.name:
        pixels *= 4
    return pixels > INLINE_PIXELS


def openai_edit_inputs(original: Image.Image, region: Image.Image) -> tuple[bytes, bytes]:
    """The image and mask as PNGs for OpenAI's edit, which redraws where the mask is clear."""
    mask = original.copy()
    mask.putalpha(ImageChops.invert(region))
    return to_png(original), to_png(mask)


def composited(generated: GeneratedImage, original: Image.Image, region: Image.Image,
               max_pixels: int) -> Image.Image:
    """The upstream's drawing inside ``region``, ``original`` everywhere else."""
    drawn = generated.image or open_checked(generated.data, max_pixels)
    drawn = fit(drawn, original.size).convert("RGBA")
    return Image.composite(drawn, original, region)
