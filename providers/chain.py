"""The configured providers wired into one: each checked, behind its breaker, observed, merged,
and all of them tried in order.

    FallbackChain( MergedCalls( ObservedCalls( CircuitBreaker( CheckedImages( provider )))), ...)

The contract they all keep is generator_client.py's; this module only builds the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import plugins
from clock import Clock
from generator_client import (
    PROVIDERS,
    Editor,
    Provider,
    UpstreamProvider,
    Varier,
    check_providers,
)
from metrics import Metrics
from providers.breaker import CircuitBreaker
from providers.checked import CheckedImages
from providers.fallback import FallbackChain
from providers.merged import MergedCalls
from providers.observed import ObservedCalls
from storage import Counters


@dataclass(frozen=True)
class Chain:
    provider: Provider  # the whole chain, as one provider
    breakers: list[CircuitBreaker]  # one per configured provider, in order, for /healthz
    editors: dict[str, Editor]  # the providers whose upstream edits images natively
    variers: dict[str, Varier]  # the providers whose upstream draws variations


def create_provider(name: str, config: Mapping[str, Any]) -> UpstreamProvider:
    """Build the provider called ``name`` from the app's settings."""
    provider: UpstreamProvider = plugins.load(PROVIDERS, name, "PROVIDER").from_config(config)
    return provider


def create_chain(config: Mapping[str, Any], counters: Counters, clock: Clock,
                 metrics: Metrics) -> Chain:
    """The configured providers in order, each with its answers checked, behind a breaker whose
    state lives in ``counters`` (shared by every process), counted by ``metrics``, and merging
    identical calls."""
    check_providers(config)
    guarded: list[Provider] = []
    breakers: list[CircuitBreaker] = []
    editors: dict[str, Editor] = {}
    variers: dict[str, Varier] = {}
    for name in config["PROVIDER"]:
        bare = create_provider(name, config)
        if isinstance(bare, Editor):
            editors[name] = bare
        if isinstance(bare, Varier) and bare.draws_variations:
            variers[name] = bare
        breaker = CircuitBreaker(
            CheckedImages(bare, config["MAX_IMAGE_PIXELS"]), bare.upstream, counters,
            config["REDIS_PREFIX"],
            failures_to_open=config["PROVIDER_FAILURES"],
            cooldown_seconds=config["PROVIDER_COOLDOWN"],
            trial_seconds=config["UPSTREAM_TIMEOUT"] + 5, clock=clock)
        breakers.append(breaker)
        observed: Provider = ObservedCalls(breaker, metrics) if metrics.enabled else breaker
        guarded.append(MergedCalls(observed) if config["MERGE_IDENTICAL_CALLS"] else observed)
    return Chain(FallbackChain(guarded), breakers, editors, variers)
