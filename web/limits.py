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

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse

from errors import RateLimited
from storage import LimitsStorage
from web.access import presented_key
from web.errors import render_error
from web.identity import current_account_id

log = logging.getLogger("artproxy")

BUDGET_ATTRIBUTE = "artproxy_budget"
COST_ATTRIBUTE = "artproxy_cost"
QUOTA_ATTRIBUTE = "artproxy_quota"
QUOTA_SCOPE = "quota"
GENERATING = "generating"
WHEN_DRAWN = "when drawn"
SAY_STORAGE_FAULTS_EVERY_SECONDS = 60
View = TypeVar("View", bound=Callable[..., Any])


def generating(view: View) -> View:
    """The view calls an upstream: it spends the client's ARTPROXY_RATE_LIMIT budget."""
    setattr(view, BUDGET_ATTRIBUTE, GENERATING)
    return view


def generating_per_image(images_asked: Callable[[], int]) -> Callable[[View], View]:
    """Like @generating, but a request costs as many as the images it asks for."""
    def declare(view: View) -> View:
        setattr(view, COST_ATTRIBUTE, images_asked)
        return generating(view)

    return declare


def generating_when_drawn(view: View) -> View:
    """The view calls an upstream only sometimes, and says when with spend_one_generation(),
    which takes one unit of the client's ARTPROXY_RATE_LIMIT budget (a cache hit costs none)."""
    setattr(view, BUDGET_ATTRIBUTE, WHEN_DRAWN)
    return view


def spend_one_generation() -> None:
    """Take one unit of the client's ARTPROXY_RATE_LIMIT budget, shared with @generating views;
    RateLimited when it is spent. A storage fault lets the request through, as for the others."""
    rate = current_app.config["RATE_LIMIT"]
    limiter: Limiter | None = current_app.extensions.get("artproxy_limiter")
    if not rate or limiter is None:
        return
    item, client = parse(rate), get_remote_address()
    try:
        if limiter.limiter.hit(item, client, GENERATING):
            return
        reset_at = limiter.limiter.get_window_stats(item, client, GENERATING).reset_time
    except Exception as error:
        log.warning("rate limit not counted: %s", error)
        return
    raise RateLimited(seconds_until(reset_at, item.get_expiry()), over_rate_message(rate))


def per_key_quota(view: View) -> View:
    """The view needs a premium key, and what it makes counts against that key's
    ARTPROXY_KEY_QUOTA (on top of the per-client rate limit)."""
    setattr(view, QUOTA_ATTRIBUTE, True)
    return view


def quota_key() -> str:
    """Whose ARTPROXY_KEY_QUOTA a request spends: its account's (all its keys and its signed-in
    browsers together), else the presented key's, hashed: counters never hold a key itself."""
    account_id = current_account_id()
    if account_id is not None:
        return f"account-{account_id}"
    return "key-" + hashlib.sha256(presented_key().encode("utf-8")).hexdigest()[:32]


def quota_status() -> dict[str, int | None]:
    """``{"limit", "remaining", "reset_at"}`` of the presented key's quota (nulls without one)."""
    quota = current_app.config["KEY_QUOTA"]
    limiter = current_app.extensions.get("artproxy_limiter")
    if not quota or limiter is None:
        return {"limit": None, "remaining": None, "reset_at": None}
    item = parse(quota)
    reset_at, remaining = limiter.limiter.get_window_stats(item, quota_key(), QUOTA_SCOPE)
    return {"limit": item.amount, "remaining": remaining, "reset_at": math.ceil(reset_at)}


def unlimited(view: View) -> View:
    """The view is cheap and never limited (health checks, stored images)."""
    setattr(view, BUDGET_ATTRIBUTE, None)
    return view


class WithoutTraceback(logging.Filter):
    """Flask-Limiter logs a full traceback for every request while its storage is down: one
    line a minute says as much and keeps an outage from flooding the log."""

    def __init__(self) -> None:
        super().__init__()
        self._said_at = float("-inf")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            if time.monotonic() - self._said_at < SAY_STORAGE_FAULTS_EVERY_SECONDS:
                return False
            self._said_at = time.monotonic()
            record.msg = f"{record.msg}: {record.exc_info[1]!r} (said once a minute)"
            record.exc_info = record.exc_text = None
        return True


def init_app(app: Flask, limits_storage: LimitsStorage) -> None:
    budgets = declared_budgets(app)
    rate = app.config["RATE_LIMIT"]
    quota = app.config["KEY_QUOTA"] if app.config["PREMIUM_KEYS"] else ""
    if not rate and not quota:
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
    for endpoint, budget in budgets.items():
        if budget != GENERATING:
            continue
        view: Callable[..., Any] = app.view_functions[endpoint]
        cost = getattr(view, COST_ATTRIBUTE, 1)
        wants_quota = getattr(view, QUOTA_ATTRIBUTE, False)
        if rate:
            # One budget for all generating routes: each image costs one upstream generation.
            view = limiter.shared_limit(
                rate, scope=GENERATING, cost=cost,
                error_message=over_rate_message(rate))(view)
        if quota and wants_quota:
            # Each premium key's own budget, wherever it spends it.
            view = limiter.shared_limit(
                quota, scope=QUOTA_SCOPE, key_func=quota_key, cost=cost,
                error_message=f"This key's quota of {quota} is spent")(view)
        app.view_functions[endpoint] = view
    app.register_error_handler(RateLimitExceeded, render_rate_limited)
    app.after_request(add_rate_limit_headers)


def declared_budgets(app: Flask) -> dict[str, str | None]:
    budgets = {}
    for endpoint, view in app.view_functions.items():
        if endpoint == "static":
            continue
        if not hasattr(view, BUDGET_ATTRIBUTE):
            raise RuntimeError(f"view {endpoint!r} declares no rate limit: use @generating or "
                               "@unlimited")
        budgets[endpoint] = getattr(view, BUDGET_ATTRIBUTE)
    return budgets


def render_rate_limited(error: RateLimitExceeded) -> Response:
    window = current_window()
    retry_after = 1
    if window is not None:
        retry_after = seconds_until(window[1], error.limit.limit.get_expiry())
    return render_error(RateLimited(retry_after, error.description))


def seconds_until(reset_at: float, window_seconds: int) -> int:
    """Retry-After for a window that ends at ``reset_at`` (unix seconds): at least 1, and never
    more than a window (Flask-Limiter rounds the reset time up to the next second)."""
    return min(window_seconds, max(1, math.ceil(reset_at - time.time())))


def over_rate_message(rate: str) -> str:
    return f"Too many requests: the limit is {rate} per client"


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
