"""The configured providers wired into one: each checked, behind its breaker, observed, merged,
and all of them tried in order.

    FallbackChain( MergedCalls( ObservedCalls( [Turns(] CircuitBreaker( CheckedImages( provider
        )))[)], ...)

Turns (ARTPROXY_<PROVIDER>_CONCURRENCY) sit outside the breaker: waiting for a turn says
nothing of the upstream's health.

The contract they all keep is generator_client.py's; this module only builds the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import plugins
from clock import Clock
from config import project_path, provider_timeout
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
from providers.turns import Turns
from storage import Counters


@dataclass(frozen=True)
class Chain:
    provider: Provider  # the whole chain, as one provider
    breakers: list[CircuitBreaker]  # one per configured provider, in order, for /healthz
    editors: dict[str, Editor]  # the providers whose upstream edits images natively
    variers: dict[str, Varier]  # the providers whose upstream draws variations
    turns: dict[str, Turns]  # the providers with ARTPROXY_<PROVIDER>_CONCURRENCY set


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
    turns: dict[str, Turns] = {}
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
        limited: Provider = breaker
        most_at_once = config.get(f"{name.upper()}_CONCURRENCY", 0)  # offline has no setting
        if most_at_once:
            limited = turns[name] = Turns(breaker, bare.upstream, most_at_once,
                                          project_path(config["STATE_DIR"]),
                                          provider_timeout(config, name))
        observed: Provider = ObservedCalls(limited, metrics) if metrics.enabled else limited
        guarded.append(MergedCalls(observed) if config["MERGE_IDENTICAL_CALLS"] else observed)
    return Chain(FallbackChain(guarded), breakers, editors, variers, turns)
