"""The classic API's error shape, ``{"error": <sentence>, "code": <stable code>}``, for every failure.

Errors are raised anywhere (domain or web) and rendered only here. The log line for a server-
side failure names the cause the domain chained with ``raise ... from``; the JSON never does.
"""

from __future__ import annotations

import json
import logging
import re

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from capacity import out_of_descriptors
from errors import ArtproxyError, ServerBusy

log = logging.getLogger("artproxy")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ArtproxyError, render_artproxy_error)
    app.register_error_handler(HTTPException, render_http_error)
    app.register_error_handler(Exception, render_unexpected_error)


def render_artproxy_error(error: ArtproxyError) -> Response:
    log_failure(error, f"{request.method} {request.path}")
    return error_response(error)


def render_http_error(error: HTTPException) -> Response:
    return http_error_response(error)


def http_error_response(error: HTTPException, response_class: type[Response] = Response) -> Response:
    response = json_error(error.code or 500, error.description or error.name, code_for(error),
                          response_class=response_class)
    # Keep what Werkzeug set for us, such as Allow on a 405 or Content-Range on a 416.
    for name, value in error.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def render_unexpected_error(error: Exception) -> Response:
    if out_of_descriptors(error):  # e.g. opening a stored image with every descriptor in use
        busy = ServerBusy()
        log.warning("%s %s -> 503 %s: out of file descriptors", request.method, request.path,
                    busy.code)
        return error_response(busy)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return json_error(500, ArtproxyError.message, ArtproxyError.code)


def error_response(error: ArtproxyError, response_class: type[Response] = Response) -> Response:
    return json_error(error.status_code, error.message, error.code, error.headers(), response_class)


def json_error(status_code: int, message: str, code: str, headers: dict[str, str] | None = None,
               response_class: type[Response] = Response) -> Response:
    """Needs no app context, so WSGI middleware can answer with it too."""
    body = json.dumps({"error": message, "code": code}) + "\n"
    return response_class(body, status=status_code, headers=headers, mimetype="application/json")


def log_failure(error: ArtproxyError, where: str) -> None:
    """Failures that are ours or the upstream's are logged with their cause; the caller's are not."""
    if error.status_code < 500:
        return
    cause = error.__cause__
    detail = f" (cause: {type(cause).__name__}: {cause})" if cause else ""
    log.warning("%s -> %d %s: %s%s", where, error.status_code, error.code, error.message, detail)


def code_for(error: HTTPException) -> str:
    """Werkzeug's name as a code: "Method Not Allowed" -> "method_not_allowed"."""
    return re.sub(r"[^a-z0-9]+", "_", error.name.lower()).strip("_")
