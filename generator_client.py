"""The upstream contract: what a provider is, how one is chosen, and how it fails.

A provider turns a prompt into image bytes and nothing more. Checking those bytes,
converting them and storing them is the service's job, so every provider gets it for free.
Implementations live in ``providers/``; adding one is a module there and a line in PROVIDERS
(chosen the way stores are: plugins.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

import plugins
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
    """How the caller wants the picture drawn.

    Empty for now: the first API takes only a prompt. Size, aspect ratio, style and the
    like become fields here, with defaults, so providers that ignore them keep working.
    """


@dataclass(frozen=True)
class GeneratedImage:
    """Bytes as the upstream sent them; not yet checked to be an image."""

    data: bytes
    provider: str


class Provider(Protocol):
    name: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Provider":
        """Build the provider from the app's settings (``app.config``)."""
        ...

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        """Return the upstream's image for ``prompt`` or raise an UpstreamError subclass."""
        ...


# name -> "module:Class"; imported only when chosen, so an unused provider costs nothing.
PROVIDERS: dict[str, str] = {
    "magicstudio": "providers.magicstudio:MagicStudioProvider",
    "offline": "providers.offline:OfflineProvider",
}


def create_provider(name: str, config: Mapping[str, Any]) -> Provider:
    """Build the provider called ``name`` from the app's settings."""
    return plugins.load(PROVIDERS, name, "PROVIDER").from_config(config)
