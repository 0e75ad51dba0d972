"""Opening a SQLite file that every process of an instance shares (rate-limit counters, jobs)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

# Switching a new file to WAL needs it to itself, and SQLite answers "database is locked" at
# once rather than waiting for the busy timeout; processes that start together retry.
WAL_SWITCH_SECONDS = 2.0


def open_shared(path: Path, schema: str, busy_timeout_seconds: float) -> sqlite3.Connection:
    """A connection in autocommit mode, in WAL (readers never wait for a writer), with the
    schema made. One per process: a connection must not cross a fork."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=busy_timeout_seconds, isolation_level=None,
                                 check_same_thread=False)
    give_up = time.monotonic() + WAL_SWITCH_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            if time.monotonic() > give_up:
                connection.close()
                raise
            time.sleep(0.01)
    connection.executescript(schema)
    return connection
