"""Per-client rate limits on the generating routes, with Flask-Limiter.

The counters live in memory with file storage, and in Redis with Redis storage, so that all
instances behind a load balancer count together. If Redis stops answering, each instance
counts on its own in memory until it is back, rather than refusing or waving everyone through.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

import storage.redis_storage as redis_storage

LIMITED_ENDPOINTS = ("api.generate", "api.image")


def init_app(app: Flask) -> None:
    rate = app.config["RATE_LIMIT"]
    if not rate:
        return
    shared = app.config["STORAGE"] == "redis"
    limiter = Limiter(
        # The peer address, or the client's address from X-Forwarded-For once ProxyFix
        # (ARTPROXY_TRUSTED_PROXIES) has vouched for it.
        get_remote_address,
        app=app,
        storage_uri=app.config["REDIS_URL"] if shared else "memory://",
        storage_options={
            # Counters under artproxy's namespace, next to its images, instead of "LIMITS:".
            "key_prefix": app.config["REDIS_PREFIX"] + "limits",
            "socket_connect_timeout": redis_storage.CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": redis_storage.SOCKET_TIMEOUT_SECONDS,
        } if shared else {},
        headers_enabled=True,  # Retry-After on a 429, and the X-RateLimit-* counts on every answer
        in_memory_fallback_enabled=shared,
    )
    # One budget for both routes: each call costs one upstream generation, whichever it is.
    shared_limit = limiter.shared_limit(
        rate, scope="generating", error_message=f"Too many requests: the limit is {rate} per client")
    for endpoint in LIMITED_ENDPOINTS:
        app.view_functions[endpoint] = shared_limit(app.view_functions[endpoint])
