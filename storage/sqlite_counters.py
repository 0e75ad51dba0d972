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

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from limits.storage import Storage

from clock import Clock
from storage.sqlite_file import open_shared

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at REAL NOT NULL
)
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
        self.path = Path(urlsplit(uri).path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._hits = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            # A connection must not cross a fork: each worker process opens its own.
            connection = open_shared(self.path, SCHEMA, BUSY_TIMEOUT_SECONDS)
            connection.execute("PRAGMA synchronous=NORMAL")  # counters need not survive a crash
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self.clock()
        with self._lock:
            db = self._db()
            count, = db.execute(HIT, {"key": key, "amount": amount, "now": now,
                                      "expires_at": now + expiry}).fetchone()
            self._hits += 1
            if self._hits % PRUNE_EVERY_HITS == 0:
                db.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        return count

    def get(self, key: str) -> int:
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row[1] if row else self.clock()

    def _row(self, key: str) -> tuple[int, float] | None:
        with self._lock:
            return self._db().execute(
                "SELECT count, expires_at FROM counters WHERE key = ? AND expires_at > ?",
                (key, self.clock())).fetchone()

    def check(self) -> bool:
        try:
            with self._lock:
                self._db().execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    def reset(self) -> int:
        with self._lock:
            return self._db().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        with self._lock:
            self._db().execute("DELETE FROM counters WHERE key = ?", (key,))
