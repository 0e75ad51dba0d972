"""The JSON answer of /v1's image routes, and what it and the stream's events say of a
picture, as OpenAI's API reference shapes them."""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, current_app, request

from service import ImageService, RenderedImage
from storage import StoredImage
from web.charging import current_charge, made
from web.openai_v1.fields import ImagesRequest
from web.responses import no_store


def images_answer(rendered: list[RenderedImage], asked: ImagesRequest, drawing: ImageService,
                  revised_prompt: bool = True) -> Response:
    data = []
    # Every picture stored before any is paid for: an answer that fails half-way costs nothing.
    pictures = [(picture, stored_if_asked(picture, asked, drawing)) for picture in rendered]
    charge = current_charge()
    for picture, stored in pictures:
        made(charge, asked.prompt, asked.options, picture, stored)
    for picture, stored in pictures:
        item = stored_data(stored, drawing, request.host_url) if stored else b64_data(picture)
        if revised_prompt:
            item["revised_prompt"] = picture.prompt
        data.append(item)
    response = current_app.response_class(mimetype="application/json")
    response.set_data(current_app.json.dumps(
        {"created": int(drawing.clock()), "data": data, **described(rendered[0], asked)}))
    response.headers["X-Artproxy-Provider"] = rendered[0].provider
    return no_store(response)


def described(picture: RenderedImage, asked: ImagesRequest) -> dict[str, str]:
    """What OpenAI's answers and completed events say of the pictures."""
    return {"size": f"{picture.width}x{picture.height}", "quality": asked.quality,
            "output_format": picture.format.name,
            "background": "transparent" if asked.options.transparent else "opaque"}


def stored_if_asked(picture: RenderedImage, asked: ImagesRequest,
                    drawing: ImageService) -> StoredImage | None:
    """The picture stored if the caller wants a ``url``."""
    return drawing.keep(picture) if asked.response_format == "url" else None


def b64_data(picture: RenderedImage) -> dict[str, Any]:
    return {"b64_json": base64.b64encode(picture.data).decode("ascii")}


def stored_data(stored: StoredImage, drawing: ImageService, host_url: str) -> dict[str, Any]:
    return {"url": f"{host_url.rstrip('/')}/images/{stored.name}",
            "delete_token": drawing.delete_token(stored.name)}
