"""The /v1 blueprint its routes join (images.py, models.py): every route needs a premium key
when keys are set, and errors take OpenAI's shape."""

from __future__ import annotations

from flask import Blueprint

from web.errors import ERROR_SHAPES
from web.identity import check_premium_key
from web.openai_v1.errors import openai_error_response

v1 = Blueprint("v1", __name__, url_prefix="/v1")
ERROR_SHAPES["/v1/"] = openai_error_response


@v1.before_request
def needs_a_key() -> None:
    # With ARTPROXY_PREMIUM_KEYS set, every /v1 route needs `Authorization: Bearer <key>`.
    check_premium_key()
