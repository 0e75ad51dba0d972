"""The OpenAI-compatible images API under /v1, so every OpenAI client can use artproxy.

    images.py     POST /v1/images/generations, POST /v1/images/edits
    models.py     GET /v1/models
    fields.py     OpenAI's request fields read into artproxy's options
    errors.py     OpenAI's error shape
    blueprint.py  the blueprint they share: keys, error shape
"""

from __future__ import annotations

from web.openai_v1 import images, models  # noqa: F401  (their routes join the blueprint)
from web.openai_v1.blueprint import v1

__all__ = ["v1"]
