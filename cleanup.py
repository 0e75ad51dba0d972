"""When expired images are deleted: one APScheduler per process runs each store's sweep.

What a sweep deletes is the store's business (``purge_expired``); this module only schedules it.
Threads do not survive a fork: a forked child forgets its parent's scheduler, and a worker of
a pre-loading server starts its own with restart_after_fork() (gunicorn.conf.py's post_fork).
The fork hook itself starts nothing: a gevent worker forks to run a subprocess (the openai
SDK runs ``uname`` once), and a thread started in that child before its exec switched to the
parent's request greenlets there, which answered on the parent's sockets: clients got EOF.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Protocol, runtime_checkable

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("artproxy")


@runtime_checkable
class Sweepable(Protocol):
    def purge_expired(self, now: float | None = None) -> int: ...


_lock = threading.Lock()
_scheduler: BackgroundScheduler | None = None
_jobs: dict[str, tuple[Sweepable, float]] = {}


def start_sweeping(job_name: str, store: Sweepable, interval_seconds: float) -> None:
    """Sweep ``store`` now, then every ``interval_seconds`` in this process's scheduler.

    Calling it again with the same ``job_name`` replaces that job rather than adding one.
    """
    _sweep(store)
    with _lock:
        _jobs[job_name] = (store, interval_seconds)
        _add_job(_running_scheduler(), job_name)


def stop_sweeping() -> None:
    global _scheduler
    with _lock:
        if _scheduler is not None:
            _scheduler.shutdown(wait=True)
        _scheduler = None
        _jobs.clear()


def scheduler_running() -> bool:
    return _scheduler is not None and _scheduler.running


def _running_scheduler() -> BackgroundScheduler:
    global _scheduler
    if _scheduler is None:
        # APScheduler logs every run at INFO: once a second would drown the service's own log.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        _scheduler = BackgroundScheduler(daemon=True)
        _scheduler.start()
        log.info("expiry sweeper started in process %d", os.getpid())
    return _scheduler


def _add_job(scheduler: BackgroundScheduler, job_name: str) -> None:
    store, interval_seconds = _jobs[job_name]
    # coalesce + one instance: a sweep that overruns is skipped, never stacked up.
    scheduler.add_job(_sweep, "interval", seconds=interval_seconds, args=(store,), id=job_name,
                      replace_existing=True, coalesce=True, max_instances=1)


def _sweep(store: Sweepable) -> None:
    try:
        deleted = store.purge_expired()
    except Exception:
        log.exception("expiry sweep failed; it will run again")
        return
    if deleted:
        log.debug("expiry sweep deleted %d images", deleted)


def restart_after_fork() -> None:
    """In a forked worker, run its parent's sweeps in a scheduler of its own."""
    with _lock:
        if _jobs and _scheduler is None:
            scheduler = _running_scheduler()
            for job_name in _jobs:
                _add_job(scheduler, job_name)


def _forget_parents_scheduler() -> None:
    global _lock, _scheduler
    _lock = threading.Lock()
    _scheduler = None


os.register_at_fork(after_in_child=_forget_parents_scheduler)
