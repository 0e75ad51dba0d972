"""Accounts on the real server, as deployed: 2 worker processes per instance, and 2 instances
on one PostgreSQL. Credits stay exact, and a revoked key, an ended session or a deleted
account fails on the other instance at once."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from accounts import database
from accounts.store import AccountStore
from testing.fake_upstream import Answer
from tests.real_server import call, get, post_json, serve

SIGNIN = {"ARTPROXY_SIGNIN_PROVIDERS": "test",
          # Named so accounts exist; nobody signs in through it in these tests.
          "ARTPROXY_SIGNIN_TEST_ISSUER": "http://127.0.0.1:9",
          "ARTPROXY_SIGNIN_TEST_CLIENT_ID": "artproxy",
          "ARTPROXY_SIGNIN_TEST_CLIENT_SECRET": "unused",
          # Long enough that the 20 requests overlap in every worker.
          "ARTPROXY_OFFLINE_DELAY": "0.2"}


def instances(processes, tmp_path, database_url: str, count: int) -> list[str]:
    urls = []
    for number in range(count):
        image_dir = tmp_path / f"instance-{number}" / "images"
        image_dir.mkdir(parents=True)
        urls.append(serve(processes, image_dir, workers=2, ARTPROXY_DATABASE_URL=database_url,
                          **SIGNIN))
    return urls


def account_with_key(database_url: str, credits: int) -> tuple[AccountStore, int, dict]:
    engine = database.connect(database.database_url({"DATABASE_URL": database_url,
                                                     "STATE_DIR": "unused"}))
    store = AccountStore(engine, time.time, signup_credits=credits)
    account, _ = store.sign_in("test", secrets.token_hex(4), None, None)
    _, key = store.create_key(account.id, "served")
    return store, account.id, {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("setup", ["sqlite, one instance", "postgresql, two instances"])
def test_twenty_requests_at_once_with_five_credits_make_five_images(
        processes, tmp_path, postgres_server, setup):
    if setup.startswith("sqlite"):
        database_url = f"sqlite:///{tmp_path / 'accounts.sqlite'}"
        urls = instances(processes, tmp_path, database_url, 1)
    else:
        database_url = postgres_server.new_database(f"served_{secrets.token_hex(4)}")
        urls = instances(processes, tmp_path, database_url, 2)
    store, account_id, headers = account_with_key(database_url, credits=5)
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(
            lambda number: get(f"{urls[number % len(urls)]}/image?p=fox{number}",
                               headers=headers)[0], range(20)))
    assert sorted(statuses) == [200] * 5 + [402] * 15
    account = store.account(account_id)
    assert (account.credits_spent, account.credits_available) == (5, 0)
    assert len(store.history(account_id, 50)[0]) == 5


def test_keys_sessions_and_accounts_end_on_every_instance_at_once(
        processes, tmp_path, postgres_server):
    database_url = postgres_server.new_database(f"served_{secrets.token_hex(4)}")
    first, second = instances(processes, tmp_path, database_url, 2)
    store, account_id, headers = account_with_key(database_url, credits=5)
    status, _, made = post_json(f"{first}/account/keys", {"label": "script"}, headers)
    assert status == 201
    script = {"Authorization": f"Bearer {made['key']}"}
    assert get(f"{second}/account", headers=script)[0] == 200
    assert call("DELETE", f"{second}/account/keys/{made['id']}", headers)[0] == 204
    assert get(f"{first}/account", headers=script)[0] == 401
    # A browser signed in (its cookie) signs out on the other instance.
    cookie = {"Cookie": f"artproxy_session={store.start_session(account_id, 3600)}"}
    assert get(f"{first}/account", headers=cookie)[0] == 200
    assert call("POST", f"{second}/auth/signout", {**cookie, "Origin": second})[0] == 204
    assert get(f"{first}/account", headers=cookie)[0] == 401
    # A deleted account's keys fail everywhere.
    assert call("DELETE", f"{first}/account", headers)[0] == 204
    assert get(f"{second}/account", headers=headers)[0] == 401
    assert store.account(account_id) is None


def test_rq_jobs_are_charged_when_created_and_settled_by_the_worker(
        processes, tmp_path, postgres_server, redis_server, upstream):
    from tests.helpers import until
    from tests.jobs.test_jobs_served import job_in, start_job_worker

    database_url = postgres_server.new_database(f"served_{secrets.token_hex(4)}")
    settings = {**SIGNIN, "ARTPROXY_STORAGE": "redis", "ARTPROXY_REDIS_URL": redis_server.url,
                "ARTPROXY_DATABASE_URL": database_url, "ARTPROXY_PROVIDER": "magicstudio",
                "ARTPROXY_MAGICSTUDIO_URL": upstream.url, "ARTPROXY_SECRET_KEY": "shared"}
    base_url = serve(processes, tmp_path / "server", workers=2, **settings)
    start_job_worker(processes, tmp_path / "worker", **settings)
    store, account_id, headers = account_with_key(database_url, credits=5)
    made = post_json(f"{base_url}/jobs", {"prompt": "a fox"}, headers)[2]
    assert until(lambda: job_in(base_url, made["id"], "done", "failed"))["status"] == "done"
    upstream.default_answer = Answer(status=400, body=b"no")
    failed = post_json(f"{base_url}/jobs", {"prompt": "a hen"}, headers)[2]
    assert until(lambda: job_in(base_url, failed["id"], "done", "failed"))["status"] == "failed"
    # One image made and kept in the history; the failed job's credit given back by the worker.
    assert until(lambda: store.account(account_id).credits_spent == 1)
    assert [item.prompt for item in store.history(account_id, 10)[0]] == ["a fox"]
