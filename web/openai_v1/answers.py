"""The JSON answer of /v1's image routes, and what it and the stream's events say of a
picture, as OpenAI's API reference shapes them."""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, current_app, request

from service import ImageService, RenderedImage
from web.openai_v1.fields import ImagesRequest
from web.responses import no_store


def images_answer(rendered: list[RenderedImage], asked: ImagesRequest, drawing: ImageService,
                  revised_prompt: bool = True) -> Response:
    data = []
    for picture in rendered:
        item = picture_data(picture, asked.response_format, drawing, request.host_url)
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


def picture_data(picture: RenderedImage, response_format: str, drawing: ImageService,
                 host_url: str) -> dict[str, Any]:
    """``{"b64_json"}``, or with ``url`` the picture stored and ``{"url", "delete_token"}``."""
    if response_format == "url":
        stored = drawing.keep(picture)
        return {"url": f"{host_url.rstrip('/')}/images/{stored.name}",
                "delete_token": drawing.delete_token(stored.name)}
    return {"b64_json": base64.b64encode(picture.data).decode("ascii")}
