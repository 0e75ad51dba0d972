"""Jobs on RQ in the Redis that holds the images, run by ``python main.py worker`` anywhere.

Every instance enqueues to and reads from the same RQ queue, so each answers for every job.
RQ takes its key prefix from ``RQ_KEY_PREFIX`` when it is first imported; import_rq() sets it
to ARTPROXY_REDIS_PREFIX + "rq" first, so RQ's keys (``artproxy:rq:job:<id>``,
``artproxy:rq:queue:jobs`` ...) sit beside the images under artproxy's prefix. Arguments and
results are JSON, never pickles: whoever can write to Redis cannot make a worker run code.

A worker runs each job itself (jobs/worker.py says why) and fails it when it overruns
ARTPROXY_JOB_TIMEOUT. If the worker is killed no one is left to say so: a job still "started"
after its timeout is reported failed here, and its record left to expire.

A worker announces each job that starts or ends on the channel ``<prefix>jobs-changed``; a
``?wait`` on any instance wakes at once instead of at its next look (jobs/job_news.py).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from types import ModuleType
from typing import TYPE_CHECKING, Any

import redis

from config import ConfigError, job_timeout_seconds
from errors import ArtproxyError, JobRunnerLost, JobTimedOut, QueueFull
from generator_client import UpstreamProgress
from jobs import (
    DONE,
    FAILED,
    HOST,
    ID_PATTERN,
    QUEUED,
    QUEUED_JOB_TTL_SECONDS,
    RUNNING,
    JobQueue,
    JobRequest,
    JobState,
    error_record,
    new_job_id,
    process_is_gone,
    too_many_jobs,
)
from jobs.job_news import JobNews, Listener
from jobs.task import make_image, settle_job
from storage.redis_storage import RedisImageStore, storage_errors

if TYPE_CHECKING:
    from rq.job import Job
    from rq.worker import Worker

    from service import ImageService

QUEUE_NAME = "jobs"
TASK = "jobs.rq_queue.run"
# An RQ worker says it is alive this often (RQ's default, 420 s, counted a killed worker for
# minutes); a worker elsewhere whose heartbeat is older than this and the slack is gone.
WORKER_TTL_SECONDS = 30
HEARTBEAT_SLACK_SECONDS = 15
HEARTBEAT_EVERY_SECONDS = 5  # at most this often unless a job's records go with it
# RQ stops a job at its timeout (whole seconds) and records that within milliseconds; a job
# still "started" a second later has lost its worker with it.
LOST_AFTER_TIMEOUT_SECONDS = 1
# In a job's meta: the sorted set of its client's jobs still queued or running, from which its
# worker takes it when it ends (ARTPROXY_MAX_JOBS_PER_CLIENT).
ACTIVE_JOBS = "active_jobs"

_worker_service: ImageService | None = None  # what a worker process built (prepare_worker)


def import_rq(redis_prefix: str) -> ModuleType:
    wanted = f"{redis_prefix}rq"
    loaded = sys.modules.get("rq.defaults")
    if loaded is not None and loaded.RQ_KEY_PREFIX != wanted:
        raise ConfigError(f"RQ was loaded with key prefix {loaded.RQ_KEY_PREFIX!r}; one process "
                          f"cannot also use {wanted!r}")
    os.environ["RQ_KEY_PREFIX"] = wanted
    import rq
    import rq.serializers

    return rq


class RQJobQueue(JobQueue):
    def __init__(self, connection: redis.Redis, redis_prefix: str, service: ImageService,
                 max_queued: int, job_timeout: float, redis_url: str,
                 max_per_client: int = 10):
        rq = import_rq(redis_prefix)
        self.rq = rq
        self.connection = connection
        self.service = service
        self.serializer = rq.serializers.JSONSerializer
        self.queue = rq.Queue(QUEUE_NAME, connection=connection, serializer=self.serializer)
        self.max_queued = max_queued
        self.max_per_client = max_per_client
        self.redis_prefix = redis_prefix
        self.job_timeout = job_timeout
        self.news = JobNews(redis_url, changes_channel(redis_prefix))

    @classmethod
    def from_config(cls, config: Mapping[str, Any], service: ImageService) -> RQJobQueue:
        store = service.store
        assert isinstance(store, RedisImageStore)  # jobs live where the images do
        return cls(store.client, config["REDIS_PREFIX"], service,
                   max_queued=config["MAX_QUEUED_JOBS"], job_timeout=job_timeout_seconds(config),
                   redis_url=config["REDIS_URL"], max_per_client=config["MAX_JOBS_PER_CLIENT"])

    def submit(self, request: JobRequest, client: str) -> JobState:
        active_jobs = f"{self.redis_prefix}jobs-active-of:{client}"
        now = self.service.clock()
        # A job counts for its client until its worker takes it out as it ends, or until it
        # could no longer be queued nor running, should that worker be killed.
        deadline = (now + QUEUED_JOB_TTL_SECONDS + math.ceil(self.job_timeout)
                    + LOST_AFTER_TIMEOUT_SECONDS)
        with storage_errors():
            with self.connection.pipeline(transaction=False) as pipeline:
                pipeline.llen(self.queue.key)
                pipeline.zremrangebyscore(active_jobs, "-inf", now)
                pipeline.zcard(active_jobs)
                queued, _, active = pipeline.execute()
            # Instances that check at the same moment can each add one: both bounds are loose
            # by at most the requests in flight, which is what they are there to limit.
            if queued >= self.max_queued:
                raise QueueFull()
            if active >= self.max_per_client:
                raise too_many_jobs(self.max_per_client)
            with self.connection.pipeline() as pipeline:  # one round trip for all of it
                job = self.queue.enqueue_call(
                    TASK, args=[request.to_dict()], job_id=new_job_id(),
                    timeout=math.ceil(self.job_timeout),
                    result_ttl=self.service.image_ttl_seconds,  # the image lives as long
                    failure_ttl=self.service.image_ttl_seconds,
                    ttl=QUEUED_JOB_TTL_SECONDS, meta={ACTIVE_JOBS: active_jobs},
                    pipeline=pipeline)
                pipeline.zadd(active_jobs, {job.id: deadline})
                pipeline.expireat(active_jobs, math.ceil(deadline))
                pipeline.execute()
        # Counted before this job went in: jobs queued meanwhile by others are behind it.
        return JobState(job.id, QUEUED, unix_seconds(job.created_at), position=queued + 1)

    def check(self) -> None:
        with storage_errors():
            self.connection.ping()

    def get(self, job_id: str) -> JobState | None:
        if not ID_PATTERN.fullmatch(job_id):
            return None
        with storage_errors():
            try:
                job = self.rq.job.Job.fetch(job_id, connection=self.connection,
                                            serializer=self.serializer)
            except self.rq.exceptions.NoSuchJobError:
                return None
            return self._state_of(job)

    def counts(self) -> dict[str, int]:
        """Jobs by status as RQ's queue and registries hold them, for the metrics."""
        with storage_errors():
            return {QUEUED: self.queue.count,
                    RUNNING: self.queue.started_job_registry.count,
                    DONE: self.queue.finished_job_registry.count,
                    FAILED: self.queue.failed_job_registry.count}

    def runners(self) -> dict[str, Any]:
        """Who runs the jobs, for /healthz: the RQ workers alive on the queue now. RQ keeps a
        killed worker's record until it expires: one on this machine counts while its process
        exists, another while its heartbeat is recent."""
        now = datetime.now(timezone.utc)
        with storage_errors():
            workers = self.rq.Worker.all(connection=self.connection, queue=self.queue)
        return {"by": "python main.py worker (RQ)",
                "workers": sum(1 for worker in workers if worker_alive(worker, now))}

    def start_runners(self) -> None:
        """Web processes only queue jobs; `python main.py worker` runs them."""

    def listening(self, job_id: str) -> AbstractContextManager[Listener]:
        return self.news.listening(job_id)

    def _state_of(self, job: Job) -> JobState:
        status = job.get_status(refresh=False)
        created_at = unix_seconds(job.created_at)
        started_at = unix_seconds(job.started_at) if job.started_at else None
        finished_at = unix_seconds(job.ended_at) if job.ended_at else None
        if status == self.rq.job.JobStatus.STARTED:
            now = self.service.clock()
            if started_at is not None and now > (started_at + math.ceil(self.job_timeout)
                                                 + LOST_AFTER_TIMEOUT_SECONDS):
                # No worker is left to record it: let the record go after the usual time.
                self.connection.expire(job.key, self.service.image_ttl_seconds)
                return JobState(job.id, FAILED, created_at, started_at=started_at,
                                finished_at=now, error=error_record(JobRunnerLost()))
            return JobState(job.id, RUNNING, created_at, started_at=started_at,
                            progress=job.meta.get("progress"))
        if status == self.rq.job.JobStatus.FINISHED:
            outcome = job.return_value() or {}
            return JobState(job.id, DONE if "result" in outcome else FAILED, created_at,
                            started_at=started_at, finished_at=finished_at,
                            result=outcome.get("result"), error=outcome.get("error"))
        if status in (self.rq.job.JobStatus.FAILED, self.rq.job.JobStatus.STOPPED,
                      self.rq.job.JobStatus.CANCELED):
            return JobState(job.id, FAILED, created_at, started_at=started_at,
                            finished_at=finished_at, error=error_record(self._failure_of(job)))
        return JobState(job.id, QUEUED, created_at, position=queue_position(job))

    def _failure_of(self, job: Job) -> ArtproxyError:
        result = job.latest_result()
        if result is not None and "JobTimeoutException" in (result.exc_string or ""):
            return JobTimedOut()
        return JobRunnerLost()


def changes_channel(redis_prefix: str) -> str:
    return f"{redis_prefix}jobs-changed"


def in_place_worker_class(rq: ModuleType, redis_prefix: str) -> type[Worker]:
    """RQ's SimpleWorker (jobs run in the worker's own process), announcing each job's start
    and end once RQ has recorded it; at the end it no longer counts for its client."""
    channel = changes_channel(redis_prefix)

    class InPlaceWorker(rq.SimpleWorker):  # type: ignore[name-defined]
        def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
            # RQ beats on its own two or three times per job besides the beats that go with
            # a job's records; at dozens of jobs a second those are round trips that say nothing
            # new. The key lives WORKER_TTL_SECONDS + 60 s after each beat.
            if (timeout is None and pipeline is None and self.last_heartbeat is not None
                    and (rq.utils.now() - self.last_heartbeat).total_seconds()
                    < HEARTBEAT_EVERY_SECONDS):
                return
            super().heartbeat(timeout, pipeline)

        def prepare_job_execution(self, job: Job, *args: Any, **kwargs: Any) -> None:
            super().prepare_job_execution(job, *args, **kwargs)
            self.connection.publish(channel, job.id)

        def perform_job(self, job: Job, *args: Any, **kwargs: Any) -> bool:
            try:
                return bool(super().perform_job(job, *args, **kwargs))
            finally:
                with self.connection.pipeline(transaction=False) as pipeline:
                    # In this order: whoever hears of the end may queue its next job at once.
                    if job.meta.get(ACTIVE_JOBS):
                        pipeline.zrem(job.meta[ACTIVE_JOBS], job.id)
                    pipeline.publish(channel, job.id)
                    pipeline.execute()

    return InPlaceWorker


def worker_alive(worker: Worker, now: datetime) -> bool:
    if worker.hostname == HOST and worker.pid:
        return not process_is_gone(worker.pid)
    beat = worker.last_heartbeat
    if beat is None:
        return False
    if beat.tzinfo is None:  # RQ writes UTC
        beat = beat.replace(tzinfo=timezone.utc)
    return (now - beat).total_seconds() <= WORKER_TTL_SECONDS + HEARTBEAT_SLACK_SECONDS


def queue_position(job: Job) -> int:
    """1 = next. A queued job missing from the list is being taken by a worker right now."""
    index = job.get_position()
    return 1 if index is None else index + 1


def unix_seconds(moment: datetime) -> float:
    if moment.tzinfo is None:  # RQ writes UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def prepare_worker(service: ImageService) -> None:
    """Build the service once in the worker, before RQ forks a child for each job."""
    global _worker_service
    _worker_service = service


def run(raw_request: dict[str, Any]) -> dict[str, Any]:
    """What an RQ worker calls for each job (TASK)."""
    if _worker_service is None:
        raise RuntimeError("prepare_worker() builds the service before a worker runs jobs")
    from rq import get_current_job  # imported by now, with artproxy's key prefix

    job = get_current_job()

    def report(progress: UpstreamProgress) -> None:
        if job is not None:  # kept in the job's meta, where GET /jobs/<id> reads it
            job.meta["progress"] = progress.to_dict()
            job.save_meta()

    request = JobRequest.from_dict(raw_request)
    outcome = None
    try:
        outcome = make_image(_worker_service, request, report)
        return outcome
    finally:  # RQ keeps what run() returns; its timeout arrives here as an exception
        settle_job(_worker_service, request, outcome)
