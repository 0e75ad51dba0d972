"""``python main.py worker``: a process that runs jobs, apart from the web server.

With Redis storage it runs ARTPROXY_JOB_CONCURRENCY RQ workers (forked children; one is run
in place), any number of these on any machine. Each runs its jobs itself, one after another,
where RQ's default worker forks a child for every job: on a 2-core machine that fork and its
bookkeeping held jobs to 15% of `/image`'s rate (bench/ target J). A job's timeout is RQ's
alarm signal in the worker, a worker that dies is started again by supervise(), and its job is
reported lost after its timeout (jobs/rq_queue.py). With file storage it runs the same runner as
the server's processes, on the same machine, within the instance's ARTPROXY_JOB_CONCURRENCY.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Mapping
from multiprocessing.context import ForkContext
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import redis

from jobs import JobQueue
from jobs.local_queue import LocalJobQueue
from jobs.runner import Runner
from service import ImageService

log = logging.getLogger("artproxy")


def run_workers(config: Mapping[str, Any], service: ImageService, job_queue: JobQueue) -> int:
    """Run jobs with the service and queue `python main.py` built to check the settings."""
    if isinstance(job_queue, LocalJobQueue):
        log.info("job runner for %s started in process %d", service.store, os.getpid())
        Runner(job_queue, service).run_forever()
        return 0
    from jobs import rq_queue

    rq_queue.prepare_worker(service)
    count = config["JOB_CONCURRENCY"]
    if count == 1:
        run_rq_worker(config["REDIS_URL"], config["REDIS_PREFIX"])
        return 0
    return supervise(count, config["REDIS_URL"], config["REDIS_PREFIX"])


def run_rq_worker(redis_url: str, redis_prefix: str) -> None:
    from jobs.rq_queue import QUEUE_NAME, WORKER_TTL_SECONDS, import_rq, in_place_worker_class

    rq = import_rq(redis_prefix)
    # No socket timeout: the worker blocks on the queue for minutes at a time by design.
    connection = redis.Redis.from_url(redis_url)
    serializer = rq.serializers.JSONSerializer
    worker_class = in_place_worker_class(rq, redis_prefix)
    worker = worker_class([rq.Queue(QUEUE_NAME, connection=connection, serializer=serializer)],
                          connection=connection, serializer=serializer,
                          log_job_description=False,  # it holds the prompt: not for the log
                          worker_ttl=WORKER_TTL_SECONDS)
    worker.work(logging_level="INFO")


def supervise(count: int, redis_url: str, redis_prefix: str) -> int:
    """Run ``count`` RQ workers as children, starting a new one when one dies, until SIGTERM or
    SIGINT, which each child also receives (RQ then finishes its current job and stops)."""
    context = multiprocessing.get_context("fork")
    children: list[BaseProcess] = []
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(count):
        children.append(start_child(context, redis_url, redis_prefix))
    while not stopping:
        time.sleep(1)
        for index, child in enumerate(children):
            if not child.is_alive() and not stopping:
                log.warning("RQ worker %d exited with %s; starting another", child.pid,
                            child.exitcode)
                children[index] = start_child(context, redis_url, redis_prefix)
    for child in children:
        child.join()
    return 0


def start_child(context: ForkContext, redis_url: str, redis_prefix: str) -> BaseProcess:
    child = context.Process(target=run_rq_worker, args=(redis_url, redis_prefix), daemon=False)
    child.start()
    return child
