"""How many waiting connections a gevent worker takes each time its listening socket wakes it.

gunicorn has each of several gevent workers take one, so a burst is shared out. But a busy
worker wakes once per turn of its loop, and under load a turn took 0.2 to 0.8 s: 200 new
connections waited up to 20 s to be accepted (bench/ target L, traced with strace). Taking every
waiting connection at once (gevent's own default) ended that, but let one idle worker take all
8 connections of a burst while the other idled (target 1: 58 against 72 req/s).

So each worker counts its open connections in memory shared by the workers of one master, and
at each wake takes as many as keep it at most twice the least loaded other worker's, and at
least one: an idle pair splits a burst about evenly, and a busy pair takes one in a few turns.
"""

from __future__ import annotations

import mmap
import os
import struct

from jobs import process_is_gone

SLOTS = 64  # workers of one master; more than any machine here runs
SLOT = struct.Struct("qq")  # a worker's pid (0: free) and its open connections
ALONE = 100  # gevent's default, for a worker with no other


class ConnectionCounts:
    """Open connections per worker, each worker writing its own slot only."""

    def __init__(self, shared: mmap.mmap):
        self.shared = shared
        self.slot: int | None = None

    def claim(self) -> None:
        """Take a free slot, or one of a worker that is gone, for this process."""
        for slot in range(SLOTS):
            pid, _ = SLOT.unpack_from(self.shared, slot * SLOT.size)
            if pid == 0 or process_is_gone(pid):
                SLOT.pack_into(self.shared, slot * SLOT.size, os.getpid(), 0)
                self.slot = slot
                return

    def add(self, change: int) -> None:
        if self.slot is not None:
            pid, count = SLOT.unpack_from(self.shared, self.slot * SLOT.size)
            SLOT.pack_into(self.shared, self.slot * SLOT.size, pid, count + change)

    def share(self) -> int:
        """How many connections to accept now."""
        if self.slot is None:
            return 1
        mine = SLOT.unpack_from(self.shared, self.slot * SLOT.size)[1]
        others = [count for slot in range(SLOTS) if slot != self.slot
                  for pid, count in [SLOT.unpack_from(self.shared, slot * SLOT.size)]
                  if pid and not process_is_gone(pid)]
        if not others:
            return ALONE
        least = min(others)
        return max(1, least + max(1, least) - mine)


# Made when the master imports this module, before it forks: its workers share these pages.
shared_counts = mmap.mmap(-1, SLOTS * SLOT.size)
