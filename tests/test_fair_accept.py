"""The share of waiting connections a worker accepts at each wake (fair_accept.py)."""

from __future__ import annotations

import mmap
import os

from fair_accept import ALONE, SLOT, SLOTS, ConnectionCounts


def counts_with_another_worker(others_open: int) -> ConnectionCounts:
    shared = mmap.mmap(-1, SLOTS * SLOT.size)
    SLOT.pack_into(shared, 0, os.getppid(), others_open)  # a live process stands for the other
    counts = ConnectionCounts(shared)
    counts.claim()
    return counts


def test_a_worker_alone_takes_every_waiting_connection():
    counts = ConnectionCounts(mmap.mmap(-1, SLOTS * SLOT.size))
    counts.claim()
    assert counts.share() == ALONE


def test_a_burst_on_two_idle_workers_is_split_about_evenly():
    counts = counts_with_another_worker(others_open=0)
    assert counts.share() == 1  # at most one ahead of an idle worker
    counts.add(1)
    assert counts.share() == 1  # it always takes at least one: none is left waiting forever


def test_a_worker_behind_the_others_catches_up_at_once():
    counts = counts_with_another_worker(others_open=40)
    counts.add(10)
    assert counts.share() == 70  # up to twice the least loaded other worker's
    counts.add(-10)
    assert counts.share() == 80


def test_the_slot_of_a_worker_that_is_gone_is_taken_and_not_counted():
    shared = mmap.mmap(-1, SLOTS * SLOT.size)
    SLOT.pack_into(shared, 0, 2**22 + 12345, 500)  # no such process
    counts = ConnectionCounts(shared)
    counts.claim()
    assert counts.slot == 0 and counts.share() == ALONE
