"""AccountStore on SQLite and PostgreSQL: sign-in and referrals, keys, sessions, history."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from accounts import credits, database
from accounts.store import KEY_PREFIX, AccountStore
from testing import FakeClock

DAY = 86400


@pytest.fixture
def clock():
    return FakeClock(1_800_000_000.0)


@pytest.fixture
def store(database_setting, clock):
    engine = database.connect(database.database_url({"DATABASE_URL": database_setting,
                                                     "STATE_DIR": "x"}))
    database.migrate(engine)
    return AccountStore(engine, clock, signup_credits=50, referral_credits=20, history_days=30)


def test_the_first_sign_in_makes_the_account_and_the_next_ones_find_it(store):
    made, new = store.sign_in("google", "sub-1", "ada@example.com", "Ada")
    assert new and (made.credits_available, made.credits_earned) == (50, 50)
    again, new = store.sign_in("google", "sub-1", "ada@new.example", "Ada L.")
    assert not new and again.id == made.id
    assert (again.email, again.name) == ("ada@new.example", "Ada L.")  # as the provider says now
    # Keyed by provider and subject, never by email: the same address elsewhere is someone else.
    other, new = store.sign_in("microsoft", "sub-1", "ada@new.example", "Ada")
    assert new and other.id != made.id


def test_the_same_first_sign_in_twice_at_once_makes_one_account(store):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: store.sign_in("google", "sub-9", None, None), range(8)))
    assert len({account.id for account, _ in results}) == 1
    assert [new for _, new in results].count(True) == 1


def test_a_referral_pays_both_once_and_never_to_oneself(store):
    referrer, _ = store.sign_in("google", "sub-1", "ada@example.com", "Ada")
    newcomer, _ = store.sign_in("google", "sub-2", "bob@example.com", "Bob",
                                referral_code=referrer.referral_code)
    assert newcomer.credits_available == 70
    assert store.account(referrer.id).credits_available == 70
    # Signing in again through a link earns nobody anything.
    store.sign_in("google", "sub-2", "bob@example.com", "Bob", referral_code=referrer.referral_code)
    assert store.account(referrer.id).credits_available == 70
    # Nor does the same person's account under another provider (the same address).
    twin, _ = store.sign_in("microsoft", "x-1", "ADA@example.com", "Ada",
                            referral_code=referrer.referral_code)
    assert twin.credits_available == 50 and store.account(referrer.id).credits_available == 70
    unknown, _ = store.sign_in("google", "sub-3", None, None, referral_code="no-such-code")
    assert unknown.credits_available == 50


def test_a_key_is_shown_once_kept_hashed_and_fails_once_revoked(store, clock):
    account, _ = store.sign_in("google", "sub-1", None, None)
    made, key = store.create_key(account.id, "my app")
    assert key.startswith(KEY_PREFIX) and store.account_for_key(key) == account.id
    listed, = store.keys(account.id)
    assert (listed.id, listed.label, listed.last_used_at) == (made.id, "my app", clock())
    with store.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT key_hash FROM api_keys").scalar()
    assert key not in stored and len(stored) == 64
    assert store.account_for_key(key + "x") is None and store.account_for_key("premium") is None
    other, _ = store.sign_in("google", "sub-2", None, None)
    assert not store.revoke_key(other.id, made.id)  # not another's to revoke
    assert store.revoke_key(account.id, made.id) and store.account_for_key(key) is None


def test_a_session_ends_when_ended_or_when_its_time_is_up(store, clock):
    account, _ = store.sign_in("google", "sub-1", None, None)
    token = store.start_session(account.id, lifetime_seconds=3600)
    assert store.account_for_session(token) == account.id
    store.end_session(token)
    assert store.account_for_session(token) is None
    token = store.start_session(account.id, lifetime_seconds=3600)
    clock.advance(3600)
    assert store.account_for_session(token) is None


def test_history_is_newest_first_in_pages_and_dropped_after_its_days(store, clock):
    account, _ = store.sign_in("google", "sub-1", None, None)
    other, _ = store.sign_in("google", "sub-2", None, None)
    for number in range(5):
        store.record_generation(account.id, f"fox {number}", {"aspect": "1:1"}, "offline",
                                f"image-{number}.png", clock() + 120)
        clock.advance(DAY)
    store.record_generation(other.id, "not mine", {}, "offline", None, None)
    first, after = store.history(account.id, limit=2)
    assert [item.prompt for item in first] == ["fox 4", "fox 3"] and after is not None
    rest, end = store.history(account.id, limit=10, before=after)
    assert [item.prompt for item in rest] == ["fox 2", "fox 1", "fox 0"] and end is None
    assert rest[0].options == {"aspect": "1:1"} and rest[0].image_name == "image-2.png"
    clock.advance(26 * DAY)  # "fox 0" is 31 days old now, "fox 1" 30
    assert [item.prompt for item in store.history(account.id, limit=10)[0]] == \
        ["fox 4", "fox 3", "fox 2", "fox 1"]
    clock.advance(1)
    assert store.purge_expired() == 2  # fox 0 and fox 1
    assert len(store.history(account.id, limit=10)[0]) == 3


def test_deleting_an_account_takes_its_keys_sessions_and_history(store):
    account, _ = store.sign_in("google", "sub-1", None, None)
    _, key = store.create_key(account.id, "app")
    token = store.start_session(account.id, 3600)
    store.record_generation(account.id, "fox", {}, "offline", None, None)
    assert store.delete_account(account.id)
    assert store.account(account.id) is None
    assert store.account_for_key(key) is None and store.account_for_session(token) is None
    with store.engine.connect() as connection:
        for table in ("api_keys", "browser_sessions", "generations"):
            assert connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0
    assert not credits.spend(store.engine, account.id)


def test_a_signin_state_is_taken_once_and_not_after_its_time(store, clock):
    store.keep_signin_state("_state_test_abc", '{"data": 1}', lifetime_seconds=600)
    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = list(pool.map(lambda _: store.take_signin_state("_state_test_abc"), range(8)))
    assert taken.count('{"data": 1}') == 1 and taken.count(None) == 7
    store.keep_signin_state("_state_test_old", "{}", lifetime_seconds=600)
    clock.advance(601)
    assert store.take_signin_state("_state_test_old") is None
    store.keep_signin_state("_state_test_left", "{}", lifetime_seconds=600)
    clock.advance(601)
    assert store.purge_expired() == 1  # a sign-in never finished leaves nothing behind


def test_a_job_lost_with_its_runner_is_paid_back_once(store, clock):
    from accounts.charges import Charge

    account, _ = store.sign_in("google", "sub-1", None, None)
    assert store.spend(account.id, 1)
    lost = store.hold_for_job(account.id, 1)
    clock.advance(store.job_hold_seconds - 1)  # it might still be running
    store.purge_expired()
    assert store.account(account.id).credits_spent == 1
    clock.advance(2)
    store.purge_expired()
    assert store.account(account.id).credits_spent == 0
    # Its runner, come back from the dead, settles: nothing is paid back twice.
    late = Charge(store, account.id)
    late.taken, late.hold_id = 1, lost
    late.settle()
    assert store.account(account.id).credits_spent == 0
    # A job that ends in time takes its hold, and the sweep finds nothing of it.
    assert store.spend(account.id, 1)
    ended = Charge(store, account.id)
    ended.taken = 1
    ended.hold_for_job()
    ended.settle()  # it failed: paid back, by its runner
    clock.advance(store.job_hold_seconds + 1)
    store.purge_expired()
    assert store.account(account.id).credits_spent == 0


def test_a_stream_that_showed_a_partial_picture_pays_for_one(store):
    from accounts.charges import Charge

    account, _ = store.sign_in("google", "sub-1", None, None)
    charge = Charge(store, account.id)
    charge.take(2)
    charge.partial_sent = True  # then the upstream failed, or the caller left
    charge.settle()
    assert store.account(account.id).credits_spent == 1
