"""``POST /v1/images/generations`` (JSON) and ``POST /v1/images/edits`` (multipart), shaped as
in OpenAI's API reference, drawn by artproxy's providers with artproxy's options."""

from __future__ import annotations

import base64

from flask import Response, current_app, request
from werkzeug.datastructures import FileStorage

from errors import BadImage, BadInput
from service import RenderedImage
from web.bodies import json_body
from web.limits import generating_per_image, per_key_quota
from web.openai_v1.blueprint import v1
from web.openai_v1.fields import ImagesRequest, read_request
from web.responses import no_store, service


def images_asked() -> int:
    """What a request costs against the rate limit: the images it asks for (1 if unreadable)."""
    fields = json_body() if request.is_json else request.form
    try:
        asked = int((fields or {}).get("n") or 1)
    except (TypeError, ValueError, OverflowError):
        return 1
    return max(1, min(asked, current_app.config["MAX_IMAGES_PER_REQUEST"]))


@v1.post("/images/generations")
@generating_per_image(images_asked)
@per_key_quota
def generations() -> Response:
    if not request.is_json:
        raise BadInput("Send the request as JSON, with 'Content-Type: application/json'")
    fields = json_body()
    if not isinstance(fields, dict):
        raise BadInput("The body must be a JSON object with at least a prompt")
    asked = read_request(fields, current_app.config)
    return images_answer(service().render_many(asked.prompt, asked.options, asked.count), asked)


@v1.post("/images/edits")
@generating_per_image(images_asked)
@per_key_quota
def edits() -> Response:
    image = read_upload(request.files.get("image") or first(request.files.getlist("image[]")),
                        "image")
    mask_file = request.files.get("mask")
    mask = read_upload(mask_file, "mask") if mask_file else None
    asked = read_request(request.form, current_app.config)
    return images_answer(
        service().edit_many(asked.prompt, image, mask, asked.options, asked.count), asked)


def images_answer(rendered: list[RenderedImage], asked: ImagesRequest) -> Response:
    data = []
    for picture in rendered:
        if asked.response_format == "url":
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
        "output_format": asked.options.format,
        "background": "transparent" if asked.options.transparent else "opaque",
    }))
    response.headers["X-Artproxy-Provider"] = first_picture.provider
    return no_store(response)


def read_upload(upload: FileStorage | None, field: str) -> bytes:
    """An uploaded file's bytes, within the upstream's byte limit; the service checks the image."""
    if upload is None:
        raise BadImage(f"{field} is required: a PNG, JPEG or WebP file", field)
    largest = current_app.config["MAX_UPSTREAM_BYTES"]
    data = upload.stream.read(largest + 1)
    if len(data) > largest:
        raise BadImage(f"{field} is larger than {largest} bytes", field)
    return data


def first(items: list[FileStorage]) -> FileStorage | None:
    return items[0] if items else None
