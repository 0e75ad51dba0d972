"""The upstream contract: what a provider is, how one is chosen, and how it fails.

A provider turns a prompt into image bytes and nothing more. Checking those bytes,
converting them and storing them is the service's job, so every provider gets it for free.
Implementations live in ``providers/``; adding one is a module there and a line in PROVIDERS
(chosen the way stores are: plugins.py). providers/chain.py wires the configured ones together.
This module imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import plugins
from config import ConfigError
from errors import (  # noqa: F401  (re-exported: the failures a provider may raise)
    BadUpstreamImage,
    UpstreamBusy,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)


@dataclass(frozen=True)
class ImageOptions:
    """How the caller wants the picture drawn (options.py parses and checks them).

    A provider uses what its upstream can do natively (``width``/``height``, ``seed``) and
    ignores the rest: the service crops and resizes to the exact size, cuts the background out,
    encodes the format and adds the style's words to the prompt, for every provider alike.
    """

    width: int | None = None  # both set, or neither (keep the upstream's size)
    height: int | None = None
    seed: int | None = None
    style: str | None = None
    transparent: bool = False
    format: str = "png"
    quality: int | None = None  # a lossy format's, 0-100; None: ARTPROXY_LOSSY_QUALITY
    provider: str | None = None  # one configured provider for this call only

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None

    def leave_unchanged(self, drawn_size: tuple[int, int]) -> bool:
        """True when nothing is asked of an upstream's PNG of ``drawn_size``: its own size,
        or the size asked when the upstream drew exactly that, kept opaque, as a PNG."""
        return self.size in (None, drawn_size) and not self.transparent and self.format == "png"


@dataclass(frozen=True)
class GeneratedImage:
    """Bytes as the upstream sent them, and once checked (providers/checked.py), the decoded
    image; a provider itself returns only the bytes."""

    data: bytes
    provider: str
    image: Any = None  # a Pillow image, set by CheckedImages


@dataclass(frozen=True)
class PartialImages:
    """Someone who wants up to ``wanted`` unfinished pictures of a call as the upstream draws
    them; ``send`` takes each one's bytes."""

    wanted: int
    send: Callable[[bytes], None]


@dataclass(frozen=True)
class UpstreamProgress:
    """Where a call stands in its upstream's own queue, as the upstream last said (AI Horde
    tells it; most upstreams simply answer)."""

    provider: str
    queue_position: int | None  # 1 = next to be drawn; 0 = being drawn
    wait_seconds: float | None  # the upstream's estimate of the wait left

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "upstream_queue_position": self.queue_position,
                "upstream_wait_seconds": self.wait_seconds}


# Set around a call by whoever shows progress (a job's runner); a provider whose upstream
# reports on its queue sends each report there, through report_progress().
UPSTREAM_PROGRESS: ContextVar[Callable[[UpstreamProgress], None] | None] = ContextVar(
    "upstream_progress", default=None)


def report_progress(progress: UpstreamProgress) -> None:
    report = UPSTREAM_PROGRESS.get()
    if report is not None:
        report(progress)


# Set around a call by whoever streams (the service, for /v1's streams); a provider whose
# upstream streams partial images sends them there, any other ignores it.
PARTIAL_IMAGES: ContextVar[PartialImages | None] = ContextVar("partial_images", default=None)


class Provider(Protocol):
    """Anything that draws: an upstream's client, or one of the wrappers that providers/chain.py
    puts around it (checks, breaker, metrics, merging, fallback)."""

    name: str

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        """Return the upstream's image for ``prompt`` or raise an UpstreamError subclass."""
        ...


class UpstreamProvider(Provider, Protocol):
    """A provider that calls one upstream, chosen by its name in PROVIDERS."""

    @property
    def upstream(self) -> str:
        """What the upstream is: its URL, and the model where one is set. Shared state about
        it (its circuit breaker) is kept under this, so a corrected URL starts afresh and two
        instances that call different upstreams never rest each other."""
        ...

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> UpstreamProvider:
        """Build the provider from the app's settings (``app.config``)."""
        ...


@runtime_checkable
class Editor(Protocol):
    """A provider whose upstream edits images itself (openai); the others are composited."""

    def edit(self, prompt: str, image_png: bytes, mask_png: bytes,
             options: ImageOptions) -> GeneratedImage:
        """The upstream's edit of ``image_png`` where ``mask_png`` is transparent."""
        ...


@runtime_checkable
class Varier(Protocol):
    """A provider whose upstream may draw variations of an image (openai, with a dall-e-2
    model); ``draws_variations`` says whether this one's does."""

    @property
    def draws_variations(self) -> bool:
        ...

    def vary(self, image_png: bytes, options: ImageOptions) -> GeneratedImage:
        """A new picture in the manner of ``image_png``."""
        ...


# name -> "module:Class"; imported only when chosen, so an unused provider costs nothing.
PROVIDERS: dict[str, str] = {
    "magicstudio": "providers.magicstudio:MagicStudioProvider",
    "pollinations": "providers.pollinations:PollinationsProvider",
    "horde": "providers.horde:HordeProvider",
    "openai": "providers.openai_images:OpenAIProvider",
    "offline": "providers.offline:OfflineProvider",
}


# Settings a provider cannot work without; checked at startup, before anything is imported.
REQUIRED_SETTINGS: dict[str, tuple[str, ...]] = {"openai": ("OPENAI_API_KEY",)}


def check_providers(config: Mapping[str, Any]) -> None:
    """ConfigError for an unknown provider name or a missing required setting. Imports nothing,
    so gunicorn's master can call it before its workers patch the standard library."""
    for alias, name in config["MODEL_ALIASES"].items():
        if name not in config["PROVIDER"]:
            raise ConfigError(f"ARTPROXY_MODEL_ALIASES routes {alias} to {name}, which is not "
                              f"one of ARTPROXY_PROVIDER ({', '.join(config['PROVIDER'])})")
    for name in config["PROVIDER"]:
        plugins.target(PROVIDERS, name, "PROVIDER")
        for setting in REQUIRED_SETTINGS.get(name, ()):
            if not config[setting]:
                raise ConfigError(f"ARTPROXY_{setting} must be set to use the {name} provider")
