"""Word that a job started or ended, so ``GET /jobs/<id>?wait`` answers at once.

RQ workers announce each change on a Redis channel (jobs/rq_queue.py). Each process that serves
``?wait`` keeps one subscription to it, opened at its first wait, and wakes the listeners of the
job named. A waiter starts listening before it first reads its job, so no change falls between
its read and its wait. While the subscription stands, waiters read their job only now and then;
while it is being opened or reopened (Redis restarting) they read it as often as a queue without
news would make them (web/jobs.py): an announcement missed costs a look's delay, never a wrong
answer.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from logs import Occasionally

log = logging.getLogger("artproxy")
subscription_failed = Occasionally(log, every_seconds=60)
RESUBSCRIBE_SECONDS = 1.0


class Listener:
    """What one waiter hears about one job."""

    def __init__(self, heard_by: JobNews | None = None):
        self._heard = threading.Event()
        self._news = heard_by

    @property
    def reliable(self) -> bool:
        """True if every change from now on will be heard, so the waiter need not look often."""
        return self._news is not None and self._news.subscribed

    def wait(self, seconds: float) -> None:
        """Return once the job was announced since the last wait, or after ``seconds``."""
        self._heard.wait(seconds)
        self._heard.clear()

    def hear(self) -> None:
        self._heard.set()


class JobNews:
    def __init__(self, redis_url: str, channel: str):
        self.redis_url = redis_url
        self.channel = channel
        self.subscribed = False  # true from Redis' confirmation until the subscription fails
        self._listeners: dict[str, set[Listener]] = {}
        self._lock = threading.Lock()
        self._listening_in: int | None = None  # the pid: a forked child must subscribe anew
        self._closed = threading.Event()

    @contextmanager
    def listening(self, job_id: str) -> Iterator[Listener]:
        """A Listener that hears of ``job_id`` until the block ends."""
        self._listen_here()
        listener = Listener(self)
        with self._lock:
            self._listeners.setdefault(job_id, set()).add(listener)
        try:
            yield listener
        finally:
            with self._lock:
                listening = self._listeners.get(job_id)
                if listening is not None:
                    listening.discard(listener)
                    if not listening:
                        del self._listeners[job_id]

    def _listen_here(self) -> None:
        with self._lock:
            if self._listening_in == os.getpid():
                return
            self._listening_in = os.getpid()
            self.subscribed = False
        threading.Thread(target=self._listen, name="job-news", daemon=True).start()

    def close(self) -> None:
        """Subscribe no more once the subscription ends (for tests that stop their Redis)."""
        self._closed.set()

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                # No socket timeout: a subscription is silent for as long as no job changes.
                client = redis.Redis.from_url(self.redis_url)
                with client.pubsub() as subscription:
                    subscription.subscribe(self.channel)
                    for message in subscription.listen():
                        if message["type"] == "subscribe":
                            self.subscribed = True
                        elif message["type"] == "message":
                            self._announce(message["data"])
            except (redis.RedisError, OSError) as error:
                subscription_failed.warning("job news: the subscription to %s failed (%s); "
                                            "waiters look at their jobs meanwhile",
                                            self.channel, error)
            finally:
                self.subscribed = False
            self._closed.wait(RESUBSCRIBE_SECONDS)

    def _announce(self, data: bytes | str) -> None:
        job_id = data.decode("ascii", "replace") if isinstance(data, bytes) else str(data)
        with self._lock:
            listening = list(self._listeners.get(job_id, ()))
        for listener in listening:
            listener.hear()
