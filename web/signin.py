"""Signing in with OpenID Connect providers (ARTPROXY_SIGNIN_PROVIDERS), through Authlib.

    GET  /auth/<name>/login[?ref=<code>]  -> the provider (authorization code, PKCE S256,
                                             state and nonce)
    GET  /auth/<name>/callback            -> /app, signed in (the account made on first sign-in)
    POST /auth/signout                    -> the session ends everywhere at once

What a sign-in under way needs when the browser returns (the PKCE verifier, the nonce, the
referral code) is kept in the accounts' database under its state, so any worker of any
instance can finish it, and taken in one statement, so a state works once. Authlib also binds
it to the browser that started it, with a mark in Flask's signed session cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, Response, abort, current_app, redirect, request, url_for
from flask_limiter.util import get_remote_address
from joserfc.errors import JoseError
from werkzeug.wrappers import Response as BaseResponse

from accounts.store import AccountStore
from errors import SignInFailed, SignInUnavailable
from web.access import CountedAttempts
from web.identity import (
    SESSION_COOKIE,
    accounts,
    clear_session_cookie,
    from_own_pages,
    set_session_cookie,
)
from web.limits import unlimited

signin = Blueprint("signin", __name__, url_prefix="/auth")
OAUTH = "artproxy_oauth"
SIGNIN_MINUTES = 10  # from leaving for the provider to coming back
# Each start writes a row: plenty for people, too few to fill the table.
STARTS = "artproxy_signin_starts"
STARTS_PER_CLIENT = "30/minute"
PROVIDER_TIMEOUT = (5, 20)  # connect, read: as every upstream call has one
DAY_SECONDS = 86400


class SignInStates:
    """Authlib's cache for sign-ins under way, in the accounts' database. Reading a state
    removes it: a replayed callback finds nothing."""

    def __init__(self, store: AccountStore):
        self.store = store

    def get(self, key: str) -> str | None:
        return self.store.take_signin_state(key)

    def set(self, key: str, value: str, expires: float | None = None) -> None:
        self.store.keep_signin_state(key, value, min(expires or 60 * SIGNIN_MINUTES,
                                                     60 * SIGNIN_MINUTES))

    def delete(self, key: str) -> None:
        self.store.take_signin_state(key)


def init_app(app: Flask, store: AccountStore) -> None:
    # Flask's session cookie carries only Authlib's mark of a sign-in under way, signed with
    # a key made from ARTPROXY_SECRET_KEY (the instance's own when it is empty), not with it.
    secret = app.extensions["artproxy"].secret_key
    app.secret_key = hmac.new(secret.encode(), b"signin cookie", hashlib.sha256).hexdigest()
    app.config.update(SESSION_COOKIE_NAME="artproxy_signin", SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=app.config["PUBLIC_URL"].startswith("https://"))
    oauth = OAuth(app, cache=SignInStates(store))
    for client in app.config["SIGNIN"].values():
        oauth.register(
            client.name, client_id=client.client_id, client_secret=client.client_secret,
            server_metadata_url=f"{client.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256",
                           "default_timeout": PROVIDER_TIMEOUT})
    app.extensions[OAUTH] = oauth
    counters = app.extensions["artproxy"].counters
    if counters is not None:
        app.extensions[STARTS] = CountedAttempts(
            counters, STARTS_PER_CLIENT, STARTS,
            "Too many sign-ins started from this address; try again in a minute")


def provider_client(name: str) -> Any:  # Authlib's FlaskOAuth2App (Authlib has no types)
    oauth = current_app.extensions.get(OAUTH)
    client = oauth.create_client(name) if oauth is not None else None
    if client is None:
        abort(404)
    return client


@signin.get("/<name>/login")
@unlimited
def login(name: str) -> BaseResponse:
    client = provider_client(name)
    starts: CountedAttempts | None = current_app.extensions.get(STARTS)
    if starts is not None:
        starts.refuse_if_over(get_remote_address())
        starts.count(get_remote_address())
    redirect_uri = url_for("signin.callback", name=name, _external=True)
    try:
        started = client.create_authorization_url(redirect_uri)
    except (requests.RequestException, ValueError) as error:
        raise SignInUnavailable() from error
    client.save_authorize_data(redirect_uri=redirect_uri, **started)
    referral_code = request.args.get("ref", "").strip()
    if referral_code:
        accounts().keep_signin_state(f"_ref_{started['state']}", referral_code[:64],
                                  60 * SIGNIN_MINUTES)
    return redirect(started["url"])


@signin.get("/<name>/callback")
@unlimited
def callback(name: str) -> BaseResponse:
    client = provider_client(name)
    state = request.args.get("state", "")
    try:
        issuer = client.load_server_metadata()["issuer"]
        # Authlib checks the issuer on its own but not that artproxy is the audience: an ID
        # token the provider made for another app must not sign anyone in here.
        token = client.authorize_access_token(claims_options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client.client_id}})
    except MismatchingStateError as error:
        raise SignInFailed("This sign-in is unknown, expired or already finished "
                           "(state); start it again") from error
    except OAuthError as error:
        # Refused at the provider (?error=...): what the sign-in kept is not needed any more.
        accounts().take_signin_state(f"_state_{name}_{state}")
        accounts().take_signin_state(f"_ref_{state}")
        raise SignInFailed(f"The provider refused the sign-in: {error.error}"
                           + (f" ({error.description})" if error.description else "")) from error
    except JoseError as error:
        raise SignInFailed(f"The provider's ID token is not valid for artproxy: "
                           f"{error.description or error.error}") from error
    except (requests.RequestException, ValueError, KeyError) as error:
        raise SignInUnavailable() from error
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise SignInFailed("The provider sent no ID token")
    referral_code = accounts().take_signin_state(f"_ref_{state}") if state else None
    account, _ = accounts().sign_in(name, str(claims["sub"]), claims.get("email"),
                                 claims.get("name"), referral_code)
    lifetime = current_app.config["SESSION_DAYS"] * DAY_SECONDS
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # this browser's earlier session (perhaps someone else's) ends here
        accounts().end_session(previous)
    response = redirect("/app")
    set_session_cookie(response, accounts().start_session(account.id, lifetime), lifetime)
    return response


@signin.post("/signout")
@unlimited
def signout() -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token and from_own_pages():
        accounts().end_session(token)
    response = current_app.response_class(status=204)
    clear_session_cookie(response)
    return response

