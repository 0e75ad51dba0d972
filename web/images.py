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
PIECE_BYTES = 2**20


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


class LargeReads(io.BytesIO):
    """Bytes in memory, read in pieces of up to a MiB. Werkzeug's file wrapper asks for 8 KiB at
    a time, so an 846 kB picture from Redis went out in 104 writes: half of a worker's CPU when
    serving it (bench/ row R)."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(-1 if size is None or size < 0 else max(size, PIECE_BYTES))


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
    # A stored file's validator is werkzeug's (time, size, path); an image from a database (its
    # bytes, or a memory file of them: storage/hot_images.py) has its unique name as the
    # validator and its creation time as the date.
    from_database = stored.created_at is not None
    etag: str | bool = public_name or (stored.name if from_database else True)
    download_name = stored.name if from_database else None
    if public_name is not None:
        download_name = f"{public_name}.{stored.name.rsplit('.', 1)[-1]}"
    source = stored.path if stored.path is not None else LargeReads(stored.data or b"")
    try:
        response = send_file(source, environ, mimetype=stored.mime, max_age=max_age, etag=etag,
                             download_name=download_name, last_modified=stored.created_at,
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
