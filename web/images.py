"""Stored images: ``GET /images/<name>``, with validators and a cache life that ends at the
deadline; ``DELETE /images/<name>`` with its delete token."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.utils import send_file
from werkzeug.wrappers import Response as BaseResponse

from errors import ImageNotFound
from storage import StoredImage
from web.access import check_embedding, embedding_guarded
from web.errors import http_error_response, json_error
from web.limits import unlimited
from web.responses import service

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

images = Blueprint("images", __name__)


@images.get("/images/<name>")
@unlimited
def stored_image(name: str) -> BaseResponse:
    check_embedding()  # before any storage is read
    stored = service().store.get(name)
    if stored is None:
        raise ImageNotFound()
    try:
        return stored_image_response(stored, request.environ, service().clock(),
                                     current_app.response_class,
                                     guarded=embedding_guarded(current_app.config))
    except FileNotFoundError:
        raise ImageNotFound() from None  # swept between the lookup and the open


@images.delete("/images/<name>")
@unlimited
def delete_image(name: str) -> ResponseReturnValue:
    service().delete_with_token(name, request.headers.get("X-Delete-Token", ""))
    return "", 204


def stored_image_response(stored: StoredImage, environ: WSGIEnvironment, now: float,
                          response_class: type[Response], guarded: bool,
                          public_name: str | None = None) -> BaseResponse:
    """The image with its validators and a cache lifetime that ends at its deadline.

    Werkzeug's send_file answers conditional (304) and Range requests from ``environ``. Shared
    by the route, by StoredImageFastPath, so both answer alike, and by prompt URLs, which show
    ``public_name`` (its validator, and the file name a browser saves it under) instead of
    the stored name. ``guarded``: the embedding guard looks at the Referer (web/access.py).
    """
    # Caches may keep the image only while it lives, never past its deadline.
    max_age = max(0, math.floor(stored.expires_at - now))
    # A file's validator is werkzeug's (time, size, path); bytes from a database have their
    # unique name as the validator and their creation time as the date.
    etag: str | bool = public_name or (stored.name if stored.path is None else True)
    download_name = None
    if public_name is not None:
        download_name = f"{public_name}.{stored.name.rsplit('.', 1)[-1]}"
    try:
        if stored.path is not None:
            response = send_file(stored.path, environ, mimetype=stored.mime, max_age=max_age,
                                 etag=etag, download_name=download_name,
                                 response_class=response_class)
        else:
            response = send_file(io.BytesIO(stored.data or b""), environ, mimetype=stored.mime,
                                 download_name=download_name or stored.name, max_age=max_age,
                                 etag=etag, last_modified=stored.created_at,
                                 response_class=response_class)
    except RequestedRangeNotSatisfiable as error:  # a Range no byte of the image satisfies
        return http_error_response(error, response_class)
    if response.status_code == 412:
        # Werkzeug keeps the whole image as the body of a failed If-Match; a 412 says only why.
        response.close()
        return json_error(412, "The image does not match If-Match or If-Unmodified-Since",
                          "precondition_failed", response_class=response_class)
    if guarded:
        # The answer depends on the Referer: a shared cache (a CDN) must not hand the image to
        # a page the guard would refuse.
        response.vary.add("Referer")
    return response
