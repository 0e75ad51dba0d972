"""Named failures and the one place that turns them into JSON answers.

Views and providers raise these; nothing else builds error JSON.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

log = logging.getLogger("artproxy")


class ArtproxyError(Exception):
    """A failure with a status code and a sentence fit to show the caller."""

    status_code = 500
    message = "Internal server error"
    retry_after_seconds: int | None = None  # set by failures the caller should retry later

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message

    def headers(self) -> dict[str, str]:
        if self.retry_after_seconds is None:
            return {}
        return {"Retry-After": str(self.retry_after_seconds)}


class BadPrompt(ArtproxyError):
    status_code = 400


class Unauthorized(ArtproxyError):
    status_code = 401
    message = "A valid API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="artproxy"'}


class ImageNotFound(ArtproxyError):
    status_code = 404
    message = "Image not found or expired"


class UpstreamError(ArtproxyError):
    """The image generator failed; never the caller's fault, never ours."""

    status_code = 502
    message = "The image generator failed"


class UpstreamUnavailable(UpstreamError):
    message = "The image generator could not be reached"


class UpstreamRejected(UpstreamError):
    message = "The image generator refused the request"


class BadUpstreamImage(UpstreamError):
    message = "The image generator did not return a usable image"


class UpstreamBusy(UpstreamError):
    status_code = 503
    message = "The image generator is busy; try again later"

    def __init__(self, retry_after_seconds: int, message: str | None = None):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class StorageUnavailable(ArtproxyError):
    status_code = 503
    message = "Image storage is unavailable; try again shortly"
    retry_after_seconds = 5


class UpstreamTimeout(UpstreamError):
    status_code = 504
    message = "The image generator took too long to answer"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ArtproxyError)
    def artproxy_error(error: ArtproxyError):
        if isinstance(error, UpstreamError):
            log.warning("upstream failure: %s", error.message)
        return json_error(error.status_code, error.message, error.headers())

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        response = json_error(error.code or 500, error.description or error.name)
        # Keep what Werkzeug set for us, such as Allow on a 405.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        log.exception("unhandled error")
        return json_error(500, ArtproxyError.message)


def json_error(status_code: int, message: str, headers: dict[str, str] | None = None,
               response_class: type[Response] = Response) -> Response:
    """``{"error": message}``; needs no app context, so WSGI middleware can answer with it too."""
    return response_class(json.dumps({"error": message}) + "\n", status=status_code,
                          headers=headers, mimetype="application/json")
