"""An instance's jobs in one SQLite file (``ARTPROXY_STATE_DIR/jobs.sqlite``), for file storage.

Every worker process of the instance reads and writes the same file, so any of them answers
for any job. A job is taken in an IMMEDIATE transaction that also counts the running ones, so
no two processes take the same job and ``ARTPROXY_JOB_CONCURRENCY`` holds for the whole
instance. A runner writes who it is (host and pid) on the jobs it takes; whoever looks next at a
job whose runner is gone, or that ran past ``ARTPROXY_JOB_TIMEOUT``, records it failed. A
runner that finishes late writes nothing and deletes the image it made, so a job never turns
from failed to done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from clock import Clock
from config import job_timeout_seconds, project_path
from errors import (
    ArtproxyError,
    JobRunnerLost,
    JobTimedOut,
    QueueFull,
    StorageUnavailable,
)
from generator_client import UpstreamProgress
from jobs import (
    DONE,
    FAILED,
    HOST,
    ID_PATTERN,
    QUEUED,
    QUEUED_JOB_TTL_SECONDS,
    RUNNING,
    STATUSES,
    JobQueue,
    JobRequest,
    JobState,
    error_record,
    new_job_id,
    process_is_gone,
    too_many_jobs,
)
from jobs.job_news import Listener
from jobs.runner import Runner
from service import ImageService
from storage.sqlite_file import SharedFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- queue order
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    client TEXT NOT NULL,  -- who asked (hashed): ARTPROXY_MAX_JOBS_PER_CLIENT
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    runner TEXT,  -- "<host>:<pid>" of the process running it
    outcome TEXT,  -- jobs/task.py's JSON
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_by_client ON jobs (client, status);
-- A running job's latest word from its upstream's queue (a table of its own: files made before
-- it need no change).
CREATE TABLE IF NOT EXISTS progress (
    id TEXT PRIMARY KEY,
    progress TEXT NOT NULL
);
"""
# Taking a job holds the write lock for well under a millisecond; a second covers any burst.
BUSY_TIMEOUT_SECONDS = 1.0


class LocalJobQueue(JobQueue):
    def __init__(self, path: Path, service: ImageService, concurrency: int, max_queued: int,
                 job_timeout: float, run_jobs: bool = True, max_per_client: int = 10):
        self.path = path
        self.service = service
        self.clock: Clock = service.clock
        self.concurrency = concurrency
        self.max_queued = max_queued
        self.max_per_client = max_per_client
        self.job_timeout = job_timeout
        self.run_jobs = run_jobs
        self.runner: Runner | None = None  # once start_runners() made one
        self.file = SharedFile(path, SCHEMA, BUSY_TIMEOUT_SECONDS, row_factory=sqlite3.Row)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalJobQueue({str(self.path)!r})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], service: ImageService) -> LocalJobQueue:
        return cls(project_path(config["STATE_DIR"]) / jobs_file(service), service,
                   concurrency=config["JOB_CONCURRENCY"], max_queued=config["MAX_QUEUED_JOBS"],
                   job_timeout=job_timeout_seconds(config), run_jobs=config["RUN_JOBS"],
                   max_per_client=config["MAX_JOBS_PER_CLIENT"])

    def submit(self, request: JobRequest, client: str) -> JobState:
        now = self.clock()
        job_id = new_job_id()
        with self._transaction() as db:
            waiting, = db.execute("SELECT count(*) FROM jobs WHERE status = ? AND expires_at > ?",
                                  (QUEUED, now)).fetchone()
            if waiting >= self.max_queued:
                raise QueueFull()
            own, = db.execute("SELECT count(*) FROM jobs WHERE client = ? AND status IN (?, ?) "
                              "AND expires_at > ?", (client, QUEUED, RUNNING, now)).fetchone()
            if own >= self.max_per_client:
                raise too_many_jobs(self.max_per_client)
            db.execute("INSERT INTO jobs (id, status, request, client, created_at, expires_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (job_id, QUEUED, json.dumps(request.to_dict()), client, now,
                        now + QUEUED_JOB_TTL_SECONDS))
        if self.runner is not None:
            self.runner.wake()  # this process may have room: no need to wait for a poll
        return JobState(job_id, QUEUED, now, position=waiting + 1)

    def get(self, job_id: str) -> JobState | None:
        if not ID_PATTERN.fullmatch(job_id):
            return None
        now = self.clock()
        with self._reading() as db:
            job = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if job is None or job["expires_at"] <= now:
                return None
            position = None
            if job["status"] == QUEUED:
                position, = db.execute("SELECT count(*) FROM jobs WHERE status = ? AND seq <= ? "
                                       "AND expires_at > ?", (QUEUED, job["seq"], now)).fetchone()
            progress = None
            if job["status"] == RUNNING:
                row = db.execute("SELECT progress FROM progress WHERE id = ?",
                                 (job_id,)).fetchone()
                progress = json.loads(row["progress"]) if row else None
        if job["status"] == RUNNING and self._failure_of(job, now) is not None:
            with self._transaction() as db:
                self._fail_lost_jobs(db, now)
                job = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return state_of(job, position, progress if job["status"] == RUNNING else None)

    def report(self, job_id: str, progress: UpstreamProgress) -> None:
        """Keep the latest progress of a job this process runs; a failure only costs it."""
        try:
            with self._transaction() as db:
                db.execute("INSERT OR REPLACE INTO progress (id, progress) VALUES (?, ?)",
                           (job_id, json.dumps(progress.to_dict())))
        except StorageUnavailable:
            pass

    def claim(self) -> tuple[str, JobRequest] | None:
        """Take the next queued job for this process, if the instance has room for one more."""
        now = self.clock()
        with self._reading() as db:
            # Polled by every process several times a second: look before taking the write lock.
            if db.execute("SELECT 1 FROM jobs WHERE status = ? AND expires_at > ? LIMIT 1",
                          (QUEUED, now)).fetchone() is None:
                return None
        with self._transaction() as db:
            self._fail_lost_jobs(db, now)
            running, = db.execute("SELECT count(*) FROM jobs WHERE status = ?",
                                  (RUNNING,)).fetchone()
            if running >= self.concurrency:
                return None
            job = db.execute("SELECT id, request FROM jobs WHERE status = ? AND expires_at > ? "
                             "ORDER BY seq LIMIT 1", (QUEUED, now)).fetchone()
            if job is None:
                return None
            # Until it finishes, a running job is kept long enough to be found failed if it
            # overruns.
            db.execute("UPDATE jobs SET status = ?, started_at = ?, runner = ?, expires_at = ? "
                       "WHERE id = ?", (RUNNING, now, this_runner(), now + self.job_timeout
                                        + self.service.image_ttl_seconds, job["id"]))
        return job["id"], JobRequest.from_dict(json.loads(job["request"]))

    def finish(self, job_id: str, outcome: dict[str, Any]) -> bool:
        """Record what this process's run of the job made, and say whether it was kept: a job
        already failed (past its timeout, its runner taken for lost) stays failed."""
        now = self.clock()
        result = outcome.get("result")
        expires_at = result["expires_at"] if result else now + self.service.image_ttl_seconds
        with self._transaction() as db:
            written = db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, outcome = ?, expires_at = ? "
                "WHERE id = ? AND status = ? AND runner = ?",
                (DONE if result else FAILED, now, json.dumps(outcome), expires_at, job_id, RUNNING,
                 this_runner())).rowcount
            db.execute("DELETE FROM progress WHERE id = ?", (job_id,))
        if not written and result:
            # Too late (ARTPROXY_JOB_TIMEOUT): nobody will be told about this image.
            self.service.store.delete(result["name"])
        return bool(written)

    def counts(self) -> dict[str, int]:
        """Live jobs by status, for the metrics."""
        with self._reading() as db:
            rows = db.execute("SELECT status, count(*) AS jobs FROM jobs WHERE expires_at > ? "
                              "GROUP BY status", (self.clock(),)).fetchall()
        return {status: 0 for status in STATUSES} | {row["status"]: row["jobs"] for row in rows}

    def listening(self, job_id: str) -> contextlib.AbstractContextManager[Listener]:
        # Runners announce nothing: the waiter's next look tells.
        return contextlib.nullcontext(Listener())

    def purge_expired(self, now: float | None = None) -> int:
        with self._transaction() as db:
            # The progress of jobs no longer running (one whose runner died kept its row).
            db.execute("DELETE FROM progress WHERE id NOT IN "
                       "(SELECT id FROM jobs WHERE status = ?)", (RUNNING,))
            return db.execute("DELETE FROM jobs WHERE expires_at <= ?",
                              (self.clock() if now is None else now,)).rowcount

    def check(self) -> None:
        """Return if the job store takes a write now; StorageUnavailable if not."""
        with self._lock, sqlite_errors(self.file):
            self.file.check_writable()

    def runners(self) -> dict[str, Any]:
        """Who runs the jobs, for /healthz."""
        return {"by": "the server's worker processes" if self.run_jobs else "python main.py worker"}

    def start_runners(self) -> None:
        if self.run_jobs and self.runner is None:
            self.runner = Runner(self, self.service)
            self.runner.start()

    def _failure_of(self, job: sqlite3.Row, now: float) -> ArtproxyError | None:
        if job["started_at"] + self.job_timeout <= now:
            return JobTimedOut()
        if runner_is_gone(job["runner"]):
            return JobRunnerLost()
        return None

    def _fail_lost_jobs(self, db: sqlite3.Connection, now: float) -> None:
        for job in db.execute("SELECT * FROM jobs WHERE status = ?", (RUNNING,)).fetchall():
            failure = self._failure_of(job, now)
            if failure is not None:
                db.execute("UPDATE jobs SET status = ?, finished_at = ?, outcome = ?, "
                           "expires_at = ? WHERE id = ?",
                           (FAILED, now, json.dumps({"error": error_record(failure)}),
                            now + self.service.image_ttl_seconds, job["id"]))

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock, sqlite_errors(self.file):
            yield self.file.connection()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, sqlite_errors(self.file):
            db = self.file.connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")


def state_of(job: sqlite3.Row, position: int | None,
             progress: dict | None = None) -> JobState:
    outcome = json.loads(job["outcome"]) if job["outcome"] else {}
    return JobState(id=job["id"], status=job["status"], created_at=job["created_at"],
                    position=position, started_at=job["started_at"],
                    finished_at=job["finished_at"], result=outcome.get("result"),
                    error=outcome.get("error"), progress=progress)


def jobs_file(service: ImageService) -> str:
    """``jobs-<12 hex>.sqlite``: one file per instance, told apart by the image folder its
    results go to and the upstreams that draw them. Two instances with other settings on one
    state folder ran each other's jobs, with their own upstream and into their own folder, so
    some result URLs were 404; ``python main.py worker`` with the same settings shares it."""
    instance = "\n".join([repr(service.store), *(breaker.upstream for breaker in service.breakers)])
    return f"jobs-{hashlib.sha256(instance.encode('utf-8')).hexdigest()[:12]}.sqlite"


def this_runner() -> str:
    return f"{HOST}:{os.getpid()}"


def runner_is_gone(runner: str | None) -> bool:
    """True if the runner was a process on this machine that no longer exists. A runner on
    another machine (a shared folder) is left to ARTPROXY_JOB_TIMEOUT."""
    host, _, pid = (runner or "").rpartition(":")
    return host == HOST and pid.isdigit() and process_is_gone(int(pid))



@contextlib.contextmanager
def sqlite_errors(file: SharedFile) -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as error:
        if isinstance(error, sqlite3.Error):
            file.failed(error)
        raise StorageUnavailable("The job store is unavailable; try again shortly") from error
