"""Metrics, request ids and JSON logs: through the app, and with the real server's workers."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from urllib.parse import urlsplit

import pytest

from metrics import FLUSH_SECONDS, PrometheusMetrics
from testing.fake_upstream import Answer
from tests.helpers import error_of
from tests.real_server import call, get, serve, stop_all

SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(name, {label=value, ...}): value} of a Prometheus text exposition."""
    found = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
            found[(match["name"], labels)] = float(match["value"])
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def scrape(base_url: str) -> dict:
    status, _, body = call("GET", base_url + "/metrics")
    assert status == 200
    return samples(body.decode())


def test_counts_are_for_the_whole_instance_across_its_workers(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2)
    urls = [get(f"{base_url}/image?p=harbour+{number}")[2]["url"] for number in range(5)]
    served = sum(len(call("GET", base_url + url)[2]) for url in urls)
    call("GET", base_url + urls[0].replace("/images/", "/images/x"))  # an unknown name: 404
    call("GET", base_url + "/wp-admin/" + urlsplit(urls[0]).path)  # junk
    # Each worker writes its counts at least every half second (metrics.FLUSH_SECONDS).
    give_up = time.monotonic() + 5
    while value(scrape(base_url), "artproxy_http_requests_total", route="/images/<name>",
                method="GET", status="200") < 5:
        assert time.monotonic() < give_up
        time.sleep(0.1)
    time.sleep(FLUSH_SECONDS * 2)
    for _ in range(6):  # whichever worker answers the scrape, the sums are the same
        found = scrape(base_url)
        assert value(found, "artproxy_http_requests_total", route="/image", method="GET",
                     status="200") == 5
        assert value(found, "artproxy_http_requests_total", route="/images/<name>", method="GET",
                     status="200") == 5
        assert value(found, "artproxy_http_requests_total", route="<unmatched>", method="GET",
                     status="404") == 1
        assert value(found, "artproxy_image_bytes_served_total") == served
        assert value(found, "artproxy_upstream_requests_total", provider="offline", outcome="ok") == 5
        assert value(found, "artproxy_upstream_duration_seconds_count", provider="offline") == 5
        assert value(found, "artproxy_http_request_duration_seconds_count", route="/image") == 5
        assert value(found, "artproxy_images_stored") == 5
        assert value(found, "artproxy_provider_circuit_open", provider="offline") == 0
        assert value(found, "artproxy_jobs", state="queued") == 0
    labels = {label for (_, pairs) in found for label in pairs}
    assert not any(re.search(r"[0-9a-f]{32}", label_value) for _, label_value in labels)
    assert {v for name, v in labels if name == "route"} <= {
        "/", "/image", "/images/<name>", "<unmatched>", "/metrics"}


def test_failures_and_resting_providers_are_counted(make_app, upstream):
    upstream.default_answer = Answer(status=500, body=b"down")
    client = make_app(PROVIDER_FAILURES=2).test_client()
    for _ in range(3):
        client.get("/generate?p=x")
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert value(found, "artproxy_upstream_requests_total", provider="magicstudio",
                 outcome="upstream_unreachable") == 2
    assert value(found, "artproxy_upstream_requests_total", provider="magicstudio",
                 outcome="upstream_resting") == 1
    assert value(found, "artproxy_upstream_duration_seconds_count", provider="magicstudio") == 2
    assert value(found, "artproxy_provider_circuit_open", provider="magicstudio") == 1
    assert value(found, "artproxy_http_requests_total", route="/generate", method="GET",
                 status="502") == 2


def test_jobs_are_counted_by_state(make_app):
    client = make_app(PROVIDER=("offline",), RUN_JOBS=False).test_client()
    client.post("/jobs", json={"prompt": "x"})
    client.post("/jobs", json={"prompt": "y"})
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert value(found, "artproxy_jobs", state="queued") == 2


def test_a_metrics_folder_is_removed_at_exit_or_by_the_next_start(image_dir, processes, tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    serve(processes, image_dir, workers=1, TMPDIR=str(temporary))
    killed_master = processes[-1]
    [killed_folder] = temporary.glob("artproxy-metrics-*")
    os.killpg(killed_master.pid, signal.SIGKILL)  # no chance to clean up
    killed_master.wait()
    assert killed_folder.is_dir()
    serve(processes, image_dir, workers=1, TMPDIR=str(temporary))
    [folder] = temporary.glob("artproxy-metrics-*")  # the killed master's is gone
    assert folder.name.startswith(f"artproxy-metrics-{processes[-1].pid}-")
    stop_all(processes)
    assert list(temporary.iterdir()) == []


def test_metrics_can_be_turned_off(make_app):
    client = make_app(METRICS=False).test_client()
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("sent, echoed", [
    ("trace-42", True),
    ("0af7651916cd43dd8448eb211c80319c", True),
    ("has space", False),
    ("x" * 200, False),
    ("<script>", False),
])
def test_a_safe_request_id_is_echoed_and_any_other_replaced(make_app, sent, echoed):
    client = make_app().test_client()
    response = client.get("/generate", headers={"X-Request-ID": sent})  # 400: no prompt
    request_id = response.headers["X-Request-ID"]
    assert (request_id == sent) is echoed
    assert re.fullmatch(r"[A-Za-z0-9._:@/+=-]{1,128}", request_id)
    assert response.get_json()["request_id"] == request_id


def test_every_answer_has_a_request_id_and_each_its_own(make_app):
    client = make_app(PROVIDER=("offline",)).test_client()
    url = client.get("/image?p=x").get_json()["url"]
    answers = [client.get("/"), client.get(url), client.get("/images/nope"),
               client.post("/v1/images/generations", json={})]
    ids = [answer.headers["X-Request-ID"] for answer in answers]
    assert len(set(ids)) == len(ids)
    assert error_of(answers[2])["code"] == "image_not_found"  # the fast path's 404
    assert answers[3].get_json()["request_id"] == ids[3]  # OpenAI's shape too


def test_json_logs_are_one_object_a_line_with_the_request_id(image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_LOG_FORMAT="json",
                     ARTPROXY_PROVIDER="magicstudio", ARTPROXY_MAGICSTUDIO_URL="http://127.0.0.1:9/x")
    status, _, _ = call("GET", base_url + "/generate?p=x", {"X-Request-ID": "trace-42"})
    assert status == 502
    lines = [line for line in processes.server_log(base_url).splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is JSON
    assert any(entry.get("request_id") == "trace-42" and "502 upstream_unreachable"
               in entry["message"] for entry in entries)
    assert any("Booting worker" in entry["message"] for entry in entries)  # gunicorn's own too


def test_counts_written_in_bulk_equal_counts_written_one_by_one(monkeypatch):
    from prometheus_client import generate_latest

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    bulk, one_by_one = PrometheusMetrics(), PrometheusMetrics()
    for seconds in (0.0004, 0.001, 0.003, 0.2, 0.2, 7.0, 100.0):
        bulk.http_request("/image", "GET", 200, seconds)
        one_by_one.requests.labels("/image", "GET", "200").inc()
        one_by_one.request_seconds.labels("/image").observe(seconds)
    bulk.flush()

    def lines(metrics):
        return [line for line in generate_latest(metrics.registry).decode().splitlines()
                if "_created" not in line]

    assert lines(bulk) == lines(one_by_one)
    assert 'artproxy_http_request_duration_seconds_bucket{le="0.25",route="/image"} 5.0' in lines(bulk)
