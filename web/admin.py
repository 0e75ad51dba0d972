"""``/admin``: list and delete stored images, list accounts and grant them credits, with a key
from ARTPROXY_ADMIN_KEYS.

Without admin keys configured the whole area does not exist (404), so it cannot be probed.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from accounts.credits import MOST_CREDITS
from clock import iso_time
from errors import AccountNotFound, BadInput, ImageNotFound, Unauthorized
from web.access import check_key
from web.account import LARGEST_ID, account_json, whole_number
from web.bodies import json_body
from web.identity import accounts
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



@admin.get("/accounts")
@unlimited
def list_accounts() -> Response:
    limit = whole_number("limit", 100, 1, 1000)
    page = accounts().accounts(limit + 1, after=whole_number("after", 0, 0))
    return no_store(jsonify(
        accounts=[account_json(found, accounts().keys(found.id)) for found in page[:limit]],
        next_after=page[limit - 1].id if len(page) > limit else None))


@admin.post("/accounts/<int:account_id>/credits")
@unlimited
def grant_credits(account_id: int) -> Response:
    fields = json_body() if request.is_json else None
    add = fields.get("add") if isinstance(fields, dict) else None
    if isinstance(add, bool) or not isinstance(add, int) or not 1 <= add <= MOST_CREDITS:
        raise BadInput(f"Send {{\"add\": N}}, N a whole number from 1 to {MOST_CREDITS}", "add")
    if not 0 <= account_id <= LARGEST_ID or accounts().account(account_id) is None:
        raise AccountNotFound()
    if not accounts().grant(account_id, add):
        raise BadInput(f"An account holds at most {MOST_CREDITS} credits", "add")
    granted = accounts().account(account_id)
    if granted is None:  # deleted this moment
        raise AccountNotFound()
    return no_store(jsonify(account_json(granted, accounts().keys(account_id))))
