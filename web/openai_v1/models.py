"""``GET /v1/models`` and ``GET /v1/models/<id>``: ``artproxy`` (the configured chain), each
configured provider, each alias, and OpenAI's best-known image models, which the chain draws."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from errors import ModelNotFound
from web.limits import unlimited
from web.openai_v1.blueprint import v1
from web.openai_v1.fields import CHAIN_MODEL, OPENAI_MODELS, OPENAI_MODELS_LISTED

# A fixed date, as OpenAI gives each model's: artproxy's models do not change between restarts.
CREATED = 1_767_225_600  # 2026-01-01


@v1.get("/models")
@unlimited
def list_models() -> dict[str, Any]:
    return {"object": "list", "data": [model(name) for name in model_names(current_app.config)]}


@v1.get("/models/<path:model_id>")
@unlimited
def retrieve_model(model_id: str) -> dict[str, Any]:
    # Any of OpenAI's image models is drawn, listed or not (gpt-image-1.5, ...).
    if model_id in model_names(current_app.config) or OPENAI_MODELS.fullmatch(model_id):
        return model(model_id)
    raise ModelNotFound(f"The model {model_id!r} does not exist")


def model_names(config: Mapping[str, Any]) -> list[str]:
    names = [CHAIN_MODEL, *config["PROVIDER"], *config["MODEL_ALIASES"], *OPENAI_MODELS_LISTED]
    return list(dict.fromkeys(names))  # an alias may be one of OpenAI's names


def model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": CREATED, "owned_by": "artproxy"}
