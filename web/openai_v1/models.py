"""``GET /v1/models``: ``artproxy`` (the configured chain) and each configured provider."""

from __future__ import annotations

from typing import Any

from flask import current_app

from web.limits import unlimited
from web.openai_v1.blueprint import v1
from web.openai_v1.fields import CHAIN_MODEL

# A fixed date, as OpenAI gives each model's: artproxy's models do not change between restarts.
CREATED = 1_767_225_600  # 2026-01-01


@v1.get("/models")
@unlimited
def list_models() -> dict[str, Any]:
    names = [CHAIN_MODEL, *current_app.config["PROVIDER"]]
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": CREATED, "owned_by": "artproxy"}
        for name in names]}
