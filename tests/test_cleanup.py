"""Expiry: the scheduler that runs each store's sweep, and what a restart keeps."""

from __future__ import annotations

import os
import time

import cleanup
from storage.file_storage import FileImageStore
from tests.helpers import stored_files


def test_scheduler_removes_files_within_two_seconds_of_their_deadline(make_app, image_dir):
    client = make_app(IMAGE_TTL=1, SWEEP_ENABLED=True, SWEEP_INTERVAL=0.2).test_client()
    payload = client.get("/image?p=x").get_json()
    path = image_dir / payload["url"].removeprefix("/images/")
    deadline = int(path.name.split("-")[0]) / 1000
    assert path.exists()
    while path.exists() and time.time() < deadline + 3:
        time.sleep(0.05)
    assert not path.exists()
    assert time.time() - deadline < 2


def test_a_restart_keeps_live_images_with_their_deadline_and_drops_dead_ones(make_app, clock, image_dir):
    first_run = make_app(CLOCK=clock, IMAGE_TTL=120).test_client()
    long_lived = first_run.get("/image?p=long").get_json()["url"]
    short_lived = make_app(CLOCK=clock, IMAGE_TTL=10).test_client().get("/image?p=short").get_json()["url"]
    clock.advance(30)

    # A new process with a different TTL setting; its startup sweep runs before it serves.
    second_run = make_app(CLOCK=clock, IMAGE_TTL=5, SWEEP_ENABLED=True, SWEEP_INTERVAL=60).test_client()
    assert short_lived.removeprefix("/images/") not in stored_files(image_dir)
    response = second_run.get(long_lived)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=90"  # the original deadline
    clock.advance(89)
    assert second_run.get(long_lived).status_code == 200
    clock.advance(1)
    assert second_run.get(long_lived).status_code == 404


def test_one_scheduler_per_process_and_one_job_per_folder(make_app, tmp_path):
    make_app(SWEEP_ENABLED=True)
    make_app(SWEEP_ENABLED=True)
    make_app(SWEEP_ENABLED=True, IMAGE_DIR=str(tmp_path / "other"))
    assert cleanup.scheduler_running()
    # Two image folders, and the job file of each instance in the state folder they share.
    assert sorted(job.id.split(":")[0] for job in cleanup._scheduler.get_jobs()) == [
        "jobs", "jobs", "sweep", "sweep"]


def test_a_forked_child_starts_nothing_until_a_worker_restarts_the_sweeps(image_dir):
    cleanup.start_sweeping("sweep:test", FileImageStore(image_dir), interval_seconds=60)
    parent_scheduler = cleanup._scheduler
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        forgotten = cleanup._scheduler is None and not cleanup.scheduler_running()
        cleanup.restart_after_fork()  # what gunicorn.conf.py's post_fork does
        alive = cleanup._scheduler is not parent_scheduler and cleanup._scheduler._thread.is_alive()
        jobs = [job.id for job in cleanup._scheduler.get_jobs()]
        os.write(writer, f"{forgotten} {alive} {jobs}".encode())
        os._exit(0)
    os.close(writer)
    report = os.read(reader, 1000).decode()
    os.waitpid(pid, 0)
    assert report == "True True ['sweep:test']"


def test_a_failing_sweep_is_logged_and_tried_again(caplog):
    calls = []

    class FlakyStore:
        def purge_expired(self, now=None):
            calls.append(now)
            if len(calls) == 2:
                raise OSError("disk went away")
            return 0

    cleanup.start_sweeping("sweep:flaky", FlakyStore(), interval_seconds=0.05)
    give_up = time.monotonic() + 5
    while len(calls) < 4 and time.monotonic() < give_up:
        time.sleep(0.02)
    assert len(calls) >= 4
    assert "expiry sweep failed" in caplog.text
