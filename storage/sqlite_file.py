"""A SQLite file that every process of an instance shares (rate-limit counters, jobs), kept
usable when the disk under it misbehaves.

- Each process opens its own connection (one must not cross a fork), in WAL mode, so readers
  never wait for a writer.
- A file that is deleted or replaced while the server runs is left by every process on its
  next use, for the next *generation* of the file (``jobs.sqlite``, then ``jobs.2.sqlite``...):
  all of them meet on the same one. Deleting jobs.sqlite used to leave some workers on the old,
  unlinked file and the others on a new one, so a job was found or not by which answered. A
  new file never takes the old one's name because SQLite, when the last connection to a file
  in WAL mode closes, deletes ``<name>-wal`` by name: with a new file under the old name that
  would be the new file's journal. A replacement put there by hand is taken on as the next
  generation (renamed), so what an operator restored is what the processes use.
- A corrupted file is moved aside (``<name>.corrupt-<unix time>``) with a warning naming it,
  and the next generation starts fresh, when it is opened and whenever a query finds it so.
- ``check_writable()`` says whether the file takes a write now (readiness).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("artproxy")

# Switching a new file to WAL needs it to itself, and SQLite answers "database is locked" at
# once rather than waiting for the busy timeout; processes that start together retry.
WAL_SWITCH_SECONDS = 2.0
CORRUPTED = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
HEALTH_TABLE = "CREATE TABLE IF NOT EXISTS written (process INTEGER PRIMARY KEY, at REAL)"
RowFactory = Callable[[sqlite3.Cursor, Any], Any]


class SharedFile:
    def __init__(self, path: Path, schema: str, busy_timeout_seconds: float,
                 row_factory: RowFactory | None = None):
        self.path = path  # the first generation's name
        self.schema = schema
        self.busy_timeout_seconds = busy_timeout_seconds
        self.row_factory = row_factory
        self.generation = 0  # of the file open now; 0 while none is
        self._connection: sqlite3.Connection | None = None
        self._opened: tuple[int, int, int] | None = None  # (pid, st_dev, st_ino)
        # Connections to files that were deleted or replaced stay open: closing one could make
        # SQLite delete a WAL file by name (see above). Each process keeps a handful at most.
        self._retired: list[sqlite3.Connection] = []

    def connection(self) -> sqlite3.Connection:
        """This process's connection to the file all processes use now (opened if need be)."""
        if self._connection is None or self._opened is None or self._opened[0] != os.getpid():
            self._connection = None  # never use one that crossed a fork, nor close it here
            self._open(newest_generation(self.path))
        elif identity(self.generation_path(self.generation)) != self._opened:
            self._move_on()
        assert self._connection is not None
        return self._connection

    def failed(self, error: sqlite3.Error) -> None:
        """A query failed: if the file is corrupted, move it aside; every process then moves
        on to a fresh generation at its next use."""
        if getattr(error, "sqlite_errorcode", None) in CORRUPTED and self.generation:
            move_aside(self.generation_path(self.generation), "it is corrupted")

    def check_writable(self) -> None:
        """Return if a write reaches the file now; raise sqlite3.Error or OSError if not."""
        connection = self.connection()
        connection.execute(HEALTH_TABLE)
        connection.execute("INSERT OR REPLACE INTO written VALUES (?, ?)",
                           (os.getpid(), time.time()))

    def generation_path(self, generation: int) -> Path:
        return generation_path(self.path, generation)

    def _move_on(self) -> None:
        """The file this process has open was deleted or replaced: go where the others go."""
        current = self.generation_path(self.generation)
        after = self.generation_path(self.generation + 1)
        if current.exists() and not after.exists():
            try:
                os.rename(current, after)  # a replacement: it becomes the next generation
                log.warning("%s was replaced while in use; it is used as %s", current, after)
            except FileNotFoundError:
                pass  # another process took it on first
        if self._connection is not None:
            self._retired.append(self._connection)
        self._connection = None
        self._open(max(self.generation + 1, newest_generation(self.path)))

    def _open(self, generation: int) -> None:
        path = self.generation_path(generation)
        try:
            connection = open_with_schema(path, self.schema, self.busy_timeout_seconds)
        except sqlite3.DatabaseError as error:
            if getattr(error, "sqlite_errorcode", None) not in CORRUPTED:
                raise
            move_aside(path, "it is corrupted")
            generation += 1
            path = self.generation_path(generation)
            connection = open_with_schema(path, self.schema, self.busy_timeout_seconds)
        connection.row_factory = self.row_factory
        self._connection, self.generation, self._opened = connection, generation, identity(path)


def generation_path(first: Path, generation: int) -> Path:
    """``jobs.sqlite`` for the first generation, ``jobs.<n>.sqlite`` for the n-th."""
    if generation <= 1:
        return first
    return first.with_name(f"{first.stem}.{generation}{first.suffix}")


def newest_generation(first: Path) -> int:
    pattern = re.compile(rf"{re.escape(first.stem)}\.([0-9]+){re.escape(first.suffix)}")
    found = [int(match[1]) for entry in first.parent.glob(f"{first.stem}.*{first.suffix}")
             if (match := pattern.fullmatch(entry.name))]
    return max(found, default=1)


def identity(path: Path) -> tuple[int, int, int] | None:
    """(this pid, device, inode) of the file at ``path``; None if there is none."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return os.getpid(), status.st_dev, status.st_ino


def open_with_schema(path: Path, schema: str, busy_timeout_seconds: float) -> sqlite3.Connection:
    """A connection in autocommit mode, in WAL, with the schema made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=busy_timeout_seconds, isolation_level=None,
                                 check_same_thread=False)
    try:
        give_up = time.monotonic() + WAL_SWITCH_SECONDS
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError:
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.01)
        connection.executescript(schema)
    except BaseException:
        connection.close()
        raise
    return connection


def move_aside(path: Path, why: str) -> None:
    """Rename ``path`` out of the way (its WAL files go with their connections)."""
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return  # another process moved it already
    log.warning("%s was moved aside to %s because %s; a fresh one is made", path, aside, why)
