"""The share of waiting connections a worker accepts at each wake (fair_accept.py)."""

from __future__ import annotations

import mmap
import os
import socket

from fair_accept import ALONE, SLOT, SLOTS, ConnectionCounts, waiting_connections


def counts_with_another_worker(others_open: int) -> ConnectionCounts:
    shared = mmap.mmap(-1, SLOTS * SLOT.size)
    SLOT.pack_into(shared, 0, os.getppid(), others_open)  # a live process stands for the other
    counts = ConnectionCounts(shared)
    counts.claim()
    return counts


def test_a_worker_alone_takes_every_waiting_connection():
    counts = ConnectionCounts(mmap.mmap(-1, SLOTS * SLOT.size))
    counts.claim()
    assert counts.share(waiting=500) == counts.share(waiting=None) == ALONE


def test_a_burst_on_two_idle_workers_is_split_evenly_in_one_go_each():
    counts = counts_with_another_worker(others_open=0)
    assert counts.share(waiting=200) == 100  # the first to wake takes half
    counts.add(100)
    assert counts.share(waiting=100) == 1  # now ahead of the other: one at a time
    other = counts_with_another_worker(others_open=100)
    assert other.share(waiting=100) == 100  # the other takes the rest when it wakes


def test_a_worker_ahead_takes_one_so_none_waits_on_a_busy_one():
    counts = counts_with_another_worker(others_open=10)
    counts.add(90)
    assert counts.share(waiting=20) == 1
    assert counts.share(waiting=0) == 1


def test_without_the_queue_length_a_worker_keeps_within_twice_the_least_loaded():
    counts = counts_with_another_worker(others_open=0)
    assert counts.share(waiting=None) == 1  # at most one ahead of an idle worker
    counts.add(1)
    assert counts.share(waiting=None) == 1  # it always takes at least one
    counts = counts_with_another_worker(others_open=40)
    counts.add(10)
    assert counts.share(waiting=None) == 70  # up to twice the least loaded other worker's


def test_the_queue_length_of_a_listening_socket_is_read_from_linux():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        assert waiting_connections(listener) == 0
        clients = [socket.create_connection(listener.getsockname()) for _ in range(3)]
        assert waiting_connections(listener) == 3
        listener.accept()[0].close()
        assert waiting_connections(listener) == 2
        for client in clients:
            client.close()
    with socket.socket(socket.AF_UNIX) as unix_listener:
        assert waiting_connections(unix_listener) is None  # no queue length: the old rule


def test_the_slot_of_a_worker_that_is_gone_is_taken_and_not_counted():
    shared = mmap.mmap(-1, SLOTS * SLOT.size)
    SLOT.pack_into(shared, 0, 2**22 + 12345, 500)  # no such process
    counts = ConnectionCounts(shared)
    counts.claim()
    assert counts.slot == 0 and counts.share(waiting=5) == ALONE
