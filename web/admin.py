"""``/admin``: list and delete stored images, with a key from ARTPROXY_ADMIN_KEYS.

Without admin keys configured the whole area does not exist (404), so it cannot be probed.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify
from flask.typing import ResponseReturnValue

from clock import iso_time
from errors import ImageNotFound, Unauthorized
from web.access import check_key
from web.limits import unlimited
from web.responses import no_store, service

admin = Blueprint("admin", __name__, url_prefix="/admin")


@admin.before_request
def admins_only() -> None:
    keys = current_app.config["ADMIN_KEYS"]
    if not keys:
        abort(404)
    check_key(keys, Unauthorized("An admin key is required: send 'Authorization: Bearer <key>'"))


@admin.get("/images")
@unlimited
def list_images() -> Response:
    records = service().store.list_images()
    return no_store(jsonify(
        count=len(records),
        bytes=sum(record.bytes for record in records),
        images=[{"name": record.name, "url": f"/images/{record.name}", "mime": record.mime,
                 "bytes": record.bytes, "created_at": iso_time(record.created_at),
                 "expires_at": iso_time(record.expires_at)} for record in records],
    ))


@admin.delete("/images")
@unlimited
def delete_all_images() -> Response:
    store = service().store
    deleted = sum(store.delete(record.name) for record in store.list_images())
    return no_store(jsonify(deleted=deleted))


@admin.delete("/images/<name>")
@unlimited
def delete_image(name: str) -> ResponseReturnValue:
    if not service().store.delete(name):
        raise ImageNotFound()
    return "", 204
