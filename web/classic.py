"""The classic API: ``GET /generate`` (base64 JSON), ``GET /image`` (a stored image's URL),
``GET /styles`` (the style presets) and ``GET /options`` (what else a caller may choose)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import MethodNotAllowed

from generator_client import ImageOptions
from imaging import FORMATS
from options import (
    ASPECTS,
    MAX_SEED,
    STYLES,
    aspect_size,
    checked_prompt,
    declared_options,
    parse_options,
)
from service import RenderedImage
from web.charging import current_charge, made
from web.identity import require_premium_key
from web.limits import generating, per_key_quota, quota_status, unlimited
from web.responses import base64_json_response, no_store, service, stored_image_json

classic = Blueprint("classic", __name__)


@classic.before_request
def head_never_generates() -> None:
    # Flask answers HEAD by running the GET view; here that would call the upstream (and store
    # an image) only to throw the body away.
    if request.method == "HEAD" and request.endpoint in ("classic.generate", "classic.image"):
        raise MethodNotAllowed(valid_methods=["GET", "OPTIONS"])


def read_prompt(missing_message: str) -> str:
    return checked_prompt(request.args.get("p", ""), current_app.config["MAX_PROMPT_CHARS"],
                          missing_message)


def read_options() -> ImageOptions:
    return parse_options(request.args, current_app.config["PROVIDER"])


def with_provider(response: Response, rendered: RenderedImage) -> Response:
    response.headers["X-Artproxy-Provider"] = rendered.provider
    return no_store(response)


@classic.get("/generate")
@generating
def generate() -> Response:
    prompt = read_prompt("Prompt is required")
    options = read_options()
    rendered = service().render(prompt, options)
    made(current_charge(), prompt, options, rendered)
    return with_provider(base64_json_response(rendered.data, rendered.format.mime, {
        "provider": rendered.provider, "width": rendered.width, "height": rendered.height,
    }), rendered)


@classic.get("/image")
@generating
@per_key_quota
@require_premium_key
def image() -> Response:
    prompt = read_prompt("No prompt provided")
    options = read_options()
    rendered, stored = service().render_and_store(prompt, options)
    made(current_charge(), prompt, options, rendered, stored)
    return with_provider(jsonify(stored_image_json(
        stored.name, stored.expires_at, rendered.format.mime, rendered.provider, rendered.width,
        rendered.height)), rendered)


@classic.get("/styles")
@unlimited
def styles() -> Response:
    return jsonify([{"name": style.name, "label": style.label, "description": style.description}
                    for style in STYLES.values()])


@classic.get("/options")
@unlimited
def image_options() -> Response:
    """What a caller may choose beside the styles, so a page or client offers exactly what is
    accepted: every option as declared (``options``), and the choices a page shows."""
    providers = current_app.config["PROVIDER"]
    return jsonify(
        aspects=[{"name": aspect, "width": aspect_size(aspect)[0], "height": aspect_size(aspect)[1]}
                 for aspect in ASPECTS],
        formats=list(FORMATS),
        providers=list(providers),
        max_seed=MAX_SEED,
        max_prompt_chars=current_app.config["MAX_PROMPT_CHARS"],
        keys_required=bool(current_app.config["PREMIUM_KEYS"]),
        prompt_urls=current_app.config["PROMPT_URLS"],  # whether GET /prompt/<prompt> answers
        # Who people may sign in with (GET /auth/<name>/login); empty: no accounts here.
        signin=[{"name": client.name, "label": client.label}
                for client in current_app.config["SIGNIN"].values()],
        options=[{"name": option.name, "description": option.description,
                  "default": option.default, "error_code": option.code,
                  "schema": option.kind.schema()}
                 for option in declared_options(tuple(providers))],
    )


@classic.get("/quota")
@unlimited
@require_premium_key
def quota() -> Response:
    """What is left of the presented key's ARTPROXY_KEY_QUOTA."""
    return no_store(jsonify(quota_status()))
