"""How many waiting connections a gevent worker takes each time its listening socket wakes it.

gunicorn has each of several gevent workers take one, so a burst is shared out. But a busy
worker wakes once per turn of its loop, and under load a turn took 0.2 to 0.8 s: 200 new
connections waited up to 20 s to be accepted (bench/ target L, traced with strace). Taking every
waiting connection at once (gevent's own default) ended that, but let one idle worker take all
8 connections of a burst while the other idled (target 1: 58 against 72 req/s).

So each worker counts its open connections in memory shared by the workers of one master, and
at each wake takes what brings it to an even part of all the connections, open and waiting:
Linux tells a listening socket's queue length (TCP_INFO). The first of two idle workers to wake
takes half a burst and the other the rest, each in one go; a worker ahead of the others takes
one, so nothing waits on a worker that is busy. Where the queue length cannot be read, a worker
takes up to twice the least loaded other worker's count (which let one take 133 of a burst of
200 and the other 68) and at least one.
"""

from __future__ import annotations

import math
import mmap
import os
import socket
import struct

from jobs import process_is_gone

SLOTS = 64  # workers of one master; more than any machine here runs
SLOT = struct.Struct("qq")  # a worker's pid (0: free) and its open connections
ALONE = 100  # gevent's default, for a worker with no other
# struct tcp_info (linux/tcp.h): eight one-byte fields, then rto, ato, snd_mss, rcv_mss, unacked.
TCP_INFO_BYTES = 28
TCP_INFO_UNACKED = struct.Struct("I")
TCP_INFO_UNACKED_OFFSET = 24
TCP_LISTEN = 10  # tcpi_state of a listening socket


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

    def share(self, waiting: int | None) -> int:
        """How many connections to accept now, ``waiting`` being the listening socket's queue
        (None: not known)."""
        if self.slot is None:
            return 1
        mine = SLOT.unpack_from(self.shared, self.slot * SLOT.size)[1]
        others = [count for slot in range(SLOTS) if slot != self.slot
                  for pid, count in [SLOT.unpack_from(self.shared, slot * SLOT.size)]
                  if pid and not process_is_gone(pid)]
        if not others:
            return ALONE
        if waiting is None:
            least = min(others)
            return max(1, least + max(1, least) - mine)
        even = math.ceil((mine + sum(others) + waiting) / (len(others) + 1))
        return max(1, even - mine)


def waiting_connections(listener: socket.socket) -> int | None:
    """How many connections wait in ``listener``'s accept queue; None where that is not told.
    For a listening socket Linux gives the queue's length as TCP_INFO's tcpi_unacked."""
    try:
        info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_BYTES)
    except (AttributeError, OSError):  # not Linux, or not TCP (a unix socket)
        return None
    if len(info) < TCP_INFO_BYTES or info[0] != TCP_LISTEN:
        return None
    return int(TCP_INFO_UNACKED.unpack_from(info, TCP_INFO_UNACKED_OFFSET)[0])


# Made when the master imports this module, before it forks: its workers share these pages.
shared_counts = mmap.mmap(-1, SLOTS * SLOT.size)
