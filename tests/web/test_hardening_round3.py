"""Issue 19, the third hardening round: what an attacker, a broken disk and a newcomer found on
the newer surfaces (jobs, /v1, admin, metrics, the page), each through the real server."""

from __future__ import annotations

import http.client
import io
import json
import re
import threading
import time

import pytest
from PIL import Image

from testing.fake_upstream import Answer, FakeUpstream
from tests.real_server import call, get, serve


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
    assert status == 200 and b"artproxy_http_requests_total" in text


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
