"""Signing in through a real OpenID provider (npm oidc-provider, started by the tests): the
flow over HTTP, every callback that must be refused, referrals, sessions, sign-out and CSRF.
artproxy runs in-process here; its calls to the provider are real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests

import config
from tests.accounts.openid_provider import OpenIDProvider, sign_in_at_provider
from tests.helpers import error_of

OWN = {"Origin": "http://localhost"}
CALLBACKS = [f"{scheme}://localhost/auth/{name}/callback"
             for scheme in ("http", "https") for name in ("test", "other")]


@pytest.fixture
def provider():
    with OpenIDProvider(CALLBACKS, client_ids=("artproxy", "other-app")) as running:
        yield running


def signin_settings(provider: OpenIDProvider) -> dict:
    return {**config.signin_clients(provider.settings("test"), ("test",)),
            **config.signin_clients(provider.settings("other", "other-app"), ("other",))}


@pytest.fixture
def app(make_app, provider):
    return make_app(SIGNIN=signin_settings(provider))


def accounts_of(app) -> list:
    return app.extensions["artproxy_accounts"].accounts()


def start(client, name: str = "test", ref: str | None = None, base_url: str = "http://localhost"):
    answer = client.get(f"/auth/{name}/login" + (f"?ref={ref}" if ref else ""),
                        base_url=base_url)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return answer.headers["Location"]


def come_back(client, callback_url: str):
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}", base_url=f"{parts.scheme}://{parts.netloc}")


def sign_in(client, login: str = "ada", name: str = "test", ref: str | None = None):
    return come_back(client, sign_in_at_provider(requests.Session(), start(client, name, ref),
                                                 login))


def session_cookie(answer) -> str | None:
    for header in answer.headers.getlist("Set-Cookie"):
        if header.startswith("artproxy_session=") and not header.startswith("artproxy_session=;"):
            return header
    return None


def test_signing_in_makes_the_account_once_and_a_session_cookie(app):
    client = app.test_client()
    answer = sign_in(client)
    assert (answer.status_code, answer.headers["Location"]) == (302, "/app")
    cookie = session_cookie(answer)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    shown = client.get("/account").json
    assert (shown["provider"], shown["email"], shown["name"]) == (
        "test", "ada@example.test", "Person ada")
    assert shown["credits"] == {"available": 50, "earned": 50, "spent": 0}
    again = sign_in(app.test_client())  # another browser, the same person
    assert again.status_code == 302 and len(accounts_of(app)) == 1


def test_over_https_the_session_cookie_is_secure(app):
    client = app.test_client()
    location = start(client, base_url="https://localhost")
    answer = come_back(client, sign_in_at_provider(requests.Session(), location, "ada"))
    assert answer.status_code == 302 and "Secure" in session_cookie(answer)


def test_the_provider_is_asked_for_a_code_with_pkce_state_and_nonce(app, provider):
    asked = parse_qs(urlsplit(start(app.test_client())).query)
    assert urlsplit(start(app.test_client())).netloc == urlsplit(provider.issuer).netloc
    assert asked["response_type"] == ["code"] and asked["code_challenge_method"] == ["S256"]
    assert len(asked["code_challenge"][0]) == 43  # base64url of a SHA-256
    assert len(asked["state"][0]) >= 20 and len(asked["nonce"][0]) >= 20
    assert "openid" in asked["scope"][0].split()


def test_a_replayed_callback_is_refused_and_signs_no_one_in(app):
    client = app.test_client()
    callback = sign_in_at_provider(requests.Session(), start(client), "ada")
    assert come_back(client, callback).status_code == 302
    for browser in (client, app.test_client()):
        replayed = come_back(browser, callback)
        assert replayed.status_code == 400 and error_of(replayed)["code"] == "signin_failed"
        assert "state" in error_of(replayed)["error"] and session_cookie(replayed) is None


@pytest.mark.parametrize("change", ["another browser", "unknown state", "no state"])
def test_a_callback_whose_state_does_not_match_is_refused(app, change):
    client = app.test_client()
    callback = sign_in_at_provider(requests.Session(), start(client), "ada")
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    if change == "unknown state":
        query["state"] = ["not-the-state"]
    if change == "no state":
        del query["state"]
    browser = app.test_client() if change == "another browser" else client
    answer = come_back(browser, urlunsplit(parts._replace(query=urlencode(query, doseq=True))))
    assert answer.status_code == 400 and error_of(answer)["code"] == "signin_failed"
    assert session_cookie(answer) is None and accounts_of(app) == []


def test_an_id_token_with_another_nonce_is_refused(app):
    client = app.test_client()
    parts = urlsplit(start(client))
    query = parse_qs(parts.query)
    query["nonce"] = ["a-nonce-artproxy-never-made"]
    tampered = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    answer = come_back(client, sign_in_at_provider(requests.Session(), tampered, "ada"))
    assert answer.status_code == 400 and "nonce" in error_of(answer)["error"]
    assert session_cookie(answer) is None and accounts_of(app) == []


@pytest.mark.parametrize("claims", [{"iss": "https://accounts.elsewhere.example"},
                                    {"aud": "someone-elses-app"}])
def test_an_id_token_from_another_issuer_or_for_another_app_is_refused(app, provider, claims):
    client = app.test_client()
    callback = sign_in_at_provider(requests.Session(), start(client), "ada")
    provider.forge_next_id_token(**claims)
    answer = come_back(client, callback)
    assert answer.status_code == 400 and error_of(answer)["code"] == "signin_failed"
    assert next(iter(claims)) in error_of(answer)["error"]
    assert session_cookie(answer) is None and accounts_of(app) == []


def test_a_sign_in_the_person_refused_at_the_provider_is_a_400(app):
    client = app.test_client()
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    answer = client.get(f"/auth/test/callback?error=access_denied&state={state}")
    assert answer.status_code == 400 and "access_denied" in error_of(answer)["error"]
    assert session_cookie(answer) is None
    assert signin_rows(app) == 0  # nothing of the sign-in is left behind


def signin_rows(app) -> int:
    from sqlalchemy import func, select

    from accounts.models import SignInState

    with app.extensions["artproxy_accounts"].engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(SignInState))


def test_signing_in_again_in_the_same_browser_ends_the_session_before(app):
    client = app.test_client()
    first = session_cookie(sign_in(client, "ada")).split(";")[0].split("=", 1)[1]
    sign_in(client, "bob")
    assert client.get("/account").get_json()["name"] == "Person bob"
    kept_elsewhere = app.test_client()
    kept_elsewhere.set_cookie("artproxy_session", first)
    assert kept_elsewhere.get("/account").status_code == 401


def test_one_address_may_start_only_so_many_sign_ins(app):
    client = app.test_client()
    statuses = [client.get("/auth/test/login").status_code for _ in range(31)]
    assert statuses == [302] * 30 + [429]
    assert signin_rows(app) == 30


def test_a_provider_that_is_down_is_a_502_and_signs_no_one_in(app, provider, make_app):
    client = app.test_client()
    callback = sign_in_at_provider(requests.Session(), start(client), "ada")
    provider.stop()  # between leaving for it and coming back
    answer = come_back(client, callback)
    assert answer.status_code == 502 and error_of(answer)["code"] == "signin_provider_unreachable"
    assert session_cookie(answer) is None and accounts_of(app) == []
    # A fresh process that never reached it cannot even start.
    unreachable = make_app(SIGNIN=signin_settings(provider)).test_client()
    assert unreachable.get("/auth/test/login").status_code == 502


def test_an_unknown_provider_is_a_404(app):
    assert app.test_client().get("/auth/nobody/login").status_code == 404


def test_a_referral_pays_both_once_and_never_the_same_person(app):
    referrer = app.test_client()
    sign_in(referrer, "ada")
    code = referrer.get("/account").json["referral_code"]
    newcomer = app.test_client()
    sign_in(newcomer, "bob", ref=code)
    assert newcomer.get("/account").json["credits"]["earned"] == 70
    assert referrer.get("/account").json["credits"]["earned"] == 70
    sign_in(app.test_client(), "bob", ref=code)  # bob again, through the link: nothing
    # ada under another provider, with the same email address: a new account, no referral.
    sign_in(app.test_client(), "ada", name="other", ref=code)
    earned = {account.provider + ":" + (account.email or ""): account.credits_earned
              for account in accounts_of(app)}
    assert earned == {"test:ada@example.test": 70, "test:bob@example.test": 70,
                      "other:ada@example.test": 50}


def test_signing_out_ends_the_session_at_once(app):
    client = app.test_client()
    token = session_cookie(sign_in(client)).split(";")[0].split("=", 1)[1]
    refused = client.post("/auth/signout", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert client.get("/account").status_code == 200
    answer = client.post("/auth/signout", headers=OWN)
    assert answer.status_code == 204
    assert any(header.startswith("artproxy_session=;") and "Max-Age=0" in header
               for header in answer.headers.getlist("Set-Cookie"))  # the browser forgets it
    assert client.get("/account").status_code == 401
    stolen = app.test_client()  # the old cookie, kept by someone: it no longer works
    stolen.set_cookie("artproxy_session", token)
    assert stolen.get("/account").status_code == 401


def test_a_signed_in_browser_changes_things_only_from_artproxys_own_pages(make_app, provider):
    # Even a partner site that may call the API (CORS) cannot act with the person's cookie.
    app = make_app(SIGNIN=signin_settings(provider), CORS_ORIGINS=("https://partner.example",))
    client = app.test_client()
    sign_in(client)
    for headers in ({"Origin": "https://partner.example"}, {}):
        refused = client.post("/account/keys", json={"label": "x"}, headers=headers)
        assert refused.status_code == 403 and error_of(refused)["code"] == "csrf"
        assert client.delete("/account", headers=headers).status_code == 403
        assert client.post("/auth/signout", headers=headers).status_code == 403
    assert client.get("/account").json["keys"] == []
    assert client.post("/account/keys", json={"label": "mine"}, headers=OWN).status_code == 201
    # A read another site's page made the browser send is served as for no one.
    assert client.get("/account", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 401
    assert client.get("/account", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
