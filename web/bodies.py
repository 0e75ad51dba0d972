"""Reading request bodies: JSON gets a small size limit of its own, and a body nested too
deeply for Python's parser is the caller's fault, not a 500.

An edit uploads an image and a mask (``MAX_CONTENT_LENGTH``, about twice the upstream's byte
limit); a JSON body holds a prompt and its options, and 1 MiB is plenty. Without its own limit
one 38 MB JSON body took 692 MB of a worker's memory to parse.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from errors import BadInput

JSON_BODY_BYTES = 2**20


def init_app(app: Flask) -> None:
    app.before_request(limit_json_bodies)


def limit_json_bodies() -> None:
    if request.is_json:
        # A longer Content-Length is refused with 413 before anything is read; a chunked body
        # is read no further than one byte past the limit (json_body() then refuses it).
        request.max_content_length = JSON_BODY_BYTES + 1


def json_body() -> Any:
    """The request's JSON (parsed once per request), or None when the body is not JSON.
    RequestEntityTooLarge past JSON_BODY_BYTES; BadInput when it nests deeper than the parser
    can follow."""
    if "artproxy_json" not in g:
        g.artproxy_json = parsed_json_body()
    return g.artproxy_json


def parsed_json_body() -> Any:
    if not request.is_json:
        return None
    data = request.get_data(cache=True)
    if len(data) > JSON_BODY_BYTES:
        raise RequestEntityTooLarge(f"A JSON body may be at most {JSON_BODY_BYTES} bytes")
    try:
        return json.loads(data)
    except RecursionError:
        raise BadInput("The JSON body is nested too deeply") from None
    except ValueError:  # not JSON, or not text
        return None
