"""The classic API: ``GET /generate`` (base64 JSON) and ``GET /image`` (a stored image's URL)."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import MethodNotAllowed

from errors import BadPrompt
from web.access import require_premium_key
from web.limits import generating
from web.responses import base64_json_response, no_store, service

classic = Blueprint("classic", __name__)


@classic.before_request
def head_never_generates() -> None:
    # Flask answers HEAD by running the GET view; here that would call the upstream (and store
    # an image) only to throw the body away.
    if request.method == "HEAD":
        raise MethodNotAllowed(valid_methods=["GET", "OPTIONS"])


def read_prompt(missing_message: str) -> str:
    """The one place request input is checked: ``p`` must be present, not blank, not too long."""
    prompt = request.args.get("p", "").strip()
    if not prompt:
        raise BadPrompt(missing_message)
    limit = current_app.config["MAX_PROMPT_CHARS"]
    if len(prompt) > limit:
        raise BadPrompt(f"Prompt is too long: {len(prompt)} characters, the limit is {limit}")
    return prompt


@classic.get("/generate")
@generating
def generate():
    prompt = read_prompt("Prompt is required")
    png = service().generate_png(prompt)
    return no_store(base64_json_response(png, "image/png"))


@classic.get("/image")
@generating
@require_premium_key
def image():
    prompt = read_prompt("No prompt provided")
    stored = service().generate_and_store(prompt)
    return no_store(jsonify(
        url=f"/images/{stored.name}",
        expires_at=datetime.fromtimestamp(stored.expires_at, timezone.utc)
        .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        expires_in=round(stored.expires_at - service().clock()),
    ))
