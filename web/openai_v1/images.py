"""``POST /v1/images/generations`` (JSON) and ``POST /v1/images/edits`` (multipart), shaped as
in OpenAI's API reference, drawn by artproxy's providers with artproxy's options."""

from __future__ import annotations

import base64
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable, Mapping

from flask import current_app, request
from PIL import Image

from errors import BadImage, BadInput, BadOption, BadPrompt, BadUpstreamImage
from generator_client import ImageOptions
from imaging import open_checked
from options import MAX_SEED, checked_prompt, parse_options
from service import RenderedImage
from web.limits import generating_per_image, per_key_quota
from web.openai_v1 import v1
from web.responses import no_store, service

OPENAI_STYLES = ("vivid", "natural")  # accepted for compatibility; they change nothing
EDITABLE_FORMATS = ("PNG", "JPEG", "WEBP")
TEXT_FIELDS = ("model", "size", "background", "style", "response_format", "output_format")


def images_asked() -> int:
    """What a request costs against the rate limit: the images it asks for (1 if unreadable)."""
    fields = request.get_json(silent=True) if request.is_json else request.form
    try:
        asked = int((fields or {}).get("n") or 1)
    except (TypeError, ValueError):
        return 1
    return max(1, min(asked, current_app.config["MAX_IMAGES_PER_REQUEST"]))


@v1.post("/images/generations")
@generating_per_image(images_asked)
@per_key_quota
def generations():
    fields = request.get_json(silent=True)
    if not isinstance(fields, dict):
        raise BadInput("The body must be a JSON object with at least a prompt")
    prompt, count, options, response_format = read_request(fields)
    images_service = service()  # the threads below have no app context
    rendered = in_parallel(lambda picture: images_service.render(prompt, picture),
                           pictures(options, count))
    return images_answer(rendered, options, response_format)


@v1.post("/images/edits")
@generating_per_image(images_asked)
@per_key_quota
def edits():
    image = read_upload(request.files.get("image") or first(request.files.getlist("image[]")),
                        "image")
    mask_file = request.files.get("mask")
    mask = read_upload(mask_file, "mask") if mask_file else None
    region = region_to_redraw(image, mask)
    prompt, count, options, response_format = read_request(request.form)
    images_service = service()
    rendered = in_parallel(lambda picture: images_service.edit(prompt, image, region, picture),
                           pictures(options, count))
    return images_answer(rendered, options, response_format)


def read_request(fields: Mapping[str, Any]) -> tuple[str, int, ImageOptions, str]:
    """The prompt, how many images, their options and the response format; BadInput at fault."""
    try:
        prompt = checked_prompt(fields.get("prompt"), current_app.config["MAX_PROMPT_CHARS"],
                                "prompt is required")
    except BadPrompt as error:
        raise with_param(error, "prompt") from None
    for name in TEXT_FIELDS:
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise BadOption(f"invalid_{name}", f"{name} must be a string", name)
    providers = current_app.config["PROVIDER"]
    model = fields.get("model") or "artproxy"
    if model != "artproxy" and model not in providers:
        raise BadOption("model_not_found", f"model must be artproxy or one of the configured "
                                           f"providers: {', '.join(providers)}; got {model!r}", "model")
    count = read_count(1 if fields.get("n") is None else fields["n"])
    size = fields.get("size") or "auto"
    background = fields.get("background") or "auto"
    if background not in ("transparent", "opaque", "auto"):
        raise BadOption("invalid_background", "background must be transparent, opaque or auto",
                        "background")
    style = fields.get("style") or None
    if style in OPENAI_STYLES:
        style = None
    response_format = fields.get("response_format") or "b64_json"
    if response_format not in ("b64_json", "url"):
        raise BadOption("invalid_response_format", "response_format must be b64_json or url",
                        "response_format")
    options = parse_options({
        "size": "" if size == "auto" else str(size),
        "format": str(fields.get("output_format") or "png"),
        "transparent": "true" if background == "transparent" else "false",
        "style": str(style or ""),
        "provider": "" if model == "artproxy" else model,
    }, providers)
    return prompt, count, options, response_format


def read_count(raw: Any) -> int:
    largest = current_app.config["MAX_IMAGES_PER_REQUEST"]
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # JSON's 2.0 is the whole number 2
    try:
        count = int(raw) if not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        count = None
    if count is None or not 1 <= count <= largest or str(raw).strip() != str(count):
        raise BadOption("invalid_n", f"n must be a whole number from 1 to {largest}", "n")
    return count


def pictures(options: ImageOptions, count: int) -> list[ImageOptions]:
    """``count`` sets of options; with more than one, each gets its own seed so they differ."""
    if count == 1:
        return [options]
    first_seed = secrets.randbelow(MAX_SEED - count)
    return [replace(options, seed=first_seed + number) for number in range(count)]


def in_parallel(draw: Callable[[ImageOptions], RenderedImage],
                each: list[ImageOptions]) -> list[RenderedImage]:
    if len(each) == 1:
        return [draw(each[0])]
    # Under gevent these threads are greenlets: n upstream calls wait at once, not in turn.
    with ThreadPoolExecutor(max_workers=len(each)) as pool:
        return list(pool.map(draw, each))


def images_answer(rendered: list[RenderedImage], options: ImageOptions, response_format: str):
    data = []
    for picture in rendered:
        if response_format == "url":
            stored = service().keep(picture)
            data.append({"url": f"{request.host_url.rstrip('/')}/images/{stored.name}",
                         "delete_token": service().delete_token(stored.name)})
        else:
            data.append({"b64_json": base64.b64encode(picture.data).decode("ascii")})
    first_picture = rendered[0]
    response = current_app.response_class(mimetype="application/json")
    response.set_data(current_app.json.dumps({
        "created": int(service().clock()),
        "data": data,
        "size": f"{first_picture.width}x{first_picture.height}",
        "output_format": options.format,
        "background": "transparent" if options.transparent else "opaque",
    }))
    response.headers["X-Artproxy-Provider"] = first_picture.provider
    return no_store(response)


def read_upload(upload, field: str) -> Image.Image:
    """An uploaded PNG, JPEG or WebP within the upstream's byte and pixel limits."""
    if upload is None:
        raise with_param(BadImage(f"{field} is required: a PNG, JPEG or WebP file"), field)
    largest = current_app.config["MAX_UPSTREAM_BYTES"]
    data = upload.stream.read(largest + 1)
    if len(data) > largest:
        raise with_param(BadImage(f"{field} is larger than {largest} bytes"), field)
    try:
        image = open_checked(data, current_app.config["MAX_IMAGE_PIXELS"])
    except BadUpstreamImage as error:  # the same checks, but here the caller sent it
        raise with_param(BadImage(f"{field} is not a usable image: {error.message}"), field) from None
    if image.format not in EDITABLE_FORMATS:
        raise with_param(BadImage(f"{field} must be a PNG, JPEG or WebP, not {image.format}"), field)
    return image


def region_to_redraw(image: Image.Image, mask: Image.Image | None) -> Image.Image:
    """An L mask, 255 where the picture is redrawn: the mask's transparent pixels, or without a
    mask the image's own."""
    if mask is not None:
        if mask.format != "PNG" or not has_alpha(mask):
            raise with_param(BadImage("mask must be a PNG with an alpha channel"), "mask")
        if mask.size != image.size:
            raise with_param(BadImage(f"mask is {mask.width}x{mask.height} but the image is "
                                      f"{image.width}x{image.height}; they must match"), "mask")
        source, field = mask, "mask"
    elif has_alpha(image):
        source, field = image, "image"
    else:
        raise with_param(BadImage("Nothing to edit: send a mask, or an image with transparent "
                                  "pixels where it should be redrawn"), "mask")
    region = source.convert("RGBA").getchannel("A").point(lambda alpha: 255 if alpha == 0 else 0)
    if region.getbbox() is None:
        raise with_param(BadImage(f"Nothing to edit: the {field} has no fully transparent pixel"),
                         field)
    return region


def has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or "transparency" in image.info


def first(items: list):
    return items[0] if items else None


def with_param(error: BadInput, param: str) -> BadInput:
    error.param = param
    return error
