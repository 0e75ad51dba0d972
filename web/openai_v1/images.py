"""``POST /v1/images/generations`` (JSON), ``/v1/images/edits`` and ``/v1/images/variations``
(multipart), shaped as in OpenAI's API reference, drawn by artproxy's providers with artproxy's
options; with ``stream`` the answer is OpenAI's event stream (streaming.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Response, current_app, request
from werkzeug.datastructures import FileStorage

from errors import BadImage, BadInput
from service import PartialsWanted, RenderedImage
from web.bodies import json_body
from web.limits import generating_per_image, per_key_quota
from web.openai_v1.answers import images_answer
from web.openai_v1.blueprint import v1
from web.openai_v1.fields import ImagesRequest, read_model, read_request, read_response_format
from web.openai_v1.streaming import event_stream
from web.responses import service

MAX_EDIT_IMAGES = 16  # as OpenAI's gpt-image models take


def images_asked() -> int:
    """What a request costs against the rate limit: the images it asks for (1 if unreadable)."""
    fields = json_body() if request.is_json else request.form
    if not isinstance(fields, Mapping):
        return 1  # refused by the view; a limit is still spent
    try:
        asked = int(fields.get("n") or 1)
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
    drawing = service()
    return answered(
        lambda partials: drawing.render_many(asked.prompt, asked.options, asked.count, partials),
        asked, "image_generation")


@v1.post("/images/edits")
@generating_per_image(images_asked)
@per_key_quota
def edits() -> Response:
    uploads = request.files.getlist("image") + request.files.getlist("image[]")
    if len(uploads) > MAX_EDIT_IMAGES:
        raise BadImage(f"Send at most {MAX_EDIT_IMAGES} images", "image")
    images = [read_upload(upload, "image") for upload in uploads] or [read_upload(None, "image")]
    mask_file = request.files.get("mask")
    mask = read_upload(mask_file, "mask") if mask_file else None
    asked = read_request(request.form, current_app.config, from_form=True)
    drawing = service()
    editable = drawing.editable(images, mask)  # checked before a stream's first byte
    return answered(
        lambda partials: drawing.edit_many(asked.prompt, editable, asked.options, asked.count,
                                           partials),
        asked, "image_edit")


@v1.before_request
def variations_available() -> None:
    # Before the limits are spent: where no provider draws variations, none ever succeeds.
    if request.endpoint == "v1.variations" and request.method == "POST":
        service().check_variations(read_model(request.form.get("model"), current_app.config))


@v1.post("/images/variations")
@generating_per_image(images_asked)
@per_key_quota
def variations() -> Response:
    image = read_upload(request.files.get("image"), "image")
    form = request.form.to_dict()
    # A variation has no prompt of its own; the fields are otherwise a generation's.
    asked = read_request({**form, "prompt": "a variation of the image",
                          "response_format": read_response_format(form, "dall-e-2")},
                         current_app.config, from_form=True)
    drawing = service()
    return images_answer(drawing.vary_many(image, asked.options, asked.count), asked, drawing,
                         revised_prompt=False)


def answered(draw: Callable[[PartialsWanted | None], list[RenderedImage]], asked: ImagesRequest,
             event_prefix: str) -> Response:
    """The pictures as one JSON answer, or with ``stream`` as OpenAI's events."""
    if asked.stream:
        return event_stream(draw, asked, event_prefix)
    return images_answer(draw(None), asked, service())


def read_upload(upload: FileStorage | None, field: str) -> bytes:
    """An uploaded file's bytes, within the upstream's byte limit; the service checks the image."""
    if upload is None:
        raise BadImage(f"{field} is required: a PNG, JPEG or WebP file", field)
    largest = current_app.config["MAX_UPSTREAM_BYTES"]
    data = upload.stream.read(largest + 1)
    if len(data) > largest:
        raise BadImage(f"{field} is larger than {largest} bytes", field)
    return data
