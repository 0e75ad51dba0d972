"""POST /jobs and GET /jobs/<id> through the app: input, keys, limits, ?wait and the answer's shape.
The real server's processes and RQ are in tests/jobs/test_jobs_served.py."""

from __future__ import annotations

import sqlite3
import time

import pytest

from testing.fake_upstream import Answer

IMAGE_FIELDS = {"url", "delete_token", "expires_at", "expires_in", "mime", "provider", "width",
                "height"}


@pytest.fixture
def jobs_app(make_app):
    def build(**settings):
        return make_app(**{"PROVIDER": ("offline",), **settings})

    return build


def finished(client, status_url: str, headers: dict | None = None) -> dict:
    give_up = time.monotonic() + 20
    while time.monotonic() < give_up:
        body = client.get(f"{status_url}?wait=5", headers=headers).get_json()
        if body["status"] in ("done", "failed"):
            return body
    raise AssertionError("the job did not end")


def job_rows(tmp_path) -> int:
    """Jobs recorded in the instance's job file (none if the file or its table is not made)."""
    rows = 0
    for job_file in (tmp_path / "state").glob("jobs-*.sqlite"):
        tables = sqlite3.connect(job_file).execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]
        if tables:
            rows += sqlite3.connect(job_file).execute("SELECT count(*) FROM jobs").fetchone()[0]
    return rows


def test_a_job_makes_what_image_makes(jobs_app):
    client = jobs_app().test_client()
    created = client.post("/jobs", json={"prompt": "a harbour at dawn", "aspect": "16:9",
                                         "style": "anime", "seed": 7})
    assert created.status_code == 202
    body = created.get_json()
    assert body["status"] == "queued" and body["position"] == 1
    assert len(body["id"]) == 32 and int(body["id"], 16) >= 0  # 128 random bits, in hex
    assert body["status_url"] == f"/jobs/{body['id']}" == created.headers["Location"]
    assert created.headers["Cache-Control"] == "no-store"
    done = finished(client, body["status_url"])
    assert done["status"] == "done" and done["error"] is None and done["position"] is None
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    assert set(done["result"]) == IMAGE_FIELDS == set(client.get("/image?p=x").get_json())
    assert (done["result"]["width"], done["result"]["height"]) == (1024, 576)
    image = client.get(done["result"]["url"])
    assert image.status_code == 200 and image.mimetype == "image/png"
    deleted = client.delete(done["result"]["url"],
                            headers={"X-Delete-Token": done["result"]["delete_token"]})
    assert deleted.status_code == 204


@pytest.mark.parametrize("body, code", [
    ({"aspect": "16:9"}, "invalid_prompt"),
    ({"prompt": "   "}, "invalid_prompt"),
    ({"prompt": 42}, "invalid_prompt"),
    ({"prompt": "x" * 1001}, "invalid_prompt"),
    ({"prompt": "x", "aspect": "7:1"}, "invalid_aspect"),
    ({"prompt": "x", "size": "10x10"}, "invalid_size"),
    ({"prompt": "x", "seed": [1]}, "invalid_seed"),
    ({"prompt": "x", "seed": -1}, "invalid_seed"),
    ({"prompt": "x", "transparent": True, "format": "jpeg"}, "transparent_format"),
    ({"prompt": "x", "provider": "elsewhere"}, "unknown_provider"),
    ({"prompt": "x", "colour": "red"}, "bad_input"),
    (["x"], "bad_input"),
])
def test_invalid_input_is_400_and_creates_nothing(jobs_app, tmp_path, body, code):
    response = jobs_app().test_client().post("/jobs", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == code
    assert job_rows(tmp_path) == 0


def test_a_body_that_is_not_json_is_400(jobs_app):
    response = jobs_app().test_client().post("/jobs", data="prompt=x")
    assert (response.status_code, response.get_json()["code"]) == (400, "bad_input")


def test_json_options_are_read_as_image_reads_them(jobs_app):
    client = jobs_app().test_client()
    body = client.post("/jobs", json={"prompt": "x", "transparent": True, "format": "webp",
                                      "size": "300x200", "seed": 12}).get_json()
    done = finished(client, body["status_url"])
    assert done["result"]["mime"] == "image/webp"
    assert (done["result"]["width"], done["result"]["height"]) == (300, 200)


def test_an_upstream_failure_ends_the_job_failed_with_images_status(make_app, upstream):
    upstream.will_answer(Answer(status=500, body=b"down"), Answer(status=500, body=b"down"))
    client = make_app().test_client()
    body = client.post("/jobs", json={"prompt": "x"}).get_json()
    failed = finished(client, body["status_url"])
    assert failed["status"] == "failed" and failed["result"] is None
    assert failed["error"]["status"] == 502 and failed["error"]["message"]


def test_creating_needs_a_key_and_reading_does_not(jobs_app):
    client = jobs_app(PREMIUM_KEYS=("k",)).test_client()
    refused = client.post("/jobs", json={"prompt": "x"})
    assert (refused.status_code, refused.get_json()["code"]) == (401, "unauthorized")
    body = client.post("/jobs", json={"prompt": "x"}, headers={"X-API-Key": "k"}).get_json()
    assert finished(client, body["status_url"])["status"] == "done"


def test_creating_counts_against_the_rate_limit_and_polling_does_not(jobs_app):
    client = jobs_app(RATE_LIMIT="2/minute").test_client()
    first = client.post("/jobs", json={"prompt": "x"}).get_json()
    assert client.post("/jobs", json={"prompt": "y"}).status_code == 202
    for _ in range(20):
        assert client.get(first["status_url"]).status_code == 200
    refused = client.post("/jobs", json={"prompt": "z"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert client.get("/image?p=z").status_code == 429  # one budget with /image


def test_jobs_and_image_share_a_keys_quota(jobs_app):
    client = jobs_app(PREMIUM_KEYS=("k",), KEY_QUOTA="2/day").test_client()
    key = {"Authorization": "Bearer k"}
    assert client.post("/jobs", json={"prompt": "x"}, headers=key).status_code == 202
    assert client.get("/image?p=x", headers=key).status_code == 200
    refused = client.post("/jobs", json={"prompt": "x"}, headers=key)
    assert (refused.status_code, refused.get_json()["code"]) == (429, "rate_limited")
    assert client.get("/quota", headers=key).get_json()["remaining"] == 0


def test_wait_holds_until_the_status_changes(make_app, upstream):
    upstream.default_answer = Answer(delay=1.0)
    client = make_app().test_client()
    body = client.post("/jobs", json={"prompt": "x"}).get_json()
    # Plain polls until it runs: a wait that arrived just after the start would rightly hold
    # until the end (test_after_... covers the step from queued).
    give_up = time.monotonic() + 5
    while client.get(body["status_url"]).get_json()["status"] != "running":
        assert time.monotonic() < give_up
        time.sleep(0.01)
    started = time.monotonic()
    assert client.get(f"{body['status_url']}?wait=10").get_json()["status"] == "done"
    assert 0.3 < time.monotonic() - started < 5  # held until the upstream answered
    started = time.monotonic()
    assert client.get(f"{body['status_url']}?wait=10").get_json()["status"] == "done"
    assert time.monotonic() - started < 1  # an ended job changes no more: no wait


def test_after_names_what_the_caller_saw_so_no_change_is_missed(make_app, upstream):
    upstream.default_answer = Answer(delay=1.0)
    client = make_app().test_client()
    body = client.post("/jobs", json={"prompt": "x"}).get_json()
    running = client.get(f"{body['status_url']}?wait=10&after=queued").get_json()
    assert running["status"] == "running"
    started = time.monotonic()
    # The caller saw "queued" last: the job has moved on since, so the answer comes at once.
    assert client.get(f"{body['status_url']}?wait=10&after=queued").get_json()["status"] == "running"
    assert time.monotonic() - started < 0.5
    assert client.get(f"{body['status_url']}?wait=10&after=running").get_json()["status"] == "done"
    bad = client.get(f"{body['status_url']}?wait=1&after=finished")
    assert (bad.status_code, bad.get_json()["code"]) == (400, "invalid_after")


@pytest.mark.parametrize("wait", ["-1", "31", "soon", "nan"])
def test_a_bad_wait_is_400(jobs_app, wait):
    client = jobs_app().test_client()
    body = client.post("/jobs", json={"prompt": "x"}).get_json()
    response = client.get(f"{body['status_url']}?wait={wait}")
    assert (response.status_code, response.get_json()["code"]) == (400, "invalid_wait")


def test_an_unknown_job_is_a_json_404(jobs_app):
    client = jobs_app().test_client()
    for job_id in ("0" * 32, "nope"):
        response = client.get(f"/jobs/{job_id}")
        assert (response.status_code, response.get_json()["code"]) == (404, "job_not_found")
