"""OpenAI's error shape, ``{"error": {"message", "type", "param", "code"}}``, so the OpenAI
SDKs raise their own exception classes (BadRequestError, AuthenticationError, ...)."""

from __future__ import annotations

import json

from flask import Response

from errors import ArtproxyError
from logs import REQUEST_ID
from web.openai_v1.fields import PARAMS

TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "not_found_error", 405: "invalid_request_error", 413: "invalid_request_error",
         429: "rate_limit_error"}


def openai_error_response(error: ArtproxyError,
                          response_class: type[Response] = Response) -> Response:
    param = getattr(error, "param", None)
    body = {"error": {
        "message": error.message,
        "type": TYPES.get(error.status_code, "server_error" if error.status_code >= 500
                          else "invalid_request_error"),
        "param": PARAMS.get(param, param) if param else None,
        "code": error.code,
    }, "request_id": REQUEST_ID.get()}
    return response_class(json.dumps(body) + "\n", status=error.status_code,
                          headers=error.headers(), mimetype="application/json")
