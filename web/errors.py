"""Every failure becomes an answer here, in the shape of the API that was called.

The classic API answers ``{"error": <sentence>, "code": <stable code>, "request_id"}``; the
OpenAI-compatible API under ``/v1/`` answers OpenAI's ``{"error": {"message", "type", "param",
"code"}, "request_id"}`` (its renderer is in web/openai_v1/errors.py). Errors are raised
anywhere (domain or web) and rendered only here. The log line for a server-side failure names
the cause the domain chained with ``raise ... from``; the JSON never does.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

from flask import Flask, Response, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import BadRequest, HTTPException

from capacity import out_of_descriptors
from errors import ArtproxyError, ServerBusy
from logs import REQUEST_ID, log_failure

log = logging.getLogger("artproxy")

ErrorRenderer = Callable[[ArtproxyError, type[Response]], Response]
# Path prefix -> how that API shows an error; anything else gets the classic shape.
ERROR_SHAPES: dict[str, ErrorRenderer] = {}


class HTTPFailure(ArtproxyError):
    """A Werkzeug HTTPException (404, 405, 413, 416 ...) as an ArtproxyError, so every shape
    renders both alike."""

    def __init__(self, error: HTTPException):
        super().__init__(error.description or error.name)
        self.status_code = error.code or 500
        self.code = code_for(error)
        # Keep what Werkzeug set for us, such as Allow on a 405 or Content-Range on a 416.
        self._headers = {name: value for name, value in error.get_headers()
                         if name.lower() not in ("content-type", "content-length")}

    def headers(self) -> dict[str, str]:
        return self._headers


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ArtproxyError, render_artproxy_error)
    app.register_error_handler(HTTPException, render_http_error)
    app.register_error_handler(Exception, render_unexpected_error)


def render_artproxy_error(error: ArtproxyError) -> Response:
    log_failure(error, logged_request())
    return render_error(error)


def render_http_error(error: HTTPException) -> Response:
    return render_error(HTTPFailure(error))


def render_unexpected_error(error: Exception) -> Response:
    if isinstance(error, ParseException):  # gunicorn could not read the body the caller sent
        return render_error(HTTPFailure(BadRequest(f"The request body is malformed: {error}")))
    if out_of_descriptors(error):  # e.g. opening a stored image with every descriptor in use
        busy = ServerBusy()
        log.warning("%s -> 503 %s: out of file descriptors", logged_request(), busy.code)
        return render_error(busy)
    log.exception("unhandled error on %s", logged_request())
    return render_error(ArtproxyError())


def logged_request() -> str:
    """The method and path for a log line. A prompt URL's path is its prompt, which stays out
    of logs: its route stands for it."""
    if request.url_rule is not None and "prompt" in (request.view_args or {}):
        return f"{request.method} {request.url_rule.rule}"
    return f"{request.method} {request.path}"


def render_error(error: ArtproxyError) -> Response:
    """``error`` in the shape of the API the current request called."""
    for prefix, renderer in ERROR_SHAPES.items():
        if request.path.startswith(prefix):
            return renderer(error, Response)
    return error_response(error)


def error_response(error: ArtproxyError, response_class: type[Response] = Response) -> Response:
    return json_error(error.status_code, error.message, error.code, error.headers(), response_class)


def http_error_response(error: HTTPException,
                        response_class: type[Response] = Response) -> Response:
    return error_response(HTTPFailure(error), response_class)


def json_error(status_code: int, message: str, code: str, headers: dict[str, str] | None = None,
               response_class: type[Response] = Response) -> Response:
    """Needs no app context, so WSGI middleware can answer with it too."""
    body = json.dumps({"error": message, "code": code, "request_id": REQUEST_ID.get()}) + "\n"
    return response_class(body, status=status_code, headers=headers, mimetype="application/json")


def code_for(error: HTTPException) -> str:
    """Werkzeug's name as a code: "Method Not Allowed" -> "method_not_allowed"."""
    return re.sub(r"[^a-z0-9]+", "_", error.name.lower()).strip("_")
