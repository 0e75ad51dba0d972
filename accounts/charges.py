"""What one request takes from an account's credits, and gives back for what it did not make.

    charge = Charge(store, account_id)
    charge.take(n)            # before drawing: NoCredits, and nothing drawn, if fewer are left
    charge.made(...)          # each image made: kept in the account's history
    charge.settle()           # after: every credit taken for an image not made is given back

A job settles when it ends, in whichever process runs it: what it paid is held (hold_for_job())
until then, and a hold its job never took, lost with its runner, is paid back by the accounts'
sweep.

A failed generation costs nothing: whatever fails between take() and settle() (the upstream,
storage, the caller's bad input found late) ends in settle() giving its credits back.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any

from accounts.store import AccountStore
from errors import NoCredits
from generator_client import ImageOptions

DEFAULTS = asdict(ImageOptions())


class Charge:
    def __init__(self, store: AccountStore, account_id: int):
        self.store = store
        self.account_id = account_id
        self.taken = 0
        self.images_made = 0
        self.settled = False
        # Settling is left to whoever finishes the work: a stream's drawing, a job's runner.
        self.settles_later = False
        self.hold_id: str | None = None  # what a job holds, for its runner to settle
        self.partial_sent = False  # a stream showed an unfinished picture: one is paid for
        self._lock = threading.Lock()  # a stream's pictures are made on another greenlet

    def take(self, amount: int) -> None:
        if amount <= 0:
            return
        if not self.store.spend(self.account_id, amount):
            raise NoCredits()
        with self._lock:
            self.taken += amount

    def hold_for_job(self) -> str:
        """Hold what was taken until the job ends; the hold's id, for the job to carry."""
        self.hold_id = self.store.hold_for_job(self.account_id, self.taken)
        return self.hold_id

    def made(self, prompt: str, options: ImageOptions, provider: str,
             image_name: str | None = None, expires_at: float | None = None) -> None:
        """An image made (and stored as ``image_name`` until ``expires_at``, if it was)."""
        self.store.record_generation(self.account_id, prompt, chosen_options(options), provider,
                                     image_name, expires_at)
        with self._lock:
            self.images_made += 1

    def settle(self) -> None:
        """Give back what was taken for images not made; once, however often it is called."""
        with self._lock:
            if self.settled:
                return
            self.settled = True
            unused = self.taken - max(self.images_made, 1 if self.partial_sent else 0)
        if self.hold_id is not None and not self.store.release_hold(self.hold_id):
            return  # the sweep gave up on the job and paid it back already
        if unused > 0:
            self.store.refund(self.account_id, unused)


def chosen_options(options: ImageOptions) -> dict[str, Any]:
    """The options that differ from the defaults: what the caller chose."""
    return {name: value for name, value in asdict(options).items() if DEFAULTS[name] != value}
