"""Runs queued jobs of a LocalJobQueue in this process, while the instance has room for them.

One thread takes jobs (under gevent, gunicorn's workers, it is a greenlet) and each job runs in
a thread of its own, so one process can run several while others take their share. A process
polls a few times a second; the one that queued a job is woken at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from errors import ArtproxyError
from jobs import JobRequest, error_record
from jobs.task import make_image, settle_job
from logs import Occasionally
from service import ImageService

if TYPE_CHECKING:
    from jobs.local_queue import LocalJobQueue

log = logging.getLogger("artproxy")
# A job store that cannot be read fails every poll of every process: once a minute says it.
cannot_take = Occasionally(log, every_seconds=60)

# How often an idle process looks for jobs queued by the others: the most a job waits for a
# free runner, at the cost of one small read of a local file per process and poll.
POLL_SECONDS = 0.2


_started: set[Runner] = set()  # runners of this process, for stop_all()


class Runner:
    def __init__(self, queue: LocalJobQueue, service: ImageService,
                 poll_seconds: float = POLL_SECONDS):
        self.queue = queue
        self.service = service
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = False

    def start(self) -> None:
        _started.add(self)
        threading.Thread(target=self.run_forever, name="artproxy-jobs", daemon=True).start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Take no more jobs (those running finish)."""
        self._stopping = True
        self._wake.set()
        _started.discard(self)

    def run_forever(self) -> None:
        while not self._stopping:
            if not self.run_next():
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def run_next(self) -> bool:
        """Start the next job if there is one and room for it; True if one was started."""
        try:
            claimed = self.queue.claim()
        except Exception as error:  # the job store failed this once: try again at the next poll
            cannot_take.warning("could not take a job: %s", error)
            time.sleep(self.poll_seconds)
            return False
        if claimed is None:
            return False
        threading.Thread(target=self._run, args=claimed, name="artproxy-job", daemon=True).start()
        return True

    def _run(self, job_id: str, request: JobRequest) -> None:
        try:
            outcome = make_image(self.service, request,
                                 lambda progress: self.queue.report(job_id, progress))
        except Exception:
            log.exception("job %s failed unexpectedly", job_id)
            outcome = {"error": error_record(ArtproxyError())}
        kept = False
        try:
            kept = self.queue.finish(job_id, outcome)
        except Exception:
            # The record will be failed by the next reader once its timeout passes.
            log.exception("could not record the end of job %s", job_id)
        settle_job(self.service, request, outcome if kept else None)


def stop_all() -> None:
    """Stop every runner this process started (tests build many apps in one process)."""
    for runner in list(_started):
        runner.stop()
