"""The upstream contract: what a provider is, how one is chosen, and how it fails.

A provider turns a prompt into image bytes and nothing more. Checking those bytes,
converting them and storing them is the service's job, so every provider gets it for free.
Implementations live in ``providers/``; adding one is a module there and a line in PROVIDERS
(chosen the way stores are: plugins.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

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
    provider: str | None = None  # one configured provider for this call only

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None


@dataclass(frozen=True)
class GeneratedImage:
    """Bytes as the upstream sent them, and once checked (providers/checked.py), the decoded
    image; a provider itself returns only the bytes."""

    data: bytes
    provider: str
    image: Any = None  # a Pillow image, set by CheckedImages


class Provider(Protocol):
    name: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Provider":
        """Build the provider from the app's settings (``app.config``)."""
        ...

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        """Return the upstream's image for ``prompt`` or raise an UpstreamError subclass."""
        ...


class Editor(Protocol):
    """A provider whose upstream edits images itself (openai); the others are composited."""

    def edit(self, prompt: str, image_png: bytes, mask_png: bytes,
             options: ImageOptions) -> GeneratedImage:
        """The upstream's edit of ``image_png`` where ``mask_png`` is transparent."""
        ...


# name -> "module:Class"; imported only when chosen, so an unused provider costs nothing.
PROVIDERS: dict[str, str] = {
    "magicstudio": "providers.magicstudio:MagicStudioProvider",
    "pollinations": "providers.pollinations:PollinationsProvider",
    "openai": "providers.openai_images:OpenAIProvider",
    "offline": "providers.offline:OfflineProvider",
}


# Settings a provider cannot work without; checked at startup, before anything is imported.
REQUIRED_SETTINGS: dict[str, tuple[str, ...]] = {"openai": ("OPENAI_API_KEY",)}


def check_providers(config: Mapping[str, Any]) -> None:
    """ConfigError for an unknown provider name or a missing required setting. Imports nothing,
    so gunicorn's master can call it before its workers patch the standard library."""
    for name in config["PROVIDER"]:
        plugins.target(PROVIDERS, name, "PROVIDER")
        for setting in REQUIRED_SETTINGS.get(name, ()):
            if not config[setting]:
                raise ConfigError(f"ARTPROXY_{setting} must be set to use the {name} provider")


def create_provider(name: str, config: Mapping[str, Any]) -> Provider:
    """Build the provider called ``name`` from the app's settings."""
    return plugins.load(PROVIDERS, name, "PROVIDER").from_config(config)


def create_chain(config: Mapping[str, Any], counters, clock: Callable[[], float], metrics=None):
    """The configured providers in order, each with its answers checked, behind a breaker and
    merging identical calls;
    returns the chain (a provider), the breakers (whose state /healthz reports) and the bare
    providers by name (for the ones that can also edit an image).

    ``counters`` is a ``limits`` Storage every process shares (the store's limits_storage),
    where the breakers keep their state; ``metrics`` (metrics.py) counts each provider's calls."""
    from providers.breaker import CircuitBreaker
    from providers.checked import CheckedImages
    from providers.fallback import FallbackChain
    from providers.merged import MergedCalls
    from providers.observed import ObservedCalls

    check_providers(config)
    guarded, breakers, bare = [], [], {}
    for name in config["PROVIDER"]:
        bare[name] = create_provider(name, config)
        checked = CheckedImages(bare[name], config["MAX_IMAGE_PIXELS"])
        breaker = CircuitBreaker(
            checked, counters, config["REDIS_PREFIX"],
            failures_to_open=config["PROVIDER_FAILURES"],
            cooldown_seconds=config["PROVIDER_COOLDOWN"],
            trial_seconds=config["UPSTREAM_TIMEOUT"] + 5, clock=clock)
        breakers.append(breaker)
        observed = ObservedCalls(breaker, metrics) if metrics is not None and metrics.enabled else breaker
        guarded.append(MergedCalls(observed) if config["MERGE_IDENTICAL_CALLS"] else observed)
    return FallbackChain(guarded), breakers, bare
