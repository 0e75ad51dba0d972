"""Request ids and HTTP metrics for every answer, and ``GET /metrics``.

RequestObserver wraps the whole app (the stored-image fast path included): it gives each
request an id (a safe ``X-Request-ID`` the caller sent, else a new one), sends it back in
``X-Request-ID``, lends it to log lines and error JSON, and counts the answer under its route's
template (``/images/<name>``, never the path itself; ``<unmatched>`` for a path no route has)
and its method. Labels take only values from fixed sets, whatever a client sends: a made-up
method is ``OTHER``, or every new one would add a series to each worker's file (120,000 such
requests made a scrape 9.9 MB and 2 s).

``GET /metrics`` needs ``Authorization: Bearer <ARTPROXY_METRICS_KEY>`` when that is set.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map

from errors import Unauthorized
from logs import REQUEST_ID
from metrics import Metrics
from web.access import check_key
from web.fast_path import image_name
from web.limits import unlimited
from web.prompt_urls import PROMPT_PREFIX, PROMPT_ROUTE

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

observability = Blueprint("observability", __name__)

# What an incoming id may look like to be echoed: no spaces, no control characters, not long.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")
UNMATCHED = "<unmatched>"
IMAGE_ROUTE = "/images/<name>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE",
                     "CONNECT"})
OTHER_METHOD = "OTHER"


class RequestObserver:
    def __init__(self, wsgi_app: WSGIApplication, url_map: Map, metrics: Metrics):
        self.wsgi_app = wsgi_app
        self.url_map = url_map
        self.metrics = metrics

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if SAFE_REQUEST_ID.fullmatch(incoming) else new_request_id()
        environ["artproxy.request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        answer: dict[str, Any] = {"status": 500, "headers": []}

        def start_with_id(status: str, headers: list[tuple[str, str]],
                          exc_info: OptExcInfo | None = None) -> Callable[[bytes], object]:
            headers.append(("X-Request-ID", request_id))
            answer["status"], answer["headers"] = int(status[:3]), headers
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, start_with_id)
        finally:
            REQUEST_ID.reset(token)
            if self.metrics.enabled:
                self.record(environ, answer, time.perf_counter() - started)

    def record(self, environ: WSGIEnvironment, answer: dict[str, Any], seconds: float) -> None:
        route = self.route_of(environ)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in METHODS:
            method = OTHER_METHOD
        self.metrics.http_request(route, method, answer["status"], seconds)
        served = route in (IMAGE_ROUTE, PROMPT_ROUTE) and method == "GET"
        if served and answer["status"] in (200, 206):
            length = next((value for name, value in answer["headers"]
                           if name.lower() == "content-length"), "0")
            self.metrics.bytes_served(int(length) if length.isdigit() else 0)

    def route_of(self, environ: WSGIEnvironment) -> str:
        path = environ.get("PATH_INFO", "")
        if image_name(path) is not None:
            return IMAGE_ROUTE  # most of the traffic: no need to ask the router
        if path.startswith(PROMPT_PREFIX) and len(path) > len(PROMPT_PREFIX):
            return PROMPT_ROUTE
        adapter = self.url_map.bind_to_environ(environ)
        try:
            rule, _ = adapter.match(return_rule=True)
        except MethodNotAllowed as wrong_method:  # the route exists: count the answer under it
            allowed = sorted(wrong_method.valid_methods or ())
            if not allowed:
                return UNMATCHED
            rule, _ = adapter.match(method=allowed[0], return_rule=True)
        except HTTPException:  # no route
            return UNMATCHED
        return rule.rule


class _ProcessIds:
    """Ids unique to this process (a random tag drawn again after a fork) and counted within
    it: unique across workers and restarts, for a fifth of uuid4()'s 1.7 microseconds."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.tag = secrets.token_hex(8)
        self.counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.tag}{next(self.counter):08x}"


new_request_id = _ProcessIds()


@observability.get("/metrics")
@unlimited
def metrics_page() -> Response:
    metrics = current_app.extensions["artproxy_metrics"]
    if not metrics.enabled:
        raise NotFound("Metrics are off (ARTPROXY_METRICS=false)")
    key = current_app.config["METRICS_KEY"]
    if key:
        check_key((key,), Unauthorized("The metrics key is required: send "
                                       "'Authorization: Bearer <key>'"))
    body, content_type = metrics.exposition()
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response
