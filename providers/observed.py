"""A provider whose every call is counted and timed for the metrics; a provider too.

It sits outside the breaker, so a call the breaker skips is counted (outcome
``upstream_resting``, no duration), and inside the merging of identical calls, so a call
that several requests share is counted once, as the upstream saw it.
"""

from __future__ import annotations

import time

from errors import ArtproxyError, ProviderSkipped
from generator_client import GeneratedImage, ImageOptions, Provider
from metrics import Metrics


class ObservedCalls(Provider):
    def __init__(self, provider: Provider, metrics: Metrics):
        self.provider = provider
        self.name = provider.name
        self.metrics = metrics

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        started = time.perf_counter()
        try:
            generated = self.provider.generate(prompt, options)
        except ProviderSkipped as skipped:
            self.metrics.upstream_call(self.name, skipped.code, None)
            raise
        except ArtproxyError as error:
            self.metrics.upstream_call(self.name, error.code, time.perf_counter() - started)
            raise
        except Exception:
            self.metrics.upstream_call(self.name, ArtproxyError.code, time.perf_counter() - started)
            raise
        self.metrics.upstream_call(self.name, "ok", time.perf_counter() - started)
        return generated
