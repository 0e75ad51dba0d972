"""Several providers tried in order, as one provider.

The next one is tried only when a provider fails on the upstream's side (UpstreamError: the
502/503/504 kinds). When all fail, the caller gets the most telling failure: the one that
tells it best what to do. A busy upstream (503 with Retry-After) says "come back then"; a
timeout (504) says "it was slow"; any other 502 only says "it failed". Among equals, the
first provider's failure is kept, since it is the one the operator put first.
"""

from __future__ import annotations

from collections.abc import Sequence

from errors import (
    ProviderSkipped,
    UpstreamBusy,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from generator_client import GeneratedImage, ImageOptions, Provider

# Higher is more telling. A skipped provider (breaker open) is the least telling of all.
TELLING = {UpstreamBusy: 3, UpstreamTimeout: 2, UpstreamError: 1}


class FallbackChain(Provider):
    def __init__(self, providers: Sequence[Provider]):
        self.providers = list(providers)
        self.name = ",".join(provider.name for provider in self.providers)

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        candidates = [provider for provider in self.providers
                      if options.provider in (None, provider.name)]
        failures: list[UpstreamError] = []
        for provider in candidates:
            try:
                return provider.generate(prompt, options)
            except UpstreamError as failure:
                failures.append(failure)
        raise most_telling(failures)


def most_telling(failures: list[UpstreamError]) -> UpstreamError:
    if not failures:
        return UpstreamUnavailable("No image generator is configured for this request")
    return max(failures, key=lambda failure: (telling(failure), -failures.index(failure)))


def telling(failure: UpstreamError) -> int:
    if isinstance(failure, ProviderSkipped):
        return 0
    return max(rank for kind, rank in TELLING.items() if isinstance(failure, kind))
