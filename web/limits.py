"""Rate limits, declared on each view and counted where every process of the deployment sees them.

Every view says what it costs: ``@generating`` for the routes that call an upstream (one shared
budget of ``ARTPROXY_RATE_LIMIT`` per client), ``@unlimited`` for the rest. init_app() refuses
to start if a view says neither, so a new route cannot silently miss its limit.

Counters live where the image store says (``store.limits_storage()``): a SQLite file shared by
an instance's worker processes with file storage, the shared Redis with Redis storage. When
Redis stops answering, each process counts in memory until it is back, and a storage error
never fails a request: a limit is a guard, not a reason to refuse service.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

from flask import Flask, Response, current_app
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from errors import RateLimited
from web.errors import render_error

log = logging.getLogger("artproxy")

BUDGET_ATTRIBUTE = "artproxy_budget"
COST_ATTRIBUTE = "artproxy_cost"
GENERATING = "generating"


def generating(view: Callable) -> Callable:
    """The view calls an upstream: it spends the client's ARTPROXY_RATE_LIMIT budget."""
    setattr(view, BUDGET_ATTRIBUTE, GENERATING)
    return view


def generating_per_image(images_asked: Callable[[], int]) -> Callable[[Callable], Callable]:
    """Like @generating, but a request costs as many as the images it asks for."""
    def declare(view: Callable) -> Callable:
        setattr(view, COST_ATTRIBUTE, images_asked)
        return generating(view)

    return declare


def unlimited(view: Callable) -> Callable:
    """The view is cheap and never limited (health checks, stored images)."""
    setattr(view, BUDGET_ATTRIBUTE, None)
    return view


class WithoutTraceback(logging.Filter):
    """Flask-Limiter logs a full traceback for every request while its storage is down; one
    line each says as much and keeps an outage from flooding the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.msg = f"{record.msg}: {record.exc_info[1]!r}"
            record.exc_info = record.exc_text = None
        return True


def init_app(app: Flask, limits_storage) -> None:
    budgets = declared_budgets(app)
    rate = app.config["RATE_LIMIT"]
    if not rate:
        return
    limiter_log = logging.getLogger("flask-limiter")
    if not any(isinstance(existing, WithoutTraceback) for existing in limiter_log.filters):
        limiter_log.addFilter(WithoutTraceback())
    limiter = Limiter(
        # The peer address, or the client's address from X-Forwarded-For once ProxyFix
        # (ARTPROXY_TRUSTED_PROXIES) has vouched for it.
        get_remote_address,
        app=app,
        storage_uri=limits_storage.uri,
        storage_options=dict(limits_storage.options),
        # Headers are written below: Flask-Limiter's own put Retry-After on every answer.
        headers_enabled=False,
        in_memory_fallback_enabled=limits_storage.shared_by_instances,
        # A storage error that slips past the fallback (a stall while another request is
        # switching over) lets the request through instead of answering 500.
        swallow_errors=True,
    )
    app.extensions["artproxy_limiter"] = limiter
    # One budget for all generating routes: each image costs one upstream generation.
    message = f"Too many requests: the limit is {rate} per client"
    for endpoint, budget in budgets.items():
        if budget == GENERATING:
            view = app.view_functions[endpoint]
            shared_limit = limiter.shared_limit(rate, scope=GENERATING, error_message=message,
                                                cost=getattr(view, COST_ATTRIBUTE, 1))
            app.view_functions[endpoint] = shared_limit(view)
    app.register_error_handler(RateLimitExceeded, render_rate_limited)
    app.after_request(add_rate_limit_headers)


def declared_budgets(app: Flask) -> dict[str, str | None]:
    budgets = {}
    for endpoint, view in app.view_functions.items():
        if endpoint == "static":
            continue
        if not hasattr(view, BUDGET_ATTRIBUTE):
            raise RuntimeError(f"view {endpoint!r} declares no rate limit: use @generating or @unlimited")
        budgets[endpoint] = getattr(view, BUDGET_ATTRIBUTE)
    return budgets


def render_rate_limited(error: RateLimitExceeded) -> Response:
    window = current_window()
    retry_after = 1
    if window is not None:
        # Flask-Limiter rounds the reset time up to the next second; never say more than a window.
        window_seconds = error.limit.limit.get_expiry()
        retry_after = min(window_seconds, max(1, math.ceil(window[1] - time.time())))
    return render_error(RateLimited(retry_after, error.description))


def add_rate_limit_headers(response: Response) -> Response:
    window = current_window()
    if window is not None:
        limit, reset_at, remaining = window
        response.headers["X-RateLimit-Limit"] = str(limit)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = str(math.ceil(reset_at))
    return response


def current_window() -> tuple[int, float, int] | None:
    """(limit, reset at in unix seconds, remaining) of this request's limit, if it has one."""
    limiter: Limiter = current_app.extensions["artproxy_limiter"]
    try:
        current = limiter.current_limit
        if current is None:
            return None
        return current.limit.amount, current.reset_at, current.remaining
    except Exception as error:  # a storage that fails now only costs the headers
        log.debug("rate-limit headers skipped: %s", error)
        return None
