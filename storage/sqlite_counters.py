"""Rate-limit counters in one SQLite file, shared by every worker process of an instance.

gunicorn runs a worker process per core, and ``limits``' memory storage counts in each process
alone, so a budget of 4 let 8 calls through on 2 cores. With file storage there is no Redis to
share, so the counters go where all of an instance's processes can reach them: a SQLite file
in ``ARTPROXY_STATE_DIR``. Each hit is one UPSERT that resets an expired window and adds in
the same statement, so concurrent processes never lose a count. (diskcache was the library
candidate; it opens a connection per thread, which under gevent means one per request
greenlet, three descriptors each; here each process holds one connection behind a lock.)

Registered with ``limits`` under the ``artproxy-sqlite`` scheme: ``artproxy-sqlite:///abs/path``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from limits.storage import Storage

from clock import Clock
from storage.sqlite_file import SharedFile

SCHEMA = """
PRAGMA synchronous=NORMAL;  -- counters need not survive a crash of the machine
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
"""
HIT = """
INSERT INTO counters (key, count, expires_at) VALUES (:key, :amount, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN expires_at <= :now THEN :amount ELSE count + :amount END,
    expires_at = CASE WHEN expires_at <= :now THEN :expires_at ELSE expires_at END
RETURNING count
"""
# A hit holds the write lock for microseconds; waiting up to a second covers any burst.
BUSY_TIMEOUT_SECONDS = 1.0
# Expired rows are deleted now and then, so the file stays as small as the live windows.
PRUNE_EVERY_HITS = 1000


class SQLiteCounters(Storage):
    STORAGE_SCHEME = ["artproxy-sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, clock: Clock = time.time,
                 **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.clock = clock  # tests pass a fake clock to control windows and cooldowns
        self.file = SharedFile(Path(urlsplit(uri).path), SCHEMA, BUSY_TIMEOUT_SECONDS)
        self._lock = threading.Lock()
        self._hits = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self.file.connection()
            except sqlite3.Error as error:
                self.file.failed(error)
                raise

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self.clock()
        with self._db() as db:
            count, = db.execute(HIT, {"key": key, "amount": amount, "now": now,
                                      "expires_at": now + expiry}).fetchone()
            self._hits += 1
            if self._hits % PRUNE_EVERY_HITS == 0:
                db.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        return int(count)

    def get(self, key: str) -> int:
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row[1] if row else self.clock()

    def _row(self, key: str) -> tuple[int, float] | None:
        with self._db() as db:
            row: tuple[int, float] | None = db.execute(
                "SELECT count, expires_at FROM counters WHERE key = ? AND expires_at > ?",
                (key, self.clock())).fetchone()
            return row

    def check(self) -> bool:
        """True if the counters take a write now (readiness)."""
        try:
            with self._lock:
                self.file.check_writable()
            return True
        except (sqlite3.Error, OSError):
            return False

    def reset(self) -> int:
        with self._db() as db:
            return int(db.execute("DELETE FROM counters").rowcount)

    def clear(self, key: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM counters WHERE key = ?", (key,))
