"""Word that a job started or ended, so ``GET /jobs/<id>?wait`` answers at once.

RQ workers announce each change on a Redis channel (jobs/rq_queue.py). Each process that serves
``?wait`` keeps one subscription to it, opened at its first wait, and wakes the waiters of the
job named. Waiters still look at their job now and then (web/jobs.py): an announcement missed
(Redis restarting, the subscription reconnecting, a change between a look and the wait) costs
one look's delay, never a wrong answer.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import redis

from logs import Occasionally

log = logging.getLogger("artproxy")
subscription_failed = Occasionally(log, every_seconds=60)
RESUBSCRIBE_SECONDS = 1.0


class JobNews:
    def __init__(self, redis_url: str, channel: str):
        self.redis_url = redis_url
        self.channel = channel
        self._waiters: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._listening_in: int | None = None  # the pid: a forked child must subscribe anew

    def wait(self, job_id: str, seconds: float) -> None:
        """Return once ``job_id`` is announced, or after ``seconds``."""
        self._listen_here()
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(event)
        try:
            event.wait(seconds)
        finally:
            with self._lock:
                waiting = self._waiters.get(job_id)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiters[job_id]

    def _listen_here(self) -> None:
        with self._lock:
            if self._listening_in == os.getpid():
                return
            self._listening_in = os.getpid()
        threading.Thread(target=self._listen, name="job-news", daemon=True).start()

    def _listen(self) -> None:
        while True:
            try:
                # No socket timeout: a subscription is silent for as long as no job changes.
                client = redis.Redis.from_url(self.redis_url)
                with client.pubsub(ignore_subscribe_messages=True) as subscription:
                    subscription.subscribe(self.channel)
                    for message in subscription.listen():
                        self._announce(message["data"])
            except (redis.RedisError, OSError) as error:
                subscription_failed.warning("job news: the subscription to %s failed (%s); "
                                            "waiters look at their jobs meanwhile",
                                            self.channel, error)
            time.sleep(RESUBSCRIBE_SECONDS)

    def _announce(self, data: bytes | str) -> None:
        job_id = data.decode("ascii", "replace") if isinstance(data, bytes) else str(data)
        with self._lock:
            waiting = list(self._waiters.get(job_id, ()))
        for event in waiting:
            event.set()
