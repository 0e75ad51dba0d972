"""``/account``: the signed-in account (a browser's session or one of the account's keys).

    GET    /account               who, credits, referral link, keys
    POST   /account/keys          a new key, shown this once
    DELETE /account/keys/<id>     the key fails at once, everywhere
    GET    /account/history       what the account made, newest first, a page at a time
    DELETE /account               the account, its keys, sessions and history
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from accounts.store import AccountView, GenerationView, KeyView
from clock import iso_time
from errors import BadInput, KeyNotFound
from web.bodies import json_body
from web.identity import accounts, clear_session_cookie, not_signed_in, required_account_id
from web.limits import unlimited
from web.responses import no_store, service

account = Blueprint("account", __name__, url_prefix="/account")
LONGEST_LABEL = 100
MOST_KEYS = 20
HISTORY_PAGE, LONGEST_HISTORY_PAGE = 20, 100
LARGEST_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL


@account.get("")
@unlimited
def show() -> Response:
    account_id = required_account_id()
    found = accounts().account(account_id)
    if found is None:  # deleted meanwhile
        raise not_signed_in()
    return no_store(jsonify(account_json(found, accounts().keys(account_id))))


@account.delete("")
@unlimited
def delete() -> ResponseReturnValue:
    accounts().delete_account(required_account_id())
    response = current_app.response_class(status=204)
    clear_session_cookie(response)
    return response


@account.post("/keys")
@unlimited
def create_key() -> ResponseReturnValue:
    account_id = required_account_id()
    fields = json_body() if request.is_json and request.content_length else {}
    if not isinstance(fields, dict):
        raise BadInput("The body must be a JSON object, such as {\"label\": \"my script\"}")
    label = fields.get("label", "")
    # Printable text only: no control characters, no lone surrogates (which no database stores).
    if not isinstance(label, str) or len(label) > LONGEST_LABEL or not label.isprintable():
        raise BadInput(f"label must be printable text of at most {LONGEST_LABEL} characters",
                       "label")
    if len(accounts().keys(account_id)) >= MOST_KEYS:
        raise BadInput(f"An account holds at most {MOST_KEYS} keys: revoke one first", "label")
    made, key = accounts().create_key(account_id, label.strip())
    return no_store(jsonify({**key_json(made), "key": key})), 201


@account.delete("/keys/<key_id>")
@unlimited
def revoke_key(key_id: str) -> ResponseReturnValue:
    if not accounts().revoke_key(required_account_id(), key_id):
        raise KeyNotFound()
    return "", 204


@account.get("/history")
@unlimited
def history() -> Response:
    account_id = required_account_id()
    limit = whole_number("limit", HISTORY_PAGE, 1, LONGEST_HISTORY_PAGE)
    before = request.args.get("before")
    items, next_before = accounts().history(
        account_id, limit, whole_number("before", 0, 1) if before is not None else None)
    now = service().clock()
    return no_store(jsonify(items=[history_json(item, now) for item in items],
                            next_before=next_before))


def whole_number(name: str, default: int, least: int, most: int = LARGEST_ID) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # ASCII digits only: str.isdigit() takes "²", which int() refuses.
    if not re.fullmatch(r"[0-9]{1,10}", raw) or not least <= int(raw) <= most:
        raise BadInput(f"{name} must be a whole number from {least} to {most}; got {raw[:20]!r}",
                       name)
    return int(raw)


def account_json(found: AccountView, keys: list[KeyView]) -> dict[str, Any]:
    return {
        "id": found.id,
        "email": found.email,
        "name": found.name,
        "provider": found.provider,
        "credits": {"available": found.credits_available, "earned": found.credits_earned,
                    "spent": found.credits_spent},
        "referral_code": found.referral_code,
        "referral_url": f"{own_address()}/app?ref={found.referral_code}",
        "created_at": iso_time(found.created_at),
        "keys": [key_json(key) for key in keys],
    }


def own_address() -> str:
    return current_app.config["PUBLIC_URL"] or request.host_url.rstrip("/")


def key_json(key: KeyView) -> dict[str, Any]:
    return {"id": key.id, "label": key.label, "created_at": iso_time(key.created_at),
            "last_used_at": iso_time(key.last_used_at) if key.last_used_at is not None else None}


def history_json(item: GenerationView, now: float) -> dict[str, Any]:
    alive = item.image_name is not None and item.expires_at is not None and item.expires_at > now
    return {
        "id": item.id,
        "prompt": item.prompt,
        "options": item.options,
        "provider": item.provider,
        "created_at": iso_time(item.created_at),
        "expires_at": iso_time(item.expires_at) if item.expires_at is not None else None,
        "url": f"/images/{item.image_name}" if alive else None,
    }
