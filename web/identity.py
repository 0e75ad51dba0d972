"""Who a request acts for: an account, by one of its API keys or a signed-in browser's cookie.

A key (``Authorization: Bearer apk_...``) wins over the cookie. The cookie counts only for
requests from artproxy's own pages: a change (``POST``, ``DELETE``) it comes with from another
site is refused (CrossSiteRequest), and a read another site's page made the browser send is
served as if no one were signed in. Every look is in the database, so a key revoked or a
session ended on one instance fails on every other at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, current_app, g, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from accounts.store import KEY_PREFIX, AccountStore
from errors import CrossSiteRequest, Unauthorized
from web.access import check_key, is_own_origin, presented_key

ACCOUNTS = "artproxy_accounts"
SESSION_COOKIE = "artproxy_session"
CHANGES = ("POST", "PUT", "PATCH", "DELETE")


def not_signed_in() -> Unauthorized:
    return Unauthorized("Sign in at /app, or send one of the account's keys as "
                        "'Authorization: Bearer <key>'")


def account_store() -> AccountStore | None:
    """The accounts' store; None when no sign-in provider is configured (no accounts)."""
    return current_app.extensions.get(ACCOUNTS)


def accounts() -> AccountStore:
    """The accounts' store, for routes about accounts: 404 where there are none, as if the
    route did not exist (/account and /auth are not even registered then; /admin's are)."""
    found = account_store()
    if found is None:
        abort(404)
    return found


def current_account_id() -> int | None:
    """The account this request acts for, or None; looked up once per request."""
    if "artproxy_account" not in g:
        g.artproxy_account = identified_account()
    return g.artproxy_account


def required_account_id() -> int:
    account_id = current_account_id()
    if account_id is None:
        raise not_signed_in()
    return account_id


def require_premium_key(
        view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    @functools.wraps(view)
    def checked_view(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        check_premium_key()
        return view(*args, **kwargs)

    return checked_view


def check_premium_key() -> None:
    """Unauthorized unless a configured key was presented, or the request acts for an account
    (one of its keys, or a signed-in browser), or no key is configured."""
    keys = current_app.config["PREMIUM_KEYS"]
    if keys and current_account_id() is None:
        check_key(keys, Unauthorized())


def identified_account() -> int | None:
    store = account_store()
    if store is None:
        return None
    key = presented_key()
    if key.startswith(KEY_PREFIX):
        return store.account_for_key(key)
    token = request.cookies.get(SESSION_COOKIE)
    if not token or key or not from_own_pages():
        return None
    return store.account_for_session(token)


def from_own_pages() -> bool:
    """Whether the browser's cookie may act here. A change needs an Origin that is artproxy's
    own (browsers send one on every POST and DELETE); a read that the browser says another site
    asked for (Sec-Fetch-Site) is served, but for no one."""
    if request.method in CHANGES:
        origin = request.headers.get("Origin")
        if origin is None or not is_own_origin(origin):
            raise CrossSiteRequest()
        return True
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


def set_session_cookie(response: BaseResponse, token: str, lifetime_seconds: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=lifetime_seconds, httponly=True,
                        samesite="Lax", secure=request.is_secure, path="/")


def clear_session_cookie(response: BaseResponse) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="Lax",
                           secure=request.is_secure, path="/")
