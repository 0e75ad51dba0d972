"""Redis EXISTS for many requests in one round trip, each still asked after its request came.

Every answer from a picture kept in memory (storage/hot_images.py) first asks Redis whether
its key still exists. One command per answer was a quarter of a worker's CPU in bench/ row R
(redis-py takes a pooled connection, checks it has nothing unread, sends, waits, parses, gives
it back), and left Redis storage serving at 69-73% of the folder's rate.

So the checks take turns: the first to arrive sends its own check; those that arrive while it
is on the wire wait, and when it returns the first of them sends all of theirs in one pipeline.
Each check still goes out after it was asked, so a key deleted before a request came is never
found by that request: a delete on any instance is a 404 everywhere at once, as before.

Callers are greenlets of one gevent worker, or threads where gevent is not used; both wait
on ``threading``'s primitives, which gevent makes its own.
"""

from __future__ import annotations

import threading

import redis


class Check:
    def __init__(self, key: str):
        self.key = key
        self.found = False
        self.error: Exception | None = None
        self.sends = False  # this check's caller sends the next round trip
        self.woken = threading.Event()


class BatchedExists:
    def __init__(self, client: redis.Redis):
        self.client = client
        self._lock = threading.Lock()
        self._waiting: list[Check] = []
        self._in_flight = False

    def __call__(self, key: str) -> bool:
        """Whether ``key`` exists in Redis; redis-py's errors as its own EXISTS raises them."""
        check = Check(key)
        with self._lock:
            self._waiting.append(check)
            if not self._in_flight:
                self._in_flight = check.sends = True
        if not check.sends:
            try:
                check.woken.wait()  # for its answer, or for its turn to send
            except BaseException:
                self._leave(check)  # its request was stopped (a timeout, the worker's exit)
                raise
        if check.sends:
            self._send()
        if check.error is not None:
            raise check.error
        return check.found

    def _send(self) -> None:
        """One round trip with every check waiting now; then the turn passes on."""
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            pipeline = self.client.pipeline(transaction=False)
            for check in batch:
                pipeline.exists(check.key)
            for check, answer in zip(batch, pipeline.execute(), strict=True):
                check.found = bool(answer)
        except Exception as error:  # each waiting request raises it, as its own call would
            for check in batch:
                check.error = error
        except BaseException:
            # This sender's request was stopped mid-way (its timeout): the others have no
            # answer, and an unanswered check must never read as a deleted picture.
            for check in batch:
                check.error = redis.ConnectionError("The EXISTS round trip was cut short")
            raise
        finally:
            with self._lock:
                self._pass_turn()
            for check in batch:
                check.woken.set()

    def _leave(self, check: Check) -> None:
        """A waiting check no one will read: out of the queue, and the turn to send, if it
        had passed to it, on to the next, or the queue would wait for it for ever."""
        with self._lock:
            if check in self._waiting:
                self._waiting.remove(check)
                if check.sends:
                    self._pass_turn()

    def _pass_turn(self) -> None:
        """Under the lock: the first waiting check sends next, or no one is sending."""
        if self._waiting:
            self._waiting[0].sends = True
            self._waiting[0].woken.set()
        else:
            self._in_flight = False
