"""Who may call what: browser origins (CORS and the origin guard) and API keys.

A browser sends ``Origin`` on cross-origin fetches. An origin that is not allowed is refused
with 403 before any work is done, rather than served in full only for the browser to hide
the answer. Requests without ``Origin`` (``<img>`` loads, servers, curl) and requests from
artproxy's own origin are not affected.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import time
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_cors import CORS
from flask_limiter.util import get_remote_address
from limits import parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

from errors import EmbedNotAllowed, OriginNotAllowed, RateLimited, Unauthorized
from logs import Occasionally

FAILED_KEYS = "artproxy_failed_keys"
counters_failed = Occasionally(logging.getLogger("artproxy"), every_seconds=60)
# Headers a page on an allowed origin may read from an answer.
EXPOSED_HEADERS = ["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]


def init_app(app: Flask, counters: Storage | None) -> None:
    if app.config["AUTH_FAILURE_LIMIT"] and counters is not None:
        app.extensions[FAILED_KEYS] = CountedAttempts(
            counters, app.config["AUTH_FAILURE_LIMIT"], FAILED_KEYS,
            "Too many wrong keys from this client; try again later")
    origins = app.config["CORS_ORIGINS"]
    if origins:
        # config.cors_origins() accepted only exact origins, which flask-cors compares literally.
        # always_send=False: no Access-Control-Allow-Origin for requests that carry no Origin.
        CORS(app, origins=list(origins), methods=allowed_methods(app), always_send=False,
             expose_headers=EXPOSED_HEADERS, max_age=600)
    app.before_request(refuse_other_origins)


def allowed_methods(app: Flask) -> list[str]:
    """The methods some route answers, so a preflight advertises only what exists."""
    methods = {method for rule in app.url_map.iter_rules() for method in rule.methods or ()}
    return sorted(methods)


def refuse_other_origins() -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        return
    if not origin_allowed(origin, current_app.config["CORS_ORIGINS"]):
        raise OriginNotAllowed()


def embed_origins(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The origins whose pages may embed images: EMBED_ORIGINS, else CORS_ORIGINS, else any."""
    if config["EMBED_ORIGINS"] is not None:
        return tuple(config["EMBED_ORIGINS"])
    return tuple(config["CORS_ORIGINS"]) or ("*",)


def embedding_guarded(config: Mapping[str, Any]) -> bool:
    """Whether a Referer (or its absence) can make an image request be refused."""
    return config["EMBED_REQUIRE_REFERER"] or "*" not in embed_origins(config)


def check_embedding() -> None:
    """EmbedNotAllowed when the page asking for an image (its Referer) is on a site that may
    not embed them. Browsers send the Referer of an <img>'s page (at least its origin) but no
    Origin; a request without one is served unless EMBED_REQUIRE_REFERER says otherwise."""
    config = current_app.config
    referer = request.headers.get("Referer")
    if not referer:
        if config["EMBED_REQUIRE_REFERER"]:
            raise EmbedNotAllowed("A Referer is required to load artproxy's images "
                                  "(ARTPROXY_EMBED_REQUIRE_REFERER)")
        return
    try:
        parts = urlsplit(referer)
    except ValueError:  # not a URL at all
        raise EmbedNotAllowed() from None
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if not origin_allowed(origin, [allowed.lower() for allowed in embed_origins(config)]):
        raise EmbedNotAllowed()


def origin_allowed(origin: str, allowed: Collection[str]) -> bool:
    """Whether ``origin`` is listed, everyone is (``*``), or it is artproxy's own."""
    return "*" in allowed or origin in allowed or is_own_origin(origin)


def is_own_origin(origin: str) -> bool:
    """Whether ``origin`` is artproxy's own: ARTPROXY_PUBLIC_URL, or the address this request
    came to when no other site could have pointed it here, an address by number or localhost.
    The Host header alone proves nothing: a page on evil.example whose name was made to resolve
    to artproxy (DNS rebinding) sends Origin and Host both evil.example."""
    if origin == current_app.config["PUBLIC_URL"]:
        return True
    # request.host_url honours ProxyFix when ARTPROXY_TRUSTED_PROXIES vouches for the proxy.
    if origin != request.host_url.rstrip("/"):
        return False
    host = urlsplit(origin).hostname or ""
    return host == "localhost" or is_ip_address(host)


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_key(keys: tuple[str, ...], refusal: Unauthorized) -> None:
    """Return if one of ``keys`` was presented; else ``refusal``. A client past its
    ARTPROXY_AUTH_FAILURE_LIMIT of wrong keys gets RateLimited instead, before its key is even
    compared, so guessing on learns nothing."""
    if request.method == "OPTIONS":
        # A browser's CORS preflight never carries the key (Fetch sends no credentials on
        # it), and it only asks what the real request may do; that one needs the key.
        return
    presented = presented_key()
    guard: CountedAttempts | None = current_app.extensions.get(FAILED_KEYS)
    client = get_remote_address()
    if guard is not None and presented:
        guard.refuse_if_over(client)
    if any_key_matches(presented, keys):
        return
    if guard is not None and presented:  # no key at all is no guess
        guard.count(client)
    raise refusal


class CountedAttempts:
    """Attempts of one kind by each client, counted where every process (and, with Redis,
    every instance) sees them: wrong keys (without a limit, 3,000 guesses at /admin got 401s at
    ~4,000 a second), sign-ins started. Counters that cannot be reached count nothing."""

    def __init__(self, counters: Storage, limit: str, scope: str, refusal: str):
        self.window = FixedWindowRateLimiter(counters)
        self.limit = parse(limit)
        self.scope = scope
        self.refusal = refusal

    def refuse_if_over(self, client: str) -> None:
        try:
            over = not self.window.test(self.limit, self.scope, client)
            reset_at = self.window.get_window_stats(self.limit, self.scope, client).reset_time
        except Exception as error:  # counters unreachable: keys are still checked, one by one
            counters_failed.warning("%s are not being counted: %s", self.scope, error)
            return
        if over:
            raise RateLimited(max(1, math.ceil(reset_at - time.time())), self.refusal)

    def count(self, client: str) -> None:
        try:
            self.window.hit(self.limit, self.scope, client)
        except Exception as error:
            counters_failed.warning("%s are not being counted: %s", self.scope, error)


def presented_key() -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("X-API-Key", "").strip()


def any_key_matches(candidate: str, keys: tuple[str, ...]) -> bool:
    # Compare with every key, in constant time each, so timing tells nothing about which or how
    # close.
    given = candidate.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode("utf-8"))
    return matched and bool(candidate)
