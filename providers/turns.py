"""At most N calls to one upstream in flight for the whole instance, every worker process
together (``ARTPROXY_<PROVIDER>_CONCURRENCY``): a call waits for a turn, within the provider's
timeout, instead of being fired at an upstream that counts callers by address and would refuse
it (Pollinations queues anonymous callers one at a time). One that gets no turn in time is
UpstreamBusy, and the fallback chain moves on as for any busy upstream.

Turns are N lock files in the state folder, held with flock: the kernel frees a turn when its
holder exits, however it ends, so a killed worker never keeps one. Within a process, flock
cannot tell two greenlets apart (they share the open file), so the process also remembers which
turns it holds. A waiting call leaves a marker file named by its process, so /healthz can count
the waiting of every process. Per instance even with Redis: the upstream counts per address.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from errors import UpstreamBusy
from generator_client import GeneratedImage, ImageOptions, Provider
from jobs import process_is_gone
from logs import Occasionally

log = Occasionally(logging.getLogger("artproxy"), every_seconds=60)

POLL_SECONDS = 0.05  # how often a waiting call tries the turns again
BUSY_RETRY_SECONDS = 5
WAITING_PREFIX = "waiting-"


class Turns(Provider):
    def __init__(self, provider: Provider, upstream: str, turns: int, folder: Path,
                 wait_seconds: float):
        self.provider = provider
        self.name = provider.name
        self.turns = turns
        self.wait_seconds = wait_seconds
        upstream_id = hashlib.sha256(upstream.encode("utf-8")).hexdigest()[:16]
        self.folder = folder / f"turns-{upstream_id}"
        self._files: dict[int, int] = {}  # turn -> open descriptor of its lock file
        self._held: set[int] = set()  # turns this process holds
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        with self.turn():
            return self.provider.generate(prompt, options)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold one of the turns while the body runs; UpstreamBusy if none comes in time. While
        the folder cannot be used, calls go ahead without: a turn is a courtesy, not a condition."""
        try:
            taken = self._take()
            if taken is None:
                with self._waiting():
                    taken = self._wait_for_turn()
        except OSError as error:
            log.warning("%s: calls are not being limited (turns unusable): %s", self.name, error)
            yield
            return
        try:
            yield
        finally:
            self._give_back(taken)

    def in_flight(self) -> int:
        """Turns held now by any process of the instance."""
        held = 0
        for turn in range(self.turns):
            with self._lock:
                if turn in self._held:
                    held += 1
                    continue
                try:
                    descriptor = self._file(turn)
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    held += 1
                    continue
                except OSError:
                    continue
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        return held

    def waiting(self) -> int:
        """Calls of any live process of the instance waiting for a turn."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return 0
        return sum(1 for name in names
                   if name.startswith(WAITING_PREFIX) and waiter_alive(name))

    def _wait_for_turn(self) -> int:
        give_up_at = time.monotonic() + self.wait_seconds
        while time.monotonic() < give_up_at:
            time.sleep(POLL_SECONDS)
            taken = self._take()
            if taken is not None:
                return taken
        raise UpstreamBusy(BUSY_RETRY_SECONDS, f"The image generator {self.name} is busy with "
                           f"as many calls as it takes at once; try again shortly")

    def _take(self) -> int | None:
        with self._lock:
            for turn in range(self.turns):
                if turn in self._held:
                    continue
                try:
                    fcntl.flock(self._file(turn), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                self._held.add(turn)
                return turn
        return None

    def _give_back(self, turn: int) -> None:
        with self._lock:
            self._held.discard(turn)
            fcntl.flock(self._files[turn], fcntl.LOCK_UN)

    def _file(self, turn: int) -> int:
        if self._pid != os.getpid():
            # A forked child shares its parent's open files, and so their locks: its own.
            self._pid, self._files, self._held = os.getpid(), {}, set()
        descriptor = self._files.get(turn)
        if descriptor is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.folder / f"turn-{turn}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            self._files[turn] = descriptor
        return descriptor

    @contextmanager
    def _waiting(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / f"{WAITING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        marker.touch()
        try:
            yield
        finally:
            marker.unlink(missing_ok=True)



def waiter_alive(marker: str) -> bool:
    """Whether the process that left ``marker`` (``waiting-<pid>-<random>``) still runs."""
    pid = marker.split("-")[1]
    return pid.isdigit() and not process_is_gone(int(pid))
