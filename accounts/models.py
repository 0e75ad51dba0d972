"""The accounts' tables. Times are unix seconds, as everywhere in artproxy, so an injected clock
controls them; secrets (API keys, session tokens) are kept only as SHA-256 hashes."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    # One per provider and subject: an email address alone identifies nobody (another
    # provider may vouch for the same address for someone else).
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    referral_code: Mapped[str] = mapped_column(String(32), unique=True)
    referred_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id",
                                                               ondelete="SET NULL"))
    credits_earned: Mapped[int] = mapped_column(Integer, default=0)
    credits_spent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    label: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float)


class BrowserSession(Base):
    __tablename__ = "browser_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class Generation(Base):
    """One image an account made, for its history."""

    __tablename__ = "generations"
    __table_args__ = (Index("generations_by_account", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    prompt: Mapped[str] = mapped_column(Text)
    options: Mapped[str] = mapped_column(Text)  # JSON, as the request gave them
    provider: Mapped[str] = mapped_column(String(64))
    image_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[float] = mapped_column(Float, index=True)
    expires_at: Mapped[float | None] = mapped_column(Float)  # the image's deadline


class SignInState(Base):
    """What a sign-in that was started needs when the browser comes back (the PKCE verifier,
    the nonce, the referral code), under its random ``state``; taken once, then gone."""

    __tablename__ = "signin_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class JobHold(Base):
    """A credit paid for a job that has not ended yet. The job's end takes it (and keeps the
    credit, or gives it back); one never taken, its job lost with its runner, is given back by
    the sweep once the job can no longer be running."""

    __tablename__ = "job_holds"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float, index=True)
