"""The SQLite job queue of file storage: order, concurrency, failure and expiry, with time
controlled by a fake clock and real processes where processes matter."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from errors import QueueFull
from generator_client import ImageOptions
from jobs import DONE, FAILED, QUEUED, RUNNING, JobRequest
from jobs.task import make_image

IMAGE_TTL = 120


@pytest.fixture
def make_queue(make_app, clock):
    def build(**settings):
        app = make_app(**{"CLOCK": clock, "PROVIDER": ("offline",), "RUN_JOBS": False,
                          "IMAGE_TTL": IMAGE_TTL, **settings})
        return app.extensions["artproxy_jobs"]

    return build


def job(prompt: str = "a lighthouse") -> JobRequest:
    return JobRequest(prompt, ImageOptions(width=96, height=64))


def run_claimed(queue) -> str:
    job_id, request = queue.claim()
    queue.finish(job_id, make_image(queue.service, request))
    return job_id


def test_jobs_wait_in_order_and_run_no_more_than_the_concurrency(make_queue):
    queue = make_queue(JOB_CONCURRENCY=2)
    submitted = [queue.submit(job(f"p{number}"), "client") for number in range(4)]
    assert [state.position for state in submitted] == [1, 2, 3, 4]
    assert [queue.claim()[0] for _ in range(2)] == [submitted[0].id, submitted[1].id]
    assert queue.claim() is None  # two running: the instance is full
    assert queue.get(submitted[0].id).status == RUNNING
    assert [queue.get(state.id).position for state in submitted[2:]] == [1, 2]


def test_a_done_job_is_kept_as_long_as_its_image(make_queue, clock):
    queue = make_queue()
    state = queue.submit(job(), "client")
    clock.advance(3)
    run_claimed(queue)
    done = queue.get(state.id)
    assert done.status == DONE and done.error is None
    assert done.result["expires_at"] == clock.now + IMAGE_TTL
    assert queue.service.store.get(done.result["name"]) is not None
    assert (done.created_at, done.started_at, done.finished_at) == (
        clock.now - 3, clock.now, clock.now)
    clock.advance(IMAGE_TTL - 1)
    assert queue.get(state.id).status == DONE
    clock.advance(1)
    assert queue.get(state.id) is None
    assert queue.purge_expired() == 1


def test_a_failed_job_keeps_the_status_image_would_have_given(make_queue, clock, upstream):
    from testing.fake_upstream import Answer

    upstream.will_answer(Answer(status=400, body=b"no"))
    queue = make_queue(PROVIDER=("magicstudio",))
    state = queue.submit(job(), "client")
    run_claimed(queue)
    failed = queue.get(state.id)
    assert failed.status == FAILED and failed.result is None
    assert failed.error["status"] == 502 and failed.error["code"] == "upstream_rejected"
    clock.advance(IMAGE_TTL)
    assert queue.get(state.id) is None


def test_a_job_past_its_timeout_fails_and_its_late_image_is_deleted(make_queue, clock):
    queue = make_queue(JOB_TIMEOUT=10.0)
    state = queue.submit(job(), "client")
    job_id, request = queue.claim()
    clock.advance(10)
    failed = queue.get(state.id)
    assert failed.status == FAILED and failed.error["code"] == "job_timeout"
    assert failed.error["status"] == 504
    queue.finish(job_id, make_image(queue.service, request))  # the runner ends after all
    assert queue.get(state.id).status == FAILED
    assert queue.service.store.list_images() == []


def test_a_job_whose_process_died_fails_at_once(make_queue):
    queue = make_queue()
    state = queue.submit(job(), "client")
    child = os.fork()
    if child == 0:  # the runner: takes the job and dies
        queue.claim()
        os._exit(0)
    os.waitpid(child, 0)
    failed = queue.get(state.id)
    assert failed.status == FAILED
    assert (failed.error["status"], failed.error["code"]) == (503, "job_runner_lost")
    assert queue.claim() is None  # and it no longer takes a place


def test_a_full_queue_refuses_until_a_job_starts(make_queue):
    queue = make_queue(MAX_QUEUED_JOBS=2, JOB_CONCURRENCY=1)
    queue.submit(job(), "client")
    queue.submit(job(), "client")
    with pytest.raises(QueueFull):
        queue.submit(job(), "client")
    queue.claim()
    assert queue.submit(job(), "client").position == 2


def test_an_unknown_or_malformed_id_is_none(make_queue):
    queue = make_queue()
    assert queue.get("0" * 32) is None
    assert queue.get("../../etc/passwd") is None
    assert queue.get("A" * 32) is None


def test_a_queued_job_nobody_takes_goes_after_an_hour(make_queue, clock):
    queue = make_queue()
    state = queue.submit(job(), "client")
    clock.advance(3600)
    assert queue.get(state.id) is None
    assert queue.claim() is None


def test_processes_taking_jobs_at_once_never_take_the_same_one(make_queue):
    queue = make_queue(JOB_CONCURRENCY=1000)
    submitted = {queue.submit(job(f"p{number}"), f"client {number}").id for number in range(60)}
    reader, writer = os.pipe()
    children = []
    for _ in range(3):
        child = os.fork()
        if child == 0:
            taken = []
            while (claimed := queue.claim()) is not None:
                taken.append(claimed[0])
            os.write(writer, (json.dumps(taken) + "\n").encode())
            os._exit(0)
        children.append(child)
    os.close(writer)
    for child in children:
        os.waitpid(child, 0)
    with os.fdopen(reader) as lines:
        taken = [job_id for line in lines for job_id in json.loads(line)]
    assert len(taken) == len(set(taken)) == 60
    assert set(taken) == submitted


def test_the_job_file_is_in_the_state_folder(make_queue, tmp_path):
    queue = make_queue()
    queue.submit(job(), "client")
    assert queue.path.parent == tmp_path / "state"
    rows = sqlite3.connect(queue.path).execute("SELECT status FROM jobs").fetchall()
    assert rows == [(QUEUED,)]
