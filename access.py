"""Who may call what: CORS for browser origins, API keys for the premium route."""

from __future__ import annotations

import functools
import hmac
import logging

from flask import Flask, current_app, request
from flask_cors import CORS

from errors import Unauthorized

log = logging.getLogger("artproxy")


def init_app(app: Flask) -> None:
    origins = app.config["CORS_ORIGINS"]
    if origins:
        # config.cors_origins() accepted only exact origins, which flask-cors compares literally.
        CORS(app, origins=list(origins), expose_headers=["Retry-After"], max_age=600)
    if not app.config["PREMIUM_KEYS"]:
        log.warning("ARTPROXY_PREMIUM_KEYS is not set: /image is open to everyone")


def require_premium_key(view):
    @functools.wraps(view)
    def checked_view(*args, **kwargs):
        keys = current_app.config["PREMIUM_KEYS"]
        if keys and not any_key_matches(presented_key(), keys):
            raise Unauthorized()
        return view(*args, **kwargs)

    return checked_view


def presented_key() -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("X-API-Key", "").strip()


def any_key_matches(candidate: str, keys: tuple[str, ...]) -> bool:
    # Compare with every key, in constant time each, so timing tells nothing about which or how close.
    given = candidate.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode("utf-8"))
    return matched and bool(candidate)
