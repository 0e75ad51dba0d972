"""The only layer that speaks HTTP: blueprints, input, answers, errors, CORS, keys and limits.

    health.py     GET /, GET /healthz
    classic.py    GET /generate, GET /image
    images.py     GET /images/<name>
    prompt_urls.py  GET /prompt/<prompt>: the picture itself, cached, for <img src>
    jobs.py       POST /jobs, GET /jobs/<id>: images made in the background
    signin.py     /auth/<name>/login and /callback (OpenID Connect), /auth/signout
    account.py    /account: the signed-in account, its keys and history
    page.py       GET /app: the page for people (its files in static/)
    observability.py  request ids and HTTP metrics for every answer; GET /metrics
    openapi.py    GET /openapi.json (the contract of every route), GET /docs
    admin.py      /admin/images: list and delete stored images (ARTPROXY_ADMIN_KEYS)
    openai_v1/    the OpenAI-compatible API: /v1/images/generations, /v1/images/edits, /v1/models
    fast_path.py  plain GETs of stored images answered below Flask, as images.py would
    access.py     CORS, the origin guard, API keys
    identity.py   which account a request acts for: its key, or a signed-in browser's cookie
    charging.py   credits taken by every generating view, given back for what was not made
    bodies.py     JSON bodies: their own size limit, and depth
    limits.py     rate limits declared per view, counted where all processes see them
    errors.py     the classic JSON error shape
    responses.py  helpers for answers
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from web import access, bodies, charging, limits, signin
from web.account import account
from web.admin import admin
from web.classic import classic
from web.errors import register_error_handlers
from web.fast_path import StoredImageFastPath
from web.health import health
from web.identity import ACCOUNTS
from web.images import images
from web.jobs import jobs
from web.observability import RequestObserver, observability
from web.openai_v1 import v1
from web.openapi import contract
from web.page import page, with_page_policy
from web.prompt_urls import KNOWN_KEYS, KnownKeys, prompt_urls
from web.responses import (
    add_security_headers,
    drop_misplaced_retry_after,
    no_type_without_a_body,
)


def init_app(app: Flask) -> None:
    service = app.extensions["artproxy"]
    register_error_handlers(app)
    # "/images//name" is no image: a 404, not a redirect to a path the client did not ask for.
    app.url_map.merge_slashes = False
    accounts = app.extensions.get(ACCOUNTS)
    for blueprint in (health, classic, images, prompt_urls, jobs, v1, admin, page,
                      observability, contract):
        app.register_blueprint(blueprint)
    if accounts is not None:  # with sign-in providers only
        app.register_blueprint(signin.signin)
        app.register_blueprint(account)
    # An edit uploads an image and a mask, each within the upstream's byte limit.
    app.config["MAX_CONTENT_LENGTH"] = 2 * app.config["MAX_UPSTREAM_BYTES"] + 2**20
    access.init_app(app, service.counters)
    bodies.init_app(app)
    if accounts is not None:
        signin.init_app(app, accounts)
        # Inside the limits: a request they refuse takes no credit.
        charging.init_app(app)
    limits.init_app(app, service.store.limits_storage())
    app.after_request(add_security_headers)
    app.after_request(drop_misplaced_retry_after)
    app.after_request(no_type_without_a_body)
    app.after_request(with_page_policy)
    # WSGI middleware wraps app.wsgi_app, as Flask's documentation shows (mypy takes the
    # attribute for a method, so each assignment says it is meant).
    app.extensions[KNOWN_KEYS] = KnownKeys()
    app.wsgi_app = StoredImageFastPath(  # type: ignore[method-assign]
        app.wsgi_app, service, cors_enabled=bool(app.config["CORS_ORIGINS"]),
        response_class=app.response_class, embedding_guarded=access.embedding_guarded(app.config),
        referer_required=app.config["EMBED_REQUIRE_REFERER"],
        prompt_cache=app.extensions["artproxy_prompt_cache"] if app.config["PROMPT_URLS"] else None,
        known_keys=app.extensions[KNOWN_KEYS])
    app.wsgi_app = RequestObserver(  # type: ignore[method-assign]
        app.wsgi_app, app.url_map, app.extensions["artproxy_metrics"])
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # Outermost, so every layer sees the client's address, not the load balancer's.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
