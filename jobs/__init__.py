"""Jobs: an image made in the background, and a record of it that any process can read.

    POST /jobs -> queue.submit() -> queued -> running -> done | failed <- GET /jobs/<id>
                                        (a runner: gunicorn worker, `python main.py worker`)

The queue is chosen by the image store's kind, so jobs live where the images do:
    file   jobs/local_queue.py  a SQLite file in ARTPROXY_STATE_DIR, shared by an instance's
                                processes; its worker processes run the jobs (jobs/runner.py)
    redis  jobs/rq_queue.py     RQ in the same Redis, keys under ARTPROXY_REDIS_PREFIX; run by
                                `python main.py worker` processes on any machine

What a job does (jobs/task.py) is the same for both: what ``GET /image`` does, in the background.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import plugins
from errors import ArtproxyError, RateLimited
from generator_client import ImageOptions

if TYPE_CHECKING:
    from jobs.job_news import Listener
    from service import ImageService

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)
# 128 random bits: a job's id is all it takes to read it, as an image's name is.
ID_PATTERN = re.compile(r"[0-9a-f]{32}")
# A job no runner has taken after an hour is dropped: its caller has long given up.
QUEUED_JOB_TTL_SECONDS = 3600
HOST = socket.gethostname()  # with a pid, says which process of this machine runs a job
# When a client over its job limit may try again: a job takes seconds to a minute.
TOO_MANY_JOBS_RETRY_SECONDS = 5

QUEUES: dict[str, str] = {
    "file": "jobs.local_queue:LocalJobQueue",
    "redis": "jobs.rq_queue:RQJobQueue",
}


@dataclass(frozen=True)
class JobRequest:
    prompt: str
    options: ImageOptions
    # The account that paid one credit for it, and the hold on it: the job's end records the
    # image in the account's history, or gives the credit back (jobs/task.py).
    account_id: int | None = None
    hold_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "options": asdict(self.options),
                "account_id": self.account_id, "hold_id": self.hold_id}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> JobRequest:
        return cls(raw["prompt"], ImageOptions(**raw["options"]), raw.get("account_id"),
                   raw.get("hold_id"))


@dataclass(frozen=True)
class JobState:
    id: str
    status: str  # QUEUED, RUNNING, DONE or FAILED
    created_at: float  # unix seconds
    position: int | None = None  # while queued: 1 = next to run
    started_at: float | None = None
    finished_at: float | None = None
    result: dict | None = None  # when done: what jobs/task.py made (name, expires_at, ...)
    error: dict | None = None  # when failed: {"status", "code", "message"}
    progress: dict | None = None  # while running: the upstream's queue (UpstreamProgress)


class JobQueue(Protocol):
    def submit(self, request: JobRequest, client: str) -> JobState:
        """Queue a job for ``client`` (who asked, hashed); QueueFull beyond
        ARTPROXY_MAX_QUEUED_JOBS, RateLimited beyond ARTPROXY_MAX_JOBS_PER_CLIENT of the
        client's queued or running, StorageUnavailable."""
        ...

    def get(self, job_id: str) -> JobState | None:
        """The job now, or None if the id is malformed, unknown or expired. A job whose runner
        died or overran ARTPROXY_JOB_TIMEOUT is reported (and recorded) failed."""
        ...

    def counts(self) -> dict[str, int]:
        """How many jobs are in each status now (for the metrics)."""
        ...

    def check(self) -> None:
        """Return if jobs can be queued and recorded now; StorageUnavailable if not."""
        ...

    def runners(self) -> dict[str, Any]:
        """Who runs the jobs (and with RQ how many workers listen), for /healthz."""
        ...

    def start_runners(self) -> None:
        """Run queued jobs in this process too, if this kind of queue does that."""
        ...

    def listening(self, job_id: str) -> AbstractContextManager[Listener]:
        """A Listener whose waits end early when this queue hears that the job changed, from
        the block's start to its end; a queue that hears nothing gives one that only pauses."""
        ...


def create_queue(config: Mapping[str, Any], service: ImageService) -> JobQueue:
    queue: JobQueue = plugins.load(QUEUES, service.store.kind, "STORAGE").from_config(config,
                                                                                      service)
    return queue


def process_is_gone(pid: int) -> bool:
    """True if no process ``pid`` runs on this machine (one of another user's does). A killed
    process whose parent died too stays a zombie until something reaps it: gone as well."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False  # no /proc here: it exists
    return state in ("Z", "X")


def new_job_id() -> str:
    return secrets.token_hex(16)


def too_many_jobs(largest: int) -> RateLimited:
    """A client with ``largest`` jobs queued or running may queue no more for now."""
    return RateLimited(TOO_MANY_JOBS_RETRY_SECONDS,
                       f"This client has {largest} jobs queued or running "
                       "(ARTPROXY_MAX_JOBS_PER_CLIENT); create more when one has ended")


def error_record(error: ArtproxyError) -> dict[str, Any]:
    """How a failure is kept: the status ``GET /image`` would have answered, and its words."""
    return {"status": error.status_code, "code": error.code, "message": error.message}
