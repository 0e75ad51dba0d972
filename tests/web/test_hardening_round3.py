"""Issue 19, the third hardening round: what an attacker, a broken disk and a newcomer found on
the newer surfaces (jobs, /v1, admin, metrics, the page), each through the real server."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from testing import free_port
from testing.fake_upstream import Answer, FakeUpstream
from tests.real_server import COMMANDS, PROJECT_DIR, call, environment, get, post_json, serve


@pytest.fixture
def server(image_dir, processes) -> str:
    return serve(processes, image_dir, workers=2)


def error_code(body: bytes) -> str:
    answer = json.loads(body)
    error = answer["error"]
    return error["code"] if isinstance(error, dict) else answer["code"]


# 3. TLS errors and text that cannot be encoded


def test_a_tls_failure_is_the_upstreams_502_and_the_next_provider_draws(upstream, image_dir,
                                                                        processes):
    # An https URL answered by a plain-HTTP port: ssl.SSLError, whose reason is a str.
    tls_url = upstream.url.replace("http://", "https://")
    alone = serve(processes, image_dir, ARTPROXY_PROVIDER="magicstudio",
                  ARTPROXY_MAGICSTUDIO_URL=tls_url)
    status, _, body = get(alone + "/generate?p=fox")
    assert (status, body["code"]) == (502, "upstream_unreachable")
    with_fallback = serve(processes, image_dir.parent / "second", ARTPROXY_PROVIDER="magicstudio,offline",
                          ARTPROXY_MAGICSTUDIO_URL=tls_url,
                          ARTPROXY_STATE_DIR=str(image_dir.parent / "second-state"))
    status, _, body = get(with_fallback + "/generate?p=fox")
    assert (status, body["provider"]) == (200, "offline")
    health = get(with_fallback + "/healthz")[2]
    assert health["providers"]["magicstudio"]["failures_in_a_row"] == 1  # the breaker saw it


@pytest.mark.parametrize("path, extra", [("/v1/images/generations", {}), ("/jobs", {})])
def test_a_prompt_with_a_lone_surrogate_is_400(server, path, extra):
    body = b'{"prompt": "a\\ud800b"}'
    status, _, answer = call("POST", server + path, {"Content-Type": "application/json"}, body)
    assert (status, error_code(answer)) == (400, "invalid_prompt")


# 4. /metrics: labels from fixed sets, and a key


def scrape_until(server: str, counted, seconds: float = 10) -> str:
    """/metrics once ``counted(text)`` holds: each worker writes its counts every half second."""
    give_up = time.monotonic() + seconds
    while True:
        text = call("GET", server + "/metrics")[2].decode()
        if counted(text) or time.monotonic() > give_up:
            return text
        time.sleep(0.2)


def other_methods(text: str) -> float:
    return sum(float(value) for value in re.findall(
        r'artproxy_http_requests_total\{[^}]*method="OTHER"[^}]*\} ([0-9.e+]+)', text))


def test_made_up_methods_are_counted_as_other_not_as_new_series(server):
    for number in range(40):
        call(f"ZZMETHOD{chr(65 + number % 26)}{number}", server + "/")
    text = scrape_until(server, lambda text: other_methods(text) >= 40)
    assert other_methods(text) == 40
    methods = set(re.findall(r'artproxy_http_requests_total\{[^}]*method="([^"]+)"', text))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE",
                       "CONNECT", "OTHER"}


def test_a_405_is_counted_under_its_route(server):
    assert call("POST", server + "/generate?p=x")[0] == 405
    counted = re.compile(r'artproxy_http_requests_total\{method="POST",route="/generate",'
                         r'status="405"\} 1\.0')
    assert counted.search(scrape_until(server, counted.search))


def test_the_metrics_key_is_asked_for(image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_METRICS_KEY="scrape-me")
    assert call("GET", base_url + "/metrics")[0] == 401
    assert call("GET", base_url + "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
    status, _, text = call("GET", base_url + "/metrics", {"Authorization": "Bearer scrape-me"})
    assert status == 200 and b"artproxy_jobs{" in text  # the gauges, whichever worker answers


# 5. JSON bodies have a small limit of their own


@pytest.mark.parametrize("chunked", [False, True], ids=["with length", "chunked"])
def test_a_json_body_over_a_mebibyte_is_413(server, chunked):
    body = json.dumps({"prompt": "x", "padding": "y" * 2**21}).encode()
    if chunked:
        pieces = [body[start:start + 65536] for start in range(0, len(body), 65536)]
        status, _, answer = call("POST", server + "/jobs", {"Content-Type": "application/json",
                                                            "Transfer-Encoding": "chunked"},
                                 iter(pieces), chunked=True)
    else:
        status, _, answer = call("POST", server + "/jobs", {"Content-Type": "application/json"},
                                 body)
    assert (status, error_code(answer)) == (413, "request_entity_too_large")


def test_a_malformed_chunked_body_is_the_callers_400(server):
    status, _, answer = call("POST", server + "/jobs", {"Content-Type": "application/json",
                                                        "Transfer-Encoding": "chunked"},
                             b"this is no chunk size\r\n" * 500)
    assert (status, error_code(answer)) == (400, "bad_request")


# 6. numbers that are not ASCII digits, infinity, and JSON nested too deeply


@pytest.mark.parametrize("query", ["size=%C2%B2x64", "seed=%C2%B2", "size=64x%D9%A6%D9%A4"])
def test_digits_that_are_not_ascii_are_400(server, query):
    status, _, body = get(f"{server}/generate?p=x&{query}")
    assert status == 400 and body["code"] in ("invalid_size", "invalid_seed")


def test_an_infinite_n_is_400(server):
    status, _, answer = call("POST", server + "/v1/images/generations",
                             {"Content-Type": "application/json"}, b'{"prompt": "x", "n": 1e400}')
    assert (status, error_code(answer)) == (400, "invalid_n")


@pytest.mark.parametrize("path", ["/jobs", "/v1/images/generations"])
def test_json_nested_too_deeply_is_400(server, path):
    body = b"[" * 100_000 + b"]" * 100_000
    status, _, answer = call("POST", server + path, {"Content-Type": "application/json"}, body)
    assert (status, error_code(answer)) == (400, "bad_input")
    assert get(server + "/")[0] == 200


# 2. Only the upstream's ill health opens its breaker, and the breaker is the upstream's


def test_prompts_the_upstream_refuses_never_rest_it(upstream, image_dir, processes):
    upstream.default_answer = Answer(status=422, body=b'{"detail": "not this prompt"}',
                                     headers={"Content-Type": "application/json"})
    base_url = serve(processes, image_dir, ARTPROXY_PROVIDER="magicstudio",
                     ARTPROXY_MAGICSTUDIO_URL=upstream.url, ARTPROXY_PROVIDER_FAILURES="3")
    for number in range(6):
        status, _, body = get(f"{base_url}/generate?p=forbidden+{number}")
        assert (status, body["code"]) == (502, "upstream_rejected")
    upstream.default_answer = Answer()
    assert get(base_url + "/generate?p=fine")[0] == 200  # nobody else was turned away
    state = get(base_url + "/healthz")[2]["providers"]["magicstudio"]
    assert state == {"state": "closed", "failures_in_a_row": 0}


def test_a_breaker_belongs_to_the_upstreams_address_not_the_providers_name(
        upstream, image_dir, processes):
    state = str(image_dir.parent / "shared-state")  # two instances, one state folder
    upstream.default_answer = Answer(status=500)
    with FakeUpstream() as healthy:
        broken_url, healthy_url = upstream.url, healthy.url
        failing = serve(processes, image_dir, ARTPROXY_PROVIDER="magicstudio",
                        ARTPROXY_MAGICSTUDIO_URL=broken_url, ARTPROXY_STATE_DIR=state)
        for _ in range(3):
            assert get(failing + "/generate?p=x")[0] == 502
        assert get(failing + "/generate?p=x")[2]["code"] == "upstream_resting"
        # Another instance on the same folder, calling another upstream, is not resting.
        other = serve(processes, image_dir.parent / "other", ARTPROXY_PROVIDER="magicstudio",
                      ARTPROXY_MAGICSTUDIO_URL=healthy_url, ARTPROXY_STATE_DIR=state)
        assert get(other + "/generate?p=x")[0] == 200
        assert get(other + "/healthz")[2]["providers"]["magicstudio"]["state"] == "closed"
        # The first instance restarted with its URL corrected starts afresh.
        processes[0].terminate()
        processes[0].wait(timeout=30)
        corrected = serve(processes, image_dir, ARTPROXY_PROVIDER="magicstudio",
                          ARTPROXY_MAGICSTUDIO_URL=healthy_url, ARTPROXY_STATE_DIR=state)
        assert get(corrected + "/generate?p=x")[0] == 200


# 1. An edit costs what a generation of its size costs, and the worker answers meanwhile


def test_a_huge_edit_is_drawn_within_2048_and_the_worker_answers_others_meanwhile(
        image_dir, processes):
    base_url = serve(processes, image_dir, workers=1)  # one worker: GET / shares it
    picture = Image.new("RGBA", (4096, 4096), (30, 120, 200, 255))
    picture.paste((0, 0, 0, 0), (1000, 1000, 3000, 3000))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    body, content_type = multipart(image=("big.png", buffer.getvalue()), prompt="a red sun",
                                   n="4", background="transparent")
    answered: dict = {}

    def edit() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", int(base_url.rsplit(":", 1)[1]),
                                                timeout=300)
        connection.request("POST", "/v1/images/edits", body, {"Content-Type": content_type})
        response = connection.getresponse()
        answered.update(status=response.status, body=json.loads(response.read()))

    editing = threading.Thread(target=edit)
    editing.start()
    waits = []
    while editing.is_alive():
        started = time.monotonic()
        assert get(base_url + "/", timeout=60)[0] == 200
        waits.append(time.monotonic() - started)
        time.sleep(0.05)
    assert answered["status"] == 200 and answered["body"]["size"] == "2048x2048"
    assert len(answered["body"]["data"]) == 4
    assert len(waits) >= 3 and max(waits) < 1.5, waits  # it waited the whole edit before


def multipart(**fields) -> tuple[bytes, str]:
    boundary = "artproxy-test-boundary"
    parts = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, data = value
            head = (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n")
        else:
            head, data = f'Content-Disposition: form-data; name="{name}"\r\n', value.encode()
        parts.append(f"--{boundary}\r\n{head}\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


# 8. Wrong keys are limited per client, on every keyed route


def test_wrong_keys_are_limited_per_client_on_every_keyed_route(image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_PREMIUM_KEYS="premium",
                     ARTPROXY_ADMIN_KEYS="boss", ARTPROXY_METRICS_KEY="scrape",
                     ARTPROXY_AUTH_FAILURE_LIMIT="12/minute", ARTPROXY_TRUSTED_PROXIES="1")
    guesser = {"X-Forwarded-For": "203.0.113.7"}
    routes = [("GET", "/admin/images"), ("GET", "/quota"), ("GET", "/v1/models"),
              ("GET", "/metrics")]
    for number in range(12):  # spread over both workers and four routes: one budget
        method, path = routes[number % 4]
        status = call(method, base_url + path, {**guesser, "Authorization": f"Bearer no{number}"})[0]
        assert status == 401
    status, headers, body = call("GET", base_url + "/admin/images",
                                 {**guesser, "Authorization": "Bearer boss"})
    assert (status, error_code(body)) == (429, "rate_limited")  # even the right key now
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert call("GET", base_url + "/v1/models", {**guesser, "Authorization": "Bearer x"})[0] == 429
    # Another client is not affected, and asking without a key is no guess.
    other = {"X-Forwarded-For": "198.51.100.2"}
    assert call("GET", base_url + "/admin/images", {**other, "Authorization": "Bearer boss"})[0] == 200
    assert call("GET", base_url + "/quota", other)[0] == 401
    for _ in range(15):
        assert call("GET", base_url + "/quota", other)[0] == 401
    assert call("GET", base_url + "/quota", {**other, "Authorization": "Bearer premium"})[0] == 200


# 7. One client cannot fill the job queue


def test_one_client_has_at_most_its_share_of_jobs(image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_RUN_JOBS="false",
                     ARTPROXY_MAX_JOBS_PER_CLIENT="3", ARTPROXY_TRUSTED_PROXIES="1")
    greedy, other = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.4"}
    created = [post_json(f"{base_url}/jobs", {"prompt": f"fox {number}"}, greedy)
               for number in range(3)]
    assert [status for status, _, _ in created] == [202] * 3
    status, headers, body = post_json(f"{base_url}/jobs", {"prompt": "one more"}, greedy)
    assert (status, body["code"]) == (429, "rate_limited") and int(headers["Retry-After"]) > 0
    assert post_json(f"{base_url}/jobs", {"prompt": "mine"}, other)[0] == 202


def test_one_client_has_at_most_its_share_of_rq_jobs(image_dir, processes, redis_server):
    base_url = serve(processes, image_dir, ARTPROXY_STORAGE="redis",
                     ARTPROXY_REDIS_URL=redis_server.url, ARTPROXY_MAX_JOBS_PER_CLIENT="2",
                     ARTPROXY_TRUSTED_PROXIES="1")  # no worker runs: the jobs stay queued
    greedy = {"X-Forwarded-For": "203.0.113.9"}
    assert [post_json(f"{base_url}/jobs", {"prompt": f"fox {n}"}, greedy)[0]
            for n in range(3)] == [202, 202, 429]
    assert post_json(f"{base_url}/jobs", {"prompt": "mine"},
                     {"X-Forwarded-For": "198.51.100.4"})[0] == 202


def test_a_full_queue_is_said_once_not_per_refusal(image_dir, processes):
    base_url = serve(processes, image_dir, workers=1, ARTPROXY_RUN_JOBS="false",
                     ARTPROXY_MAX_QUEUED_JOBS="2", ARTPROXY_TRUSTED_PROXIES="1")
    statuses = [post_json(f"{base_url}/jobs", {"prompt": "x"},
                          {"X-Forwarded-For": f"192.0.2.{number}"})[0] for number in range(12)]
    assert statuses == [202, 202] + [503] * 10
    assert processes.server_log(base_url).count("queue_full") == 1


# 9. A state folder that cannot be written, is corrupted, or is changed under the server


def test_a_state_folder_that_cannot_be_made_is_one_line_and_exit_2(image_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = environment(image_dir, free_port(), ARTPROXY_STATE_DIR=str(blocker / "state"))
    result = subprocess.run(COMMANDS["python main.py"], cwd=PROJECT_DIR, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("artproxy: ARTPROXY_STATE_DIR=")
    assert "cannot be written" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_corrupted_state_files_are_moved_aside_and_made_afresh(image_dir, processes, tmp_path):
    state = tmp_path / "state"
    base_url = serve(processes, image_dir, ARTPROXY_STATE_DIR=str(state))
    assert post_json(f"{base_url}/jobs", {"prompt": "x"})[0] == 202
    stop(processes)
    job_file, = state.glob("jobs-*.sqlite")
    for damaged in (job_file, state / "limits.sqlite"):
        for journal in state.glob(f"{damaged.name}-*"):
            journal.unlink()  # else SQLite reads the newest pages from the WAL, not the file
        damaged.write_bytes(b"this is no database " * 200)
    base_url = serve(processes, image_dir, ARTPROXY_STATE_DIR=str(state),
                     ARTPROXY_RATE_LIMIT="100/minute")
    status, _, created = post_json(f"{base_url}/jobs", {"prompt": "again"})
    assert status == 202
    assert get(f"{base_url}{created['status_url']}?wait=20")[2]["status"] in ("running", "done")
    assert get(base_url + "/generate?p=limited")[0] == 200
    aside = sorted(path.name for path in state.glob("*.corrupt-*"))
    assert [name.split(".corrupt-")[0] for name in aside] == sorted([job_file.name,
                                                                     "limits.sqlite"])
    assert f"{job_file.name} was moved aside" in processes.server_log(base_url)


def test_a_job_file_deleted_while_running_is_one_file_again_for_every_worker(image_dir,
                                                                             processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_RUN_JOBS="false")
    assert post_json(f"{base_url}/jobs", {"prompt": "before"})[0] == 202
    state = image_dir.parent / "state"
    deleted = list(state.glob("jobs*.sqlite*"))
    assert deleted
    for path in deleted:
        path.unlink()
    created = [post_json(f"{base_url}/jobs", {"prompt": f"after {n}"})[2] for n in range(4)]
    # Every worker finds every job made after the file went: they all moved to one new file.
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda body: get(base_url + body["status_url"])[0],
                                 created * 10))
    assert statuses == [200] * 40


def test_healthz_is_503_while_the_state_folder_cannot_be_written_and_says_so_once(
        image_dir, processes, tmp_path):
    state = tmp_path / "state"
    base_url = serve(processes, image_dir, workers=1, ARTPROXY_STATE_DIR=str(state))
    assert get(base_url + "/healthz")[0] == 200
    moved = tmp_path / "state-moved"
    state.rename(moved)
    state.write_text("a file where the folder was")  # no folder can be made there now
    time.sleep(1.5)  # a job runner polls five times a second meanwhile
    status, _, body = get(base_url + "/healthz")
    assert (status, body["state"]["writable"]) == (503, False)
    assert post_json(f"{base_url}/jobs", {"prompt": "x"})[0] == 503
    time.sleep(1.5)
    assert processes.server_log(base_url).count("could not take a job") == 1
    state.unlink()
    moved.rename(state)
    assert get(base_url + "/healthz")[0] == 200


def stop(processes: list) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


# 10. Two instances with other settings on one state folder keep their jobs apart


def test_instances_on_one_state_folder_never_run_each_others_jobs(image_dir, processes,
                                                                   tmp_path):
    from tests.jobs.test_jobs_served import start_job_worker

    state = str(tmp_path / "shared-state")
    first = serve(processes, image_dir, ARTPROXY_STATE_DIR=state, ARTPROXY_RUN_JOBS="false")
    serve(processes, tmp_path / "other-images", ARTPROXY_STATE_DIR=state)  # runs jobs
    status, _, created = post_json(f"{first}/jobs", {"prompt": "mine"})
    assert status == 202
    time.sleep(1.5)  # the other instance's runners poll five times a second
    assert get(first + created["status_url"])[2]["status"] == "queued"
    # `python main.py worker` with the first instance's settings is one of its own.
    start_job_worker(processes, image_dir, ARTPROXY_STATE_DIR=state)
    done = get(f"{first}{created['status_url']}?wait=30")[2]
    if done["status"] != "done":
        done = get(f"{first}{created['status_url']}?wait=30")[2]
    assert done["status"] == "done"
    assert call("GET", first + done["result"]["url"])[0] == 200


# 11-16. What a newcomer tripped on


@pytest.mark.parametrize("path", ["/app", "/docs", "/static/app.html", "/static/docs.html"])
def test_every_page_carries_its_policy_whatever_its_path(server, path):
    status, headers, _ = call("GET", server + path)
    assert status == 200
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"


def test_a_host_header_does_not_make_a_strangers_origin_ours(image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_RUN_JOBS="false")
    port = base_url.rsplit(":", 1)[1]
    rebound = {"Origin": "http://evil.example", "Host": "evil.example",
               "Content-Type": "application/json"}
    status, _, body = call("POST", base_url + "/jobs", rebound, b'{"prompt": "x"}')
    assert (status, error_code(body)) == (403, "origin_not_allowed")
    ours = {"Origin": f"http://127.0.0.1:{port}", "Content-Type": "application/json"}
    assert call("POST", base_url + "/jobs", ours, b'{"prompt": "x"}')[0] == 202
    named = serve(processes, image_dir.parent / "named", ARTPROXY_RUN_JOBS="false",
                  ARTPROXY_PUBLIC_URL="https://art.example")
    configured = {"Origin": "https://art.example", "Host": "art.example",
                  "Content-Type": "application/json"}
    assert call("POST", named + "/jobs", configured, b'{"prompt": "x"}')[0] == 202


def test_healthz_counts_only_rq_workers_that_are_alive(image_dir, processes, redis_server):
    from tests.jobs.test_jobs_served import start_job_worker

    settings = {"ARTPROXY_STORAGE": "redis", "ARTPROXY_REDIS_URL": redis_server.url}
    base_url = serve(processes, image_dir, **settings)
    worker = start_job_worker(processes, image_dir, ARTPROXY_JOB_CONCURRENCY="3", **settings)
    give_up = time.monotonic() + 30
    while get(base_url + "/healthz")[2]["jobs"]["workers"] < 3:
        assert time.monotonic() < give_up, "the workers did not start"
        time.sleep(0.2)
    os.killpg(worker.pid, signal.SIGKILL)  # the supervisor and its three workers
    worker.wait()
    time.sleep(0.5)
    assert get(base_url + "/healthz")[2]["jobs"]["workers"] == 0


def test_no_answer_without_a_body_says_it_has_a_type(server):
    stored = get(server + "/image?p=x")[2]
    status, headers, _ = call("DELETE", server + stored["url"],
                              {"X-Delete-Token": stored["delete_token"]})
    assert status == 204 and "Content-Type" not in headers


def test_a_job_sent_without_its_content_type_is_told_which_header(server):
    status, _, body = call("POST", server + "/jobs", {}, b'{"prompt": "x"}')
    assert status == 400 and "Content-Type: application/json" in json.loads(body)["error"]


def test_a_port_in_use_is_one_line_and_exit_2(server, image_dir):
    port = int(server.rsplit(":", 1)[1])
    result = subprocess.run(COMMANDS["python main.py"], cwd=PROJECT_DIR,
                            env=environment(image_dir, port), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"artproxy: cannot listen on 127.0.0.1:{port}: "
                                     "Address already in use")


def test_the_offline_painter_gives_a_cut_out_something_to_cut(server):
    transparent = get(server + "/generate?p=lighthouse&transparent=true")[2]
    alpha = Image.open(io.BytesIO(base64.b64decode(transparent["img"]))).getchannel("A")
    corner, middle = alpha.getpixel((2, 2)), alpha.getpixel((alpha.width // 2, alpha.height // 2))
    assert (corner, middle) == (0, 255)
    histogram = alpha.histogram()
    assert 0.1 < histogram[0] / (alpha.width * alpha.height) < 0.6  # a subject, cut out


def test_an_edit_schema_takes_what_the_server_takes(server):
    document = get(server + "/openapi.json")[2]
    body = document["paths"]["/v1/images/edits"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["encoding"]["image"]["contentType"] == \
        "image/png, image/jpeg, image/webp"


def test_prompts_stay_out_of_the_log_when_an_upstream_is_unreachable(image_dir, processes):
    closed = f"http://127.0.0.1:{free_port()}/prompt"  # Pollinations puts the prompt in its path
    base_url = serve(processes, image_dir, ARTPROXY_PROVIDER="pollinations",
                     ARTPROXY_POLLINATIONS_URL=closed)
    status, _, body = get(base_url + "/generate?p=my+secret+birthday+surprise")
    assert (status, body["code"]) == (502, "upstream_unreachable")
    log = processes.server_log(base_url)
    assert "upstream_unreachable" in log and "Connection refused" in log
    assert "secret" not in log and "birthday" not in log
