"""Who may call what: browser origins (CORS and the origin guard) and API keys.

A browser sends ``Origin`` on cross-origin fetches. An origin that is not allowed is refused
with 403 before any work is done, rather than served in full only for the browser to hide
the answer. Requests without ``Origin`` (``<img>`` loads, servers, curl) and requests from
artproxy's own origin are not affected.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue
from flask_cors import CORS

from errors import OriginNotAllowed, Unauthorized

# Headers a page on an allowed origin may read from an answer.
EXPOSED_HEADERS = ["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]


def init_app(app: Flask) -> None:
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
    allowed = current_app.config["CORS_ORIGINS"]
    if "*" in allowed or origin in allowed or origin == own_origin():
        return
    raise OriginNotAllowed()


def own_origin() -> str:
    # request.host_url honours ProxyFix when ARTPROXY_TRUSTED_PROXIES vouches for the proxy.
    return request.host_url.rstrip("/")


def require_premium_key(
        view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    @functools.wraps(view)
    def checked_view(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        check_premium_key()
        return view(*args, **kwargs)

    return checked_view


def check_premium_key() -> None:
    """Unauthorized unless a configured key was presented (or none is configured)."""
    keys = current_app.config["PREMIUM_KEYS"]
    if keys and not any_key_matches(presented_key(), keys):
        raise Unauthorized()


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
