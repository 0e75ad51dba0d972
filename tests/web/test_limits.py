"""Rate limits: one budget per client for the whole instance, headers that say the right thing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from testing.fake_upstream import Answer
from tests.real_server import get, serve
from web import limits


def test_the_limit_holds_across_the_worker_processes_of_one_instance(image_dir, processes):
    # Each gunicorn worker used to count alone: 4/minute let 8 of 12 calls through on 2 workers.
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_RATE_LIMIT="4/minute")
    answers: list = []
    # Waves of calls at once until both workers have answered some (a request id starts with
    # its process's own tag; the second may still be starting): then the counter, not one
    # worker, did the refusing.
    give_up = time.monotonic() + 30
    while len(answers) < 12 or len({headers["X-Request-ID"][:16] for _, headers, _ in answers}) < 2:
        assert time.monotonic() < give_up, "one worker took every call"
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers += pool.map(lambda i: get(f"{base_url}/generate?p=call{i}"), range(12))
        time.sleep(0.1)
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] * 4 + [429] * (len(answers) - 4)
    for status, headers, body in answers:
        if status == 429:
            assert body["code"] == "rate_limited"
            assert 1 <= int(headers["Retry-After"]) <= 60
        else:
            assert "Retry-After" not in headers


def test_answers_that_are_not_429_or_503_carry_no_retry_after(make_app):
    client = make_app(RATE_LIMIT="5/minute").test_client()
    for path in ("/generate?p=x", "/image?p=x", "/", "/nope"):
        assert "Retry-After" not in client.get(path).headers


def test_the_upstreams_retry_after_survives_a_rate_limit(make_app, upstream):
    client = make_app(RATE_LIMIT="5/minute").test_client()
    upstream.will_answer(Answer(status=429, headers={"Retry-After": "17"}))
    response = client.get("/generate?p=x")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "17"
    assert response.headers["X-RateLimit-Remaining"] == "4"


def test_a_storage_outage_keeps_its_own_retry_after(make_redis_app, redis_server):
    client = make_redis_app(RATE_LIMIT="5/minute").test_client()
    redis_server.stop()
    response = client.get("/image?p=x")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_429_says_when_the_window_ends(make_app):
    client = make_app(RATE_LIMIT="1/hour").test_client()
    assert client.get("/generate?p=x").status_code == 200
    refused = client.get("/generate?p=x")
    assert refused.status_code == 429
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_a_view_that_declares_no_budget_stops_startup():
    app = Flask(__name__)
    app.add_url_rule("/forgotten", "forgotten", lambda: "")
    with pytest.raises(RuntimeError, match="forgotten.*declares no rate limit"):
        limits.declared_budgets(app)


def test_every_route_of_the_app_declares_its_budget(app):
    budgets = limits.declared_budgets(app)
    assert budgets == {"health.alive": None, "health.readiness": None,
                       "classic.generate": "generating", "classic.image": "generating",
                       "classic.styles": None, "images.stored_image": None,
                       "v1.generations": "generating", "v1.edits": "generating",
                       "v1.variations": "generating", "v1.list_models": None,
                       "v1.retrieve_model": None, "classic.quota": None,
                       "images.delete_image": None, "admin.list_images": None,
                       "admin.delete_all_images": None, "admin.delete_image": None,
                       "admin.list_accounts": None, "admin.grant_credits": None,
                       "jobs.create_job": "generating", "jobs.job_status": None,
                       "classic.image_options": None, "page.app_page": None,
                       "observability.metrics_page": None,
                       "contract.openapi_document": None, "contract.docs_page": None,
                       "prompt_urls.prompt_image": "when drawn"}


def test_a_stalled_redis_never_turns_generate_into_a_500(image_dir, processes, redis_server):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_STORAGE="redis",
                     ARTPROXY_REDIS_URL=redis_server.url, ARTPROXY_RATE_LIMIT="100000/minute")
    statuses: list[int] = []
    stop = time.monotonic() + 6

    def keep_calling(client_number: int) -> None:
        while time.monotonic() < stop:
            statuses.append(get(f"{base_url}/generate?p=c{client_number}", timeout=15)[0])

    with ThreadPoolExecutor(max_workers=12) as pool:
        callers = [pool.submit(keep_calling, n) for n in range(12)]
        time.sleep(1)
        redis_server.pause()  # like a stalled host: connections stay open, nothing answers
        time.sleep(3.5)
        redis_server.resume()
        for caller in callers:
            caller.result()
    assert len(statuses) > 100
    assert set(statuses) == {200}, {status: statuses.count(status) for status in set(statuses)}
