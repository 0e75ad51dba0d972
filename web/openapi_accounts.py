"""The accounts' part of the OpenAPI document (web/openapi.py adds it when sign-in providers
are configured): sign-in, /account and its keys and history, and the admins' accounts routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.credits import MOST_CREDITS
from web.account import LARGEST_ID, LONGEST_HISTORY_PAGE, LONGEST_LABEL

SIGNED_IN: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}, {"session": []}]
ADMIN: list[dict[str, list[str]]] = [{"bearer": []}]
DATE_TIME = {"type": "string", "format": "date-time"}
NULLABLE_DATE_TIME = {"type": ["string", "null"], "format": "date-time"}


def account_paths(operation: Callable[..., dict], json_answer: Callable[[str], dict],
                  no_content: Callable[[str], dict], errors: Callable[..., dict],
                  admin: bool) -> dict[str, Any]:
    provider = {"name": "name", "in": "path", "required": True,
                "description": "A provider named in ARTPROXY_SIGNIN_PROVIDERS",
                "schema": {"type": "string"}}
    redirect = no_content("To the provider, or back to /app signed in")
    routes = {
        "/auth/{name}/login": {"get": operation(
            "Sign in: to the provider (code flow with PKCE)", {302: redirect, **errors(404, 502)},
            parameters=[provider, {"name": "ref", "in": "query", "description": "A referral code",
                                   "schema": {"type": "string"}}])},
        "/auth/{name}/callback": {"get": operation(
            "Where the provider sends the browser back; sets the session cookie", {
                302: redirect, **errors(400, 404, 502)},
            parameters=[provider, *({"name": name, "in": "query", "schema": {"type": "string"}}
                                    for name in ("code", "state", "error"))])},
        "/auth/signout": {"post": operation("End this browser's session everywhere", {
            204: no_content("Signed out"), **errors(403)})},
        "/account": {
            "get": operation("The signed-in account", {
                200: json_answer("Account"), **errors(401, 403)}, security=SIGNED_IN),
            "delete": operation("Delete the account, its keys, sessions and history", {
                204: no_content("Deleted"), **errors(401, 403)}, security=SIGNED_IN),
        },
        "/account/keys": {"post": operation("A new API key, shown this once", {
            201: json_answer("NewKey"), **errors(400, 401, 403)},
            body={"$ref": "#/components/schemas/NewKeyRequest"}, security=SIGNED_IN)},
        "/account/keys/{key_id}": {"delete": operation("Revoke a key: it fails at once", {
            204: no_content("Revoked"), **errors(401, 403, 404)},
            parameters=[{"name": "key_id", "in": "path", "required": True,
                         "schema": {"type": "string"}}], security=SIGNED_IN)},
        "/account/history": {"get": operation("What the account made, newest first", {
            200: json_answer("History"), **errors(400, 401, 403)},
            parameters=[{"name": "limit", "in": "query", "schema": {
                "type": "integer", "minimum": 1, "maximum": LONGEST_HISTORY_PAGE}},
                {"name": "before", "in": "query", "description": "next_before of the page before",
                 "schema": {"type": "integer", "minimum": 1, "maximum": LARGEST_ID}}],
            security=SIGNED_IN)},
    }
    # A key needs no label: the body may be left out.
    routes["/account/keys"]["post"]["requestBody"]["required"] = False
    if admin:
        routes.update({
            "/admin/accounts": {"get": operation("Every account (admin key)", {
                200: json_answer("AccountListing"), **errors(400, 401)},
                parameters=[{"name": "limit", "in": "query", "schema": {
                    "type": "integer", "minimum": 1, "maximum": 1000}},
                    {"name": "after", "in": "query",
                     "schema": {"type": "integer", "minimum": 0, "maximum": LARGEST_ID}}],
                security=ADMIN)},
            "/admin/accounts/{account_id}/credits": {"post": operation(
                "Give an account credits (admin key)", {
                    200: json_answer("Account"), **errors(400, 401, 404)},
                parameters=[{"name": "account_id", "in": "path", "required": True,
                             "schema": {"type": "integer", "minimum": 0}}],
                body={"$ref": "#/components/schemas/Grant"}, security=ADMIN)},
        })
    return routes


def account_schemas() -> dict[str, Any]:
    key: dict[str, Any] = {"type": "object",
                           "required": ["id", "label", "created_at", "last_used_at"],
                           "properties": {"id": {"type": "string"}, "label": {"type": "string"},
                                          "created_at": DATE_TIME,
                                          "last_used_at": NULLABLE_DATE_TIME}}
    account = {
        "type": "object",
        "required": ["id", "email", "name", "provider", "credits", "referral_code",
                     "referral_url", "keys", "created_at"],
        "properties": {
            "id": {"type": "integer"}, "email": {"type": ["string", "null"]},
            "name": {"type": ["string", "null"]}, "provider": {"type": "string"},
            "credits": {"type": "object", "required": ["available", "earned", "spent"],
                        "properties": {name: {"type": "integer"}
                                       for name in ("available", "earned", "spent")}},
            "referral_code": {"type": "string"}, "referral_url": {"type": "string"},
            "keys": {"type": "array", "items": key}, "created_at": DATE_TIME}}
    return {
        "Account": account,
        "AccountListing": {"type": "object", "required": ["accounts", "next_after"],
                           "properties": {"accounts": {"type": "array", "items": account},
                                          "next_after": {"type": ["integer", "null"]}}},
        "NewKeyRequest": {"type": "object", "properties": {
            "label": {"type": "string", "maxLength": LONGEST_LABEL}}},
        "NewKey": {**key, "required": [*key["required"], "key"],
                   "properties": {**key["properties"], "key": {"type": "string"}}},
        "History": {"type": "object", "required": ["items", "next_before"], "properties": {
            "items": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "prompt", "options", "provider", "created_at", "expires_at",
                             "url"],
                "properties": {"id": {"type": "integer"}, "prompt": {"type": "string"},
                               "options": {"type": "object"}, "provider": {"type": "string"},
                               "created_at": DATE_TIME, "expires_at": NULLABLE_DATE_TIME,
                               "url": {"type": ["string", "null"]}}}},
            "next_before": {"type": ["integer", "null"]}}},
        "Grant": {"type": "object", "required": ["add"], "properties": {
            "add": {"type": "integer", "minimum": 1, "maximum": MOST_CREDITS}}},
    }
