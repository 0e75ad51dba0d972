"""Jobs on the real server (2 worker processes) with file storage, and on Redis with RQ and
`python main.py worker`: any process answers for any job, killed runners, full queues."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from testing.fake_upstream import Answer
from testing.processes import child_pids
from tests.helpers import until
from tests.real_server import COMMANDS, call, environment, get, post_json, serve, start


def slow_upstream(upstream, seconds: float) -> dict[str, str]:
    upstream.default_answer = Answer(delay=seconds)
    return {"ARTPROXY_PROVIDER": "magicstudio", "ARTPROXY_MAGICSTUDIO_URL": upstream.url}


def job_in(base_url: str, job_id: str, *statuses: str) -> dict | None:
    body = get(f"{base_url}/jobs/{job_id}")[2]
    return body if body["status"] in statuses else None


def start_job_worker(processes: list, folder: Path, **settings: str):
    """`python main.py worker`, its output to a file nobody has to read."""
    log_file = processes.log_file("worker")
    process = start(COMMANDS["python main.py"] + ["worker"],
                    environment(folder, 0, PYTHONUNBUFFERED="1", **settings), output=log_file)
    log_file.close()
    processes.append(process)
    return process


def test_every_worker_process_answers_for_every_job(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_RATE_LIMIT="4/minute")
    created = [post_json(f"{base_url}/jobs", {"prompt": f"harbour {number}"}) for number in range(4)]
    assert [status for status, _, _ in created] == [202] * 4
    ids = [body["id"] for _, _, body in created]
    with ThreadPoolExecutor(max_workers=8) as pool:
        polls = list(pool.map(lambda job_id: get(f"{base_url}/jobs/{job_id}")[0], ids * 25))
    assert polls == [200] * 100  # polling never missed a job, nor counted against the limit
    for job_id in ids:
        done = until(lambda: job_in(base_url, job_id, "done", "failed"))
        assert done["status"] == "done"
        assert call("GET", base_url + done["result"]["url"])[0] == 200
    status, headers, body = post_json(f"{base_url}/jobs", {"prompt": "one more"})
    assert (status, body["code"]) == (429, "rate_limited")


def test_a_job_whose_worker_is_killed_fails_and_the_server_goes_on(image_dir, processes, upstream):
    base_url = serve(processes, image_dir, workers=2, **slow_upstream(upstream, 30))
    job_id = post_json(f"{base_url}/jobs", {"prompt": "slow"})[2]["id"]
    until(lambda: job_in(base_url, job_id, "running"))
    for pid in child_pids(processes[-1].pid):
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    failed = until(lambda: job_in(base_url, job_id, "failed"))
    assert time.monotonic() - killed_at < 10
    assert (failed["error"]["status"], failed["error"]["code"]) == (503, "job_runner_lost")
    upstream.default_answer = Answer()
    again = post_json(f"{base_url}/jobs", {"prompt": "fast"})[2]["id"]
    assert until(lambda: job_in(base_url, again, "done", "failed"))["status"] == "done"


def test_a_full_queue_is_503_with_retry_after(image_dir, processes, upstream):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_JOB_CONCURRENCY="1",
                     ARTPROXY_MAX_QUEUED_JOBS="2", **slow_upstream(upstream, 3))
    first = post_json(f"{base_url}/jobs", {"prompt": "a"})[2]["id"]
    until(lambda: job_in(base_url, first, "running"))
    waiting = [post_json(f"{base_url}/jobs", {"prompt": prompt})[2] for prompt in "bc"]
    assert [body["position"] for body in waiting] == [1, 2]
    status, headers, body = post_json(f"{base_url}/jobs", {"prompt": "d"})
    assert (status, body["code"]) == (503, "queue_full") and int(headers["Retry-After"]) > 0
    assert get(f"{base_url}/jobs/{first}")[2]["status"] == "running"  # one at a time
    assert get(f"{base_url}/jobs/{waiting[1]['id']}")[2]["position"] == 2


@pytest.fixture
def redis_instances(tmp_path, processes, redis_server):
    """Two instances and what a job worker needs, on one Redis, keys under "shop:"."""
    shared = dict(ARTPROXY_STORAGE="redis", ARTPROXY_REDIS_URL=redis_server.url,
                  ARTPROXY_REDIS_PREFIX="shop:", ARTPROXY_SECRET_KEY="same-everywhere")

    def start_all(**settings: str) -> tuple[str, str, dict]:
        everything = {**shared, **settings}
        return (serve(processes, tmp_path / "one", **everything),
                serve(processes, tmp_path / "two", **everything), everything)

    return start_all


def test_rq_jobs_are_answered_by_every_instance(redis_instances, tmp_path, processes, redis_server):
    first, second, settings = redis_instances()
    start_job_worker(processes, tmp_path / "worker", ARTPROXY_JOB_CONCURRENCY="2", **settings)
    ids = [post_json(f"{first}/jobs", {"prompt": f"fjord {number}", "aspect": "4:3"})[2]["id"]
           for number in range(3)]
    for job_id in ids:
        done = until(lambda: job_in(second, job_id, "done", "failed"))
        assert done["status"] == "done" and (done["result"]["width"], done["result"]["height"]) == (1024, 768)
        # Both instances tell the same job, token included (one ARTPROXY_SECRET_KEY); only the
        # seconds left may differ, by the time between the two reads.
        told = [get(f"{base}/jobs/{job_id}")[2] for base in (first, second)]
        for answer in told:
            del answer["result"]["expires_in"]
        assert told[0] == told[1]
        assert call("GET", first + done["result"]["url"])[0] == 200
        assert call("DELETE", second + done["result"]["url"],
                    {"X-Delete-Token": done["result"]["delete_token"]})[0] == 204
    keys = redis.Redis.from_url(redis_server.url).keys("*")
    assert keys and all(key.startswith(b"shop:") for key in keys)


@pytest.mark.parametrize("killed", ["one of several RQ workers", "the only one, run in place"])
def test_rq_a_killed_runner_fails_its_job_within_the_timeout(redis_instances, tmp_path, processes,
                                                             upstream, killed):
    first, second, settings = redis_instances(ARTPROXY_JOB_TIMEOUT="3",
                                              **slow_upstream(upstream, 30))
    several = killed == "one of several RQ workers"
    # Workers run their jobs themselves: with several, each is a child of `main.py worker`.
    worker = start_job_worker(processes, tmp_path / "worker",
                              ARTPROXY_JOB_CONCURRENCY="2" if several else "1", **settings)
    job_id = post_json(f"{first}/jobs", {"prompt": "slow"})[2]["id"]
    running = until(lambda: job_in(second, job_id, "running"))
    doomed = child_pids(worker.pid) if several else [worker.pid]
    assert doomed
    for pid in doomed:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    failed = until(lambda: job_in(first, job_id, "failed"), seconds=10)
    assert (failed["error"]["status"], failed["error"]["code"]) == (503, "job_runner_lost")
    assert time.monotonic() - killed_at < 3 + 1 + 1  # ARTPROXY_JOB_TIMEOUT, RQ's second, polling
    assert running["started_at"] < failed["finished_at"]
    assert get(f"{second}/jobs/{job_id}")[2]["status"] == "failed"
    if several:  # the supervisor starts new workers, and they run the next job
        upstream.default_answer = Answer()
        again = post_json(f"{first}/jobs", {"prompt": "fast"})[2]["id"]
        assert until(lambda: job_in(second, again, "done", "failed"))["status"] == "done"


def test_rq_a_job_past_its_timeout_is_stopped(redis_instances, tmp_path, processes, upstream):
    first, second, settings = redis_instances(ARTPROXY_JOB_TIMEOUT="2",
                                              **slow_upstream(upstream, 30))
    start_job_worker(processes, tmp_path / "worker", **settings)
    job_id = post_json(f"{first}/jobs", {"prompt": "slow"})[2]["id"]
    failed = until(lambda: job_in(second, job_id, "failed"), seconds=15)
    assert (failed["error"]["status"], failed["error"]["code"]) == (504, "job_timeout")


def test_rq_a_full_queue_is_503_and_a_late_worker_empties_it(redis_instances, tmp_path, processes):
    first, second, settings = redis_instances(ARTPROXY_MAX_QUEUED_JOBS="2")
    waiting = [post_json(f"{base}/jobs", {"prompt": base})[2] for base in (first, second)]
    assert [body["position"] for body in waiting] == [1, 2]
    status, headers, body = post_json(f"{first}/jobs", {"prompt": "third"})
    assert (status, body["code"]) == (503, "queue_full") and int(headers["Retry-After"]) > 0
    health = get(f"{second}/healthz")
    assert health[0] == 200  # no worker is not unready: everything else is served
    assert (health[2]["jobs"]["queued"], health[2]["jobs"]["workers"]) == (2, 0)
    start_job_worker(processes, tmp_path / "worker", **settings)
    until(lambda: get(f"{first}/healthz")[2]["jobs"]["workers"] >= 1)
    for body in waiting:
        assert until(lambda: job_in(second, body["id"], "done", "failed"))["status"] == "done"


def test_rq_a_job_is_kept_as_long_as_its_image(redis_instances, tmp_path, processes):
    first, second, settings = redis_instances(ARTPROXY_IMAGE_TTL="2")
    start_job_worker(processes, tmp_path / "worker", **settings)
    job_id = post_json(f"{first}/jobs", {"prompt": "brief"})[2]["id"]
    done = until(lambda: job_in(second, job_id, "done", "failed"))
    assert done["status"] == "done"
    until(lambda: get(f"{first}/jobs/{job_id}")[0] == 404, seconds=5)
    assert call("GET", second + done["result"]["url"])[0] == 404


@pytest.mark.parametrize("storage", ["file", "redis"])
def test_a_job_waiting_on_the_horde_shows_its_place_in_the_hordes_queue(
        storage, request, tmp_path, image_dir, processes):
    from testing.fake_horde import FakeHorde, Script

    with FakeHorde() as horde:
        horde.script = Script(checks_before_done=4)
        settings = {"ARTPROXY_PROVIDER": "horde", "ARTPROXY_HORDE_URL": horde.url}
        if storage == "redis":  # run by RQ in `python main.py worker`, kept in the job's meta
            redis_server = request.getfixturevalue("redis_server")
            settings.update(ARTPROXY_STORAGE="redis", ARTPROXY_REDIS_URL=redis_server.url)
            start_job_worker(processes, tmp_path / "worker", **settings)
        base_url = serve(processes, image_dir, workers=2, **settings)
        status, _, job = post_json(f"{base_url}/jobs", {"prompt": "a red fox"})
        assert status == 202
        seen = []
        while job["status"] in ("queued", "running"):
            job = get(f"{base_url}{job['status_url']}?wait=1&after={job['status']}")[2]
            if job["status"] == "running" and job["progress"]:
                seen.append(job["progress"])
        assert job["status"] == "done" and job["progress"] is None
        assert seen and seen[0]["provider"] == "horde"
        places = [progress["upstream_queue_position"] for progress in seen]
        assert places == sorted(places, reverse=True) and places[0] >= 2  # moving up
        assert all(progress["upstream_wait_seconds"] == 4 * progress["upstream_queue_position"]
                   for progress in seen)


def test_rq_a_waiting_caller_hears_of_the_end_at_once(redis_instances, tmp_path, processes,
                                                      upstream):
    from datetime import datetime

    # Each job is done about 0.6 s after it starts. A waiter that hears no news looks every
    # 0.5 s at most, so three answers each within 0.15 s of the end are the worker's word.
    first, second, settings = redis_instances(**slow_upstream(upstream, 0.6))
    start_job_worker(processes, tmp_path / "worker", **settings)
    for number in range(3):
        job_id = post_json(f"{first}/jobs", {"prompt": f"a lighthouse {number}"})[2]["id"]
        until(lambda: job_in(second, job_id, "running"), seconds=20)
        status, _, done = get(f"{second}/jobs/{job_id}?wait=10&after=running")
        heard_at = time.time()
        assert (status, done["status"]) == (200, "done")
        finished_at = datetime.fromisoformat(done["finished_at"].replace("Z", "+00:00")).timestamp()
        assert heard_at - finished_at < 0.15


def test_rq_a_clients_ended_jobs_free_their_places_on_every_instance(redis_instances, tmp_path,
                                                                      processes):
    first, second, settings = redis_instances(ARTPROXY_MAX_JOBS_PER_CLIENT="2")
    mine = [post_json(f"{base}/jobs", {"prompt": base})[2]["id"] for base in (first, second)]
    status, _, body = post_json(f"{second}/jobs", {"prompt": "third"})
    assert (status, body["code"]) == (429, "rate_limited")  # two queued, counted everywhere
    start_job_worker(processes, tmp_path / "worker", **settings)
    for job_id in mine:
        assert until(lambda: job_in(first, job_id, "done", "failed"))["status"] == "done"
    # The worker took them out of the count as they ended: no one had to read them for it.
    assert [post_json(f"{base}/jobs", {"prompt": "again"})[0] for base in (second, first)] == [202] * 2
