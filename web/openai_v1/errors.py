"""OpenAI's error shape, ``{"error": {"message", "type", "param", "code"}}``, so the OpenAI
SDKs raise their own exception classes (BadRequestError, AuthenticationError, ...)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from errors import ArtproxyError
from logs import REQUEST_ID

# 402: OpenAI's own type for an account whose credit is spent.
TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "insufficient_quota",
         403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
         413: "invalid_request_error", 429: "rate_limit_error"}


def openai_error_response(error: ArtproxyError,
                          response_class: type[Response] = Response) -> Response:
    body = {"error": openai_error(error), "request_id": REQUEST_ID.get()}
    return response_class(json.dumps(body) + "\n", status=error.status_code,
                          headers=error.headers(), mimetype="application/json")


def openai_error(error: ArtproxyError) -> dict[str, Any]:
    """``{"message", "type", "param", "code"}``, as OpenAI's answers and events carry it."""
    param = getattr(error, "param", None)
    return {
        "message": error.message,
        "type": TYPES.get(error.status_code, "server_error" if error.status_code >= 500
                          else "invalid_request_error"),
        "param": param or None,
        "code": error.code,
    }
