"""Credits: what an account may still spend is what it earned (sign-up, referrals, an admin's
grants) less what it spent. Each change is one UPDATE with its condition in it, so the database
serialises concurrent requests: 20 at once with 5 credits left spend exactly 5, in any process
of any instance."""

from __future__ import annotations

from sqlalchemy import Engine, Update, update

from accounts.models import Account


def spend(engine: Engine, account_id: int, amount: int = 1) -> bool:
    """Take ``amount`` credits; False, and nothing taken, if fewer are left."""
    with engine.begin() as connection:
        taken = connection.execute(
            update(Account)
            .where(Account.id == account_id,
                   Account.credits_earned - Account.credits_spent >= amount)
            .values(credits_spent=Account.credits_spent + amount))
        return taken.rowcount == 1


def refund(engine: Engine, account_id: int, amount: int = 1) -> None:
    """Give back credits spent on something that then failed."""
    with engine.begin() as connection:
        connection.execute(refunded(account_id, amount))


def refunded(account_id: int, amount: int) -> Update:
    """The UPDATE that gives back ``amount`` credits, never more than were spent: for refund(),
    and for a transaction that gives back more than one account's."""
    return (update(Account).where(Account.id == account_id, Account.credits_spent >= amount)
            .values(credits_spent=Account.credits_spent - amount))


# The columns are 32-bit integers on PostgreSQL: no balance may grow past them.
MOST_CREDITS = 2**31 - 1


def grant(engine: Engine, account_id: int, amount: int) -> bool:
    """Add earned credits; False if there is no such account, or the sum would pass
    MOST_CREDITS."""
    with engine.begin() as connection:
        added = connection.execute(update(Account).where(
            Account.id == account_id, Account.credits_earned <= MOST_CREDITS - amount)
            .values(credits_earned=Account.credits_earned + amount))
        return added.rowcount == 1
