"""/account, /admin/accounts, and credits on every generating route, through the app with an
account's key (the sign-in flow itself is in test_signin.py; the real server in
test_accounts_served.py)."""

from __future__ import annotations

import pytest

from config import SignInClient
from errors import StorageUnavailable
from testing.fake_upstream import Answer
from tests.helpers import error_of, until

# Named so accounts exist; never contacted here, since nobody signs in through it.
SIGNIN = {"test": SignInClient("test", "http://127.0.0.1:9", "artproxy", "unused")}
DAY = 86400


@pytest.fixture
def accounts_app(make_app, clock):
    def build(**settings):
        return make_app(**{"SIGNIN": SIGNIN, "CLOCK": clock, "SIGNUP_CREDITS": 5, **settings})

    return build


def new_account(app, subject: str = "ada", email: str | None = None) -> tuple[int, dict]:
    """An account and headers that present one of its keys."""
    store = app.extensions["artproxy_accounts"]
    account, _ = store.sign_in("test", subject, email or f"{subject}@example.test", subject)
    _, key = store.create_key(account.id, "tests")
    return account.id, {"Authorization": f"Bearer {key}"}


def credits(client, headers) -> dict:
    return client.get("/account", headers=headers).get_json()["credits"]


def test_the_account_needs_a_session_or_one_of_its_keys(accounts_app):
    app = accounts_app()
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer apk_not-a-key"}, {"X-API-Key": "sk-other"}):
        answer = client.get("/account", headers=headers)
        assert answer.status_code == 401 and error_of(answer)["code"] == "unauthorized"
    assert client.get("/account/history").status_code == 401
    assert client.post("/account/keys", json={}).status_code == 401
    _, headers = new_account(app)
    shown = client.get("/account", headers=headers).get_json()
    assert set(shown) == {"id", "email", "name", "provider", "credits", "referral_code",
                          "referral_url", "keys", "created_at"}
    assert shown["referral_url"] == f"http://localhost/app?ref={shown['referral_code']}"


def test_a_key_is_shown_once_stored_hashed_and_revoked_everywhere_at_once(accounts_app):
    app = accounts_app()
    client = app.test_client()
    _, headers = new_account(app)
    made = client.post("/account/keys", json={"label": "my script"}, headers=headers)
    assert made.status_code == 201
    key = made.get_json()
    assert set(key) == {"id", "label", "created_at", "last_used_at", "key"}
    assert key["key"].startswith("apk_") and key["label"] == "my script"
    listed = client.get("/account", headers=headers).get_json()["keys"]
    assert sorted(shown["label"] for shown in listed) == ["my script", "tests"]
    assert all("key" not in shown for shown in listed)
    other_app = accounts_app()  # another process on the same database
    mine = {"Authorization": f"Bearer {key['key']}"}
    assert other_app.test_client().get("/account", headers=mine).status_code == 200
    assert client.delete(f"/account/keys/{key['id']}", headers=headers).status_code == 204
    assert other_app.test_client().get("/account", headers=mine).status_code == 401
    assert client.delete(f"/account/keys/{key['id']}", headers=headers).status_code == 404
    too_long = client.post("/account/keys", json={"label": "x" * 101}, headers=headers)
    assert too_long.status_code == 400


def test_another_accounts_key_cannot_be_revoked(accounts_app):
    app = accounts_app()
    client = app.test_client()
    _, ada = new_account(app, "ada")
    _, bob = new_account(app, "bob")
    bobs_key = client.get("/account", headers=bob).get_json()["keys"][0]["id"]
    assert client.delete(f"/account/keys/{bobs_key}", headers=ada).status_code == 404
    assert client.get("/account", headers=bob).status_code == 200


@pytest.mark.parametrize("route", ["/generate", "/image"])
def test_each_image_spends_one_credit_and_none_left_is_a_402(accounts_app, route):
    app = accounts_app(SIGNUP_CREDITS=2)
    client = app.test_client()
    _, headers = new_account(app)
    assert [client.get(f"{route}?p=fox", headers=headers).status_code
            for _ in range(3)] == [200, 200, 402]
    refused = client.get(f"{route}?p=fox", headers=headers)
    assert error_of(refused)["code"] == "no_credits"
    assert credits(client, headers) == {"available": 0, "earned": 2, "spent": 2}


def test_a_failed_generation_costs_nothing(accounts_app, upstream):
    app = accounts_app()
    client = app.test_client()
    _, headers = new_account(app)
    upstream.default_answer = Answer(status=400, body=b"no")
    assert client.get("/image?p=fox", headers=headers).status_code == 502
    assert client.get("/image?p=", headers=headers).status_code == 400
    assert credits(client, headers)["spent"] == 0
    assert client.get("/account/history", headers=headers).get_json()["items"] == []


def test_v1_spends_one_per_image_and_refuses_in_openais_shape(accounts_app):
    app = accounts_app(SIGNUP_CREDITS=4)
    client = app.test_client()
    _, headers = new_account(app)
    made = client.post("/v1/images/generations", headers=headers,
                       json={"prompt": "a fox", "n": 3, "response_format": "url"})
    assert made.status_code == 200 and len(made.get_json()["data"]) == 3
    assert credits(client, headers)["available"] == 1
    refused = client.post("/v1/images/generations", headers=headers,
                          json={"prompt": "a fox", "n": 2})
    assert refused.status_code == 402
    assert refused.get_json()["error"]["code"] == "no_credits"
    assert refused.get_json()["error"]["type"] == "insufficient_quota"
    history = client.get("/account/history", headers=headers).get_json()["items"]
    assert len(history) == 3 and all(item["url"].startswith("/images/") for item in history)


def test_a_streamed_v1_answer_pays_for_what_it_sent(accounts_app):
    app = accounts_app()
    client = app.test_client()
    _, headers = new_account(app)
    stream = client.post("/v1/images/generations", headers=headers,
                         json={"prompt": "a fox", "n": 2, "stream": True})
    assert stream.get_data(as_text=True).count("image_generation.completed") >= 2
    assert credits(client, headers)["spent"] == 2
    assert len(client.get("/account/history", headers=headers).get_json()["items"]) == 2


def test_a_job_pays_when_created_and_is_paid_back_if_it_fails(accounts_app, upstream):
    app = accounts_app()
    client = app.test_client()
    _, headers = new_account(app)
    created = client.post("/jobs", json={"prompt": "a fox", "seed": 3}, headers=headers)
    assert created.status_code == 202 and credits(client, headers)["spent"] == 1
    until(lambda: client.get(created.get_json()["status_url"]).get_json()["status"] == "done")
    history = until(lambda: client.get("/account/history", headers=headers).get_json()["items"])
    assert history[0]["prompt"] == "a fox" and history[0]["options"] == {"seed": 3}
    upstream.default_answer = Answer(status=400, body=b"no")
    failing = client.post("/jobs", json={"prompt": "a hen"}, headers=headers).get_json()
    until(lambda: client.get(failing["status_url"]).get_json()["status"] == "failed")
    assert until(lambda: credits(client, headers)["spent"] == 1)


def test_an_unknown_key_is_ignored_where_no_key_is_needed_and_operator_keys_still_work(
        accounts_app):
    client = accounts_app().test_client()
    for key in ("apk_revoked-or-made-up", "sk-the-sdk-needs-one"):
        assert client.get("/generate?p=fox",
                          headers={"Authorization": f"Bearer {key}"}).status_code == 200
    keyed = accounts_app(PREMIUM_KEYS=("operator-key",))
    keyed_client = keyed.test_client()
    assert keyed_client.get("/image?p=fox").status_code == 401
    assert keyed_client.get("/image?p=fox", headers={
        "Authorization": "Bearer apk_made-up"}).status_code == 401
    assert keyed_client.get("/image?p=fox", headers={
        "Authorization": "Bearer operator-key"}).status_code == 200
    _, headers = new_account(keyed)  # an account's key opens what a premium key opens
    assert keyed_client.get("/image?p=fox", headers=headers).status_code == 200
    assert keyed_client.post("/v1/images/generations", json={"prompt": "fox"},
                             headers=headers).status_code == 200


def test_history_pages_newest_first_drops_urls_that_died_and_forgets_after_its_days(
        accounts_app, clock):
    app = accounts_app(SIGNUP_CREDITS=10, HISTORY_DAYS=2)
    client = app.test_client()
    _, headers = new_account(app)
    for prompt in ("one", "two", "three"):
        assert client.get(f"/image?p={prompt}&seed=5", headers=headers).status_code == 200
    page = client.get("/account/history?limit=2", headers=headers).get_json()
    assert [item["prompt"] for item in page["items"]] == ["three", "two"]
    assert page["items"][0]["options"] == {"seed": 5} and page["items"][0]["url"]
    rest = client.get(f"/account/history?limit=2&before={page['next_before']}",
                      headers=headers).get_json()
    assert [item["prompt"] for item in rest["items"]] == ["one"] and rest["next_before"] is None
    clock.advance(121)  # the images are gone, the history stays
    items = client.get("/account/history", headers=headers).get_json()["items"]
    assert len(items) == 3 and all(item["url"] is None for item in items)
    clock.advance(2 * DAY)
    assert client.get("/account/history", headers=headers).get_json()["items"] == []
    assert client.get("/account/history?limit=0", headers=headers).status_code == 400


def test_deleting_the_account_takes_its_keys_and_history(accounts_app):
    app = accounts_app()
    client = app.test_client()
    account_id, headers = new_account(app)
    client.get("/image?p=fox", headers=headers)
    assert client.delete("/account", headers=headers).status_code == 204
    assert client.get("/account", headers=headers).status_code == 401
    assert client.get("/generate?p=fox", headers=headers).status_code == 200  # as no one
    assert app.extensions["artproxy_accounts"].history(account_id, 10)[0] == []


def test_admins_list_accounts_and_grant_credits(accounts_app):
    app = accounts_app(ADMIN_KEYS=("admin-key",))
    client = app.test_client()
    admin = {"Authorization": "Bearer admin-key"}
    account_id, headers = new_account(app)
    assert client.get("/admin/accounts", headers=headers).status_code == 401
    listed = client.get("/admin/accounts", headers=admin).get_json()
    assert [shown["id"] for shown in listed["accounts"]] == [account_id]
    granted = client.post(f"/admin/accounts/{account_id}/credits", json={"add": 10},
                          headers=admin)
    assert granted.status_code == 200 and granted.get_json()["credits"]["available"] == 15
    for body in ({"add": 0}, {"add": "10"}, {"add": True}, {}):
        assert client.post(f"/admin/accounts/{account_id}/credits", json=body,
                           headers=admin).status_code == 400
    assert client.post("/admin/accounts/999/credits", json={"add": 1},
                       headers=admin).status_code == 404


def test_without_sign_in_providers_there_are_no_accounts(make_app, tmp_path):
    client = make_app(ADMIN_KEYS=("admin-key",)).test_client()
    assert client.get("/account").status_code == 404
    assert client.get("/auth/google/login").status_code == 404
    assert client.get("/admin/accounts",
                      headers={"Authorization": "Bearer admin-key"}).status_code == 404
    assert not (tmp_path / "state" / "accounts.sqlite").exists()


def test_a_prompt_url_costs_a_credit_when_it_is_drawn_and_none_when_cached(accounts_app):
    app = accounts_app()
    client = app.test_client()
    _, headers = new_account(app)
    for cached in ("miss", "hit"):
        answer = client.get("/prompt/a%20fox?seed=4", headers=headers)
        assert answer.status_code == 200 and answer.headers["X-Artproxy-Cache"] == cached
    assert credits(client, headers)["spent"] == 1
    history = client.get("/account/history", headers=headers).get_json()["items"]
    assert [(item["prompt"], item["options"]) for item in history] == [("a fox", {"seed": 4})]


def test_a_job_that_overran_its_timeout_is_failed_and_paid_back(accounts_app, upstream, clock):
    app = accounts_app(JOB_TIMEOUT=2.0)
    client = app.test_client()
    _, headers = new_account(app)
    upstream.default_answer = Answer(delay=1.5)
    job = client.post("/jobs", json={"prompt": "a hen"}, headers=headers).get_json()
    until(lambda: client.get(job["status_url"]).get_json()["status"] == "running")
    clock.advance(3)  # past the timeout while the upstream still draws
    assert client.get(job["status_url"]).get_json()["error"]["code"] == "job_timeout"
    # The runner finishes late: its image is thrown away, and so is the charge.
    assert until(lambda: credits(client, headers)["spent"] == 0, seconds=10)
    assert client.get("/account/history", headers=headers).get_json()["items"] == []


def test_an_image_that_could_not_be_kept_costs_nothing(accounts_app, monkeypatch):
    app = accounts_app()
    client = app.test_client()
    _, headers = new_account(app)
    store = app.extensions["artproxy"].store
    monkeypatch.setattr(store, "put_cached", lambda *a, **k: (_ for _ in ()).throw(
        StorageUnavailable()))
    assert client.get("/prompt/a%20fox", headers=headers).status_code == 503
    kept = store.put
    puts = []

    def second_put_fails(*args, **kwargs):
        puts.append(1)
        if len(puts) == 2:
            raise StorageUnavailable()
        return kept(*args, **kwargs)

    monkeypatch.setattr(store, "put", second_put_fails)
    answer = client.post("/v1/images/generations", headers=headers,
                         json={"prompt": "a fox", "n": 3, "response_format": "url"})
    assert answer.status_code == 503
    assert credits(client, headers)["spent"] == 0
    assert client.get("/account/history", headers=headers).get_json()["items"] == []


def test_a_key_quota_belongs_to_the_account_not_to_each_key(accounts_app):
    app = accounts_app(PREMIUM_KEYS=("operator",), KEY_QUOTA="2/day")
    client = app.test_client()
    account_id, first = new_account(app, "ada")
    _, second_key = app.extensions["artproxy_accounts"].create_key(account_id, "another")
    second = {"Authorization": f"Bearer {second_key}"}
    _, bob = new_account(app, "bob")
    statuses = [client.get("/image?p=fox", headers=headers).status_code
                for headers in (first, second, first, bob)]
    assert statuses == [200, 200, 429, 200]


@pytest.mark.parametrize("query", ["limit=%C2%B2", "before=%C2%B2", "limit=" + "9" * 5000,
                                   "before=4611686018427387904", "before=0", "limit=-1"])
def test_odd_history_pages_are_400s(accounts_app, query):
    app = accounts_app()
    _, headers = new_account(app)
    answer = app.test_client().get(f"/account/history?{query}", headers=headers)
    assert answer.status_code == 400 and error_of(answer)["code"] == "bad_input"


@pytest.mark.parametrize("body", ['{"label": "\\ud800"}', '{"label": "a\\u0000b"}',
                                  '{"label": 7}', "[]", "0", "null", '"label"'])
def test_odd_key_labels_are_400s(accounts_app, body):
    app = accounts_app()
    _, headers = new_account(app)
    answer = app.test_client().post("/account/keys", headers=headers, data=body,
                                    content_type="application/json")
    assert answer.status_code == 400


def test_an_account_holds_at_most_twenty_keys(accounts_app):
    app = accounts_app()
    client = app.test_client()
    _, headers = new_account(app)  # one key already
    made = [client.post("/account/keys", json={}, headers=headers).status_code
            for _ in range(20)]
    assert made == [201] * 19 + [400]


def test_odd_admin_input_is_a_4xx(accounts_app):
    app = accounts_app(ADMIN_KEYS=("admin-key",))
    client = app.test_client()
    admin = {"Authorization": "Bearer admin-key"}
    account_id, _ = new_account(app)
    assert client.get("/admin/accounts?after=%C2%B2", headers=admin).status_code == 400
    assert client.post("/admin/accounts/99999999999999999999/credits", json={"add": 1},
                       headers=admin).status_code == 404
    most = 2**31 - 1
    assert client.post(f"/admin/accounts/{account_id}/credits", json={"add": most},
                       headers=admin).status_code == 400  # 5 + that would not fit
    assert client.post(f"/admin/accounts/{account_id}/credits", json={"add": most - 5},
                       headers=admin).get_json()["credits"]["earned"] == most
