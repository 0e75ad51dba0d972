"""Work a process repeats in the background, such as writing what it counted to where every
process reads it: one daemon thread per process (a greenlet under gevent), started at the
first use and again in a forked child, which does not inherit its parent's threads."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable


class Repeating:
    def __init__(self, step: Callable[[], None], every_seconds: float, name: str,
                 on_error: Callable[[Exception], None]):
        self.step = step
        self.every_seconds = every_seconds
        self.name = name
        self.on_error = on_error  # a failed step is reported; the thread goes on
        self._pid: int | None = None

    def ensure_running(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            threading.Thread(target=self._forever, name=self.name, daemon=True).start()

    def _forever(self) -> None:
        while True:
            time.sleep(self.every_seconds)
            try:
                self.step()
            except Exception as error:
                self.on_error(error)
