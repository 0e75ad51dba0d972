"""EXISTS checks taking turns in one round trip each, against a real Redis."""

from __future__ import annotations

import threading
import time

import pytest
import redis

import storage.batched_exists
from storage.batched_exists import BatchedExists
from testing import free_port


class HeldRoundTrips:
    """The keys of each round trip ``exists`` sends. The first, once Redis has answered it,
    waits until released, so the test decides who arrives while it is out; the second raises
    ``second_raises`` if given."""

    def __init__(self, exists: BatchedExists, second_raises: BaseException | None = None):
        self.batches: list[list[str]] = []
        self.on_wire, self.release = threading.Event(), threading.Event()
        client, real_pipeline = exists.client, exists.client.pipeline

        def pipeline(**options):
            sent = real_pipeline(**options)
            real_execute = sent.execute

            def execute():
                self.batches.append([args[1] for args, _ in sent.command_stack])
                if len(self.batches) == 2 and second_raises is not None:
                    raise second_raises
                answers = real_execute()
                if len(self.batches) == 1:  # asked; its answer is still on its way back
                    self.on_wire.set()
                    assert self.release.wait(10)
                return answers

            sent.execute = execute
            return sent

        client.pipeline = pipeline


def asked_in_threads(exists: BatchedExists, keys: list[str],
                     queued: bool = False) -> dict[str, object]:
    """Each key asked by a thread of its own; what each got (True, False or its error).
    ``queued``: each thread starts once the one before it waits in the queue, so the queue
    holds them in this order and its first is the next to send."""
    answers: dict[str, object] = {}

    def ask(key: str) -> None:
        try:
            answers[key] = exists(key.split("#")[0])
        except BaseException as error:  # noqa: BLE001 - the test looks at what was raised
            answers[key] = error

    threads = [threading.Thread(target=ask, args=(key,)) for key in keys]
    for count, thread in enumerate(threads, start=1):
        thread.start()
        if queued:  # a wait on the queue, not a pause: a busy machine may start threads late
            wait_until(lambda: len(exists._waiting) == count)
    return {"threads": threads, "answers": answers}


def wait_until(condition, seconds: float = 5) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up
        time.sleep(0.005)


def queued_behind_a_held_round_trip(exists: BatchedExists, round_trips: HeldRoundTrips,
                                    keys: list[str], before_release=lambda: None):
    """A first check ("here") sent and held on its way back, ``keys`` asked in order and
    queued behind it, ``before_release()``, then the hold released and every thread ended.
    What the first got, and what each of ``keys`` got."""
    first = asked_in_threads(exists, ["here#first"])
    assert round_trips.on_wire.wait(5)
    rest = asked_in_threads(exists, keys, queued=True)
    before_release()
    round_trips.release.set()
    for thread in first["threads"] + rest["threads"]:
        thread.join(10)
        assert not thread.is_alive()
    return first["answers"], rest["answers"]


class Stopped(BaseException):
    """What stops a request mid-way, as a gevent Timeout does."""


def test_checks_that_arrive_during_a_round_trip_go_out_together_in_the_next(redis_server):
    client = redis_server.client()
    client.set("here", b"1")
    exists = BatchedExists(client)
    round_trips = HeldRoundTrips(exists)
    # The key is deleted before the waiting ones are sent: they must not find it.
    first, rest = queued_behind_a_held_round_trip(
        exists, round_trips, ["here#a", "gone#b", "here#c", "gone#d"],
        before_release=lambda: client.delete("here"))
    assert round_trips.batches == [["here"], ["here", "gone", "here", "gone"]]
    assert first == {"here#first": True}
    assert rest == {"here#a": False, "gone#b": False, "here#c": False, "gone#d": False}


def test_alone_each_check_is_its_own_round_trip_and_sees_the_latest_state(redis_server):
    client = redis_server.client()
    exists = BatchedExists(client)
    assert exists("picture") is False
    client.set("picture", b"1")
    assert exists("picture") is True
    client.delete("picture")
    assert exists("picture") is False


def test_a_redis_that_cannot_be_reached_fails_every_check_and_the_next_ones_too():
    closed_port = free_port()  # nothing listens on it
    exists = BatchedExists(redis.Redis(port=closed_port, retry=None))  # redis-py's own: 6 s
    for _ in range(2):  # the turn is given back after a failure: the second does not hang
        with pytest.raises(redis.ConnectionError):
            exists("picture")


def test_a_sender_stopped_mid_way_leaves_its_batch_failed_never_deleted(redis_server):
    client = redis_server.client()
    client.set("here", b"1")
    exists = BatchedExists(client)
    # The first round trip is held while three more checks queue; the second, sent by the
    # first of those, is stopped (as a gevent Timeout stops a request) on the wire.
    round_trips = HeldRoundTrips(exists, second_raises=Stopped())
    _, answers = queued_behind_a_held_round_trip(exists, round_trips,
                                                 ["here#sender", "here#b", "here#c"])
    assert isinstance(answers["here#sender"], Stopped)
    assert all(isinstance(answers[key], redis.ConnectionError) for key in ("here#b", "here#c"))
    assert round_trips.batches[1] == ["here", "here", "here"]
    assert exists("here") is True  # and the turn went back: nothing hangs


def test_a_waiter_stopped_when_its_turn_came_passes_the_turn_on(redis_server, monkeypatch):
    class WokenThenStopped(threading.Event):
        def wait(self, timeout=None):
            super().wait(timeout)
            raise Stopped()  # as a gevent Timeout would, in the middle of the wait

    class StoppableCheck(storage.batched_exists.Check):
        def __init__(self, key: str):
            super().__init__(key)
            if key == "stopped":
                self.woken = WokenThenStopped()

    monkeypatch.setattr(storage.batched_exists, "Check", StoppableCheck)
    client = redis_server.client()
    client.set("here", b"1")
    exists = BatchedExists(client)
    round_trips = HeldRoundTrips(exists)
    # The first of these sends next: it is stopped as its turn comes.
    _, rest = queued_behind_a_held_round_trip(exists, round_trips, ["stopped", "here#after"])
    assert isinstance(rest["stopped"], Stopped)
    assert rest["here#after"] is True
    assert round_trips.batches == [["here"], ["here"]]
