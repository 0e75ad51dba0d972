"""What the routes ask of the accounts' database: sign-in, keys, sessions, history, deletion.

Secrets handed out (API keys, session tokens) are random and kept only as their SHA-256, so
the database never holds one that works. Every read answers from the database itself, so a key
revoked or a session ended on one instance fails on every other at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts import credits
from accounts.models import Account, ApiKey, BrowserSession, Generation, JobHold, SignInState
from clock import Clock

KEY_PREFIX = "apk_"  # says what a leaked string is, as GitHub's and Stripe's keys do
DAY_SECONDS = 86400
# A key's last use is written at most this often: not one write per request.
LAST_USED_EVERY_SECONDS = 60


@dataclass(frozen=True)
class AccountView:
    id: int
    provider: str
    email: str | None
    name: str | None
    referral_code: str
    credits_earned: int
    credits_spent: int
    created_at: float

    @property
    def credits_available(self) -> int:
        return self.credits_earned - self.credits_spent


@dataclass(frozen=True)
class KeyView:
    id: str
    label: str
    created_at: float
    last_used_at: float | None


@dataclass(frozen=True)
class GenerationView:
    id: int
    prompt: str
    options: dict[str, Any]
    provider: str
    image_name: str | None
    created_at: float
    expires_at: float | None


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class AccountStore:
    def __init__(self, engine: Engine, clock: Clock, signup_credits: int = 50,
                 referral_credits: int = 20, history_days: int = 30,
                 job_hold_seconds: float = 2 * 3600):
        self.engine = engine
        self.clock = clock
        self.signup_credits = signup_credits
        self.referral_credits = referral_credits
        self.history_days = history_days
        self.job_hold_seconds = job_hold_seconds  # longer than any job can be queued and run

    @classmethod
    def from_config(cls, engine: Engine, config: Mapping[str, Any], clock: Clock,
                    job_hold_seconds: float) -> AccountStore:
        return cls(engine, clock, config["SIGNUP_CREDITS"], config["REFERRAL_CREDITS"],
                   config["HISTORY_DAYS"], job_hold_seconds)

    # Sign-in

    def sign_in(self, provider: str, subject: str, email: str | None, name: str | None,
                referral_code: str | None = None) -> tuple[AccountView, bool]:
        """The account of ``provider`` and ``subject``, and whether this sign-in made it. Only a
        new account pays out a referral: signing in again through a link earns nobody anything."""
        existing = self._signed_in_again(provider, subject, email, name)
        if existing is not None:
            return existing, False
        try:
            with Session(self.engine) as session, session.begin():
                referrer = self._referrer(session, referral_code, email)
                bonus = self.referral_credits if referrer is not None else 0
                account = Account(provider=provider, subject=subject, email=email, name=name,
                                  referral_code=secrets.token_urlsafe(9), referred_by=referrer,
                                  credits_earned=self.signup_credits + bonus, credits_spent=0,
                                  created_at=self.clock())
                session.add(account)
                session.flush()
                if referrer is not None:
                    session.execute(update(Account).where(Account.id == referrer).values(
                        credits_earned=Account.credits_earned + bonus))
                made = view_of(account)
        except IntegrityError:
            # The same person's first sign-in, twice at once: the other one made the account.
            again = self._signed_in_again(provider, subject, email, name)
            if again is None:
                raise
            return again, False
        return made, True

    def _referrer(self, session: Session, referral_code: str | None,
                  email: str | None) -> int | None:
        """Who referred a new account: the code's owner, unless that is the same person under
        another provider (the same email address)."""
        if not referral_code:
            return None
        owner = session.execute(select(Account.id, Account.email).where(
            Account.referral_code == referral_code)).first()
        if owner is None:
            return None
        if email and owner.email and owner.email.casefold() == email.casefold():
            return None
        return int(owner.id)

    def _signed_in_again(self, provider: str, subject: str, email: str | None,
                         name: str | None) -> AccountView | None:
        with Session(self.engine) as session, session.begin():
            account = session.scalar(select(Account).where(Account.provider == provider,
                                                           Account.subject == subject))
            if account is None:
                return None
            account.email, account.name = email, name  # as the provider says now
            return view_of(account)

    def account(self, account_id: int) -> AccountView | None:
        with Session(self.engine) as session:
            account = session.get(Account, account_id)
            return None if account is None else view_of(account)

    def delete_account(self, account_id: int) -> bool:
        """The account and, with it, its keys, sessions and history."""
        with self.engine.begin() as connection:
            # Foreign keys cascade on PostgreSQL and on SQLite (database.py turns them on).
            return connection.execute(delete(Account).where(Account.id == account_id)).rowcount == 1

    def accounts(self, limit: int = 100, after: int = 0) -> list[AccountView]:
        with Session(self.engine) as session:
            found = session.scalars(select(Account).where(Account.id > after)
                                    .order_by(Account.id).limit(limit))
            return [view_of(account) for account in found]

    # API keys

    def create_key(self, account_id: int, label: str) -> tuple[KeyView, str]:
        """A new key of the account, and the key itself, which is never shown again."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(id="key_" + secrets.token_hex(8), account_id=account_id, label=label,
                     key_hash=secret_hash(key), created_at=self.clock(), last_used_at=None)
        with Session(self.engine) as session, session.begin():
            session.add(row)
            made = KeyView(row.id, row.label, row.created_at, None)
        return made, key

    def keys(self, account_id: int) -> list[KeyView]:
        with Session(self.engine) as session:
            rows = session.scalars(select(ApiKey).where(ApiKey.account_id == account_id)
                                   .order_by(ApiKey.created_at, ApiKey.id))
            return [KeyView(row.id, row.label, row.created_at, row.last_used_at) for row in rows]

    def revoke_key(self, account_id: int, key_id: str) -> bool:
        with self.engine.begin() as connection:
            return connection.execute(delete(ApiKey).where(
                ApiKey.id == key_id, ApiKey.account_id == account_id)).rowcount == 1

    def account_for_key(self, key: str) -> int | None:
        """The account a presented key belongs to; None for anything else (an operator's key,
        a revoked one, a guess)."""
        if not key.startswith(KEY_PREFIX):
            return None
        now = self.clock()
        with self.engine.begin() as connection:
            row = connection.execute(select(ApiKey.id, ApiKey.account_id, ApiKey.last_used_at)
                                     .where(ApiKey.key_hash == secret_hash(key))).first()
            if row is None:
                return None
            if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY_SECONDS:
                connection.execute(update(ApiKey).where(ApiKey.id == row.id)
                                   .values(last_used_at=now))
            return int(row.account_id)

    # Browser sessions

    def start_session(self, account_id: int, lifetime_seconds: float) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            session.add(BrowserSession(token_hash=secret_hash(token), account_id=account_id,
                                       created_at=now, expires_at=now + lifetime_seconds))
        return token

    def account_for_session(self, token: str) -> int | None:
        with self.engine.connect() as connection:
            found = connection.scalar(select(BrowserSession.account_id).where(
                BrowserSession.token_hash == secret_hash(token),
                BrowserSession.expires_at > self.clock()))
        return None if found is None else int(found)

    def end_session(self, token: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(BrowserSession).where(
                BrowserSession.token_hash == secret_hash(token)))

    # Credits

    def spend(self, account_id: int, amount: int) -> bool:
        return credits.spend(self.engine, account_id, amount)

    def refund(self, account_id: int, amount: int) -> None:
        credits.refund(self.engine, account_id, amount)

    def grant(self, account_id: int, amount: int) -> bool:
        return credits.grant(self.engine, account_id, amount)

    def hold_for_job(self, account_id: int, amount: int) -> str:
        """Note credits already spent on a job that is about to be queued; the hold's id."""
        hold_id = "hold_" + secrets.token_hex(12)
        with Session(self.engine) as session, session.begin():
            session.add(JobHold(id=hold_id, account_id=account_id, amount=amount,
                                created_at=self.clock()))
        return hold_id

    def release_hold(self, hold_id: str) -> bool:
        """Take the hold away; False if it is gone already (its job ended, or was given up)."""
        with self.engine.begin() as connection:
            return connection.execute(delete(JobHold).where(JobHold.id == hold_id)).rowcount == 1

    def _refund_abandoned_holds(self, connection: Any, now: float) -> int:
        """Give back what jobs that never ended held: their runner died with them."""
        abandoned = connection.execute(
            delete(JobHold).where(JobHold.created_at < now - self.job_hold_seconds)
            .returning(JobHold.account_id, JobHold.amount)).all()
        for hold in abandoned:
            connection.execute(credits.refunded(hold.account_id, hold.amount))
        return len(abandoned)

    # Sign-ins under way

    def keep_signin_state(self, key: str, value: str, lifetime_seconds: float) -> None:
        with Session(self.engine) as session, session.begin():
            session.merge(SignInState(key=key, value=value,
                                      expires_at=self.clock() + lifetime_seconds))

    def take_signin_state(self, key: str) -> str | None:
        """The state kept under ``key``, removed in the same statement: of two callbacks that
        bring the same state at once, one gets it and the other nothing."""
        with self.engine.begin() as connection:
            row = connection.execute(delete(SignInState).where(SignInState.key == key)
                                     .returning(SignInState.value, SignInState.expires_at)).first()
        if row is None or row.expires_at <= self.clock():
            return None
        return str(row.value)

    # History

    def record_generation(self, account_id: int, prompt: str, options: Mapping[str, Any],
                          provider: str, image_name: str | None,
                          expires_at: float | None) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(Generation(account_id=account_id, prompt=prompt,
                                   options=json.dumps(dict(options), sort_keys=True),
                                   provider=provider, image_name=image_name,
                                   created_at=self.clock(), expires_at=expires_at))

    def history(self, account_id: int, limit: int,
                before: int | None = None) -> tuple[list[GenerationView], int | None]:
        """The account's generations within HISTORY_DAYS, newest first, ``limit`` of them from
        ``before`` (an id the previous page gave); and where the next page starts, if any."""
        since = self.clock() - self.history_days * DAY_SECONDS
        query = select(Generation).where(Generation.account_id == account_id,
                                         Generation.created_at >= since)
        if before is not None:
            query = query.where(Generation.id < before)
        with Session(self.engine) as session:
            rows = list(session.scalars(query.order_by(Generation.id.desc()).limit(limit + 1)))
        page = [GenerationView(row.id, row.prompt, json.loads(row.options), row.provider,
                               row.image_name, row.created_at, row.expires_at)
                for row in rows[:limit]]
        return page, (page[-1].id if len(rows) > limit else None)

    def purge_expired(self, now: float | None = None) -> int:
        """Delete history older than HISTORY_DAYS, sessions past their end and sign-ins never
        finished, and pay back jobs that never ended; how many rows. The routes never show the
        first three past their time: for them this only frees the room."""
        now = self.clock() if now is None else now
        with self.engine.begin() as connection:
            old = connection.execute(delete(Generation).where(
                Generation.created_at < now - self.history_days * DAY_SECONDS)).rowcount
            ended = connection.execute(delete(BrowserSession).where(
                BrowserSession.expires_at <= now)).rowcount
            abandoned = connection.execute(delete(SignInState).where(
                SignInState.expires_at <= now)).rowcount
            lost_jobs = self._refund_abandoned_holds(connection, now)
        return int(old + ended + abandoned + lost_jobs)


def view_of(account: Account) -> AccountView:
    return AccountView(account.id, account.provider, account.email, account.name,
                       account.referral_code, account.credits_earned, account.credits_spent,
                       account.created_at)
