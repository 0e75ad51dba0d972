"""The OpenAI-compatible images API under /v1, so every OpenAI client can use artproxy.

    images.py     POST /v1/images/generations, /v1/images/edits, /v1/images/variations
    models.py     GET /v1/models, GET /v1/models/<id>
    fields.py     OpenAI's request fields read into artproxy's options
    answers.py    the JSON answer, and what it says of each picture
    streaming.py  "stream": true, as OpenAI's server-sent events
    errors.py     OpenAI's error shape
    blueprint.py  the blueprint they share: keys, error shape
"""

from __future__ import annotations

from web.openai_v1 import images, models  # noqa: F401  (their routes join the blueprint)
from web.openai_v1.blueprint import v1

__all__ = ["v1"]
