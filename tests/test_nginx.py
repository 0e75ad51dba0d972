"""deploy/nginx.conf, as the README shows it, in front of the real server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from testing import free_port
from tests.real_server import PROJECT_DIR, get, serve

WRAPPER = """
daemon off;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    include {run}/artproxy.conf;
}}
"""


@pytest.fixture
def artproxy(request, image_dir, processes) -> str:
    settings = getattr(request, "param", {})  # a test's own, by indirect parametrization
    return serve(processes, image_dir, workers=2, ARTPROXY_TRUSTED_PROXIES="1", **settings)


@pytest.fixture
def nginx(artproxy, tmp_path, processes) -> str:
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        raise RuntimeError("nginx is not installed; .ci/run installs it with apt")
    run = tmp_path / "nginx"
    run.mkdir()
    run.chmod(0o777)  # nginx's workers drop to an unprivileged user and write temp files here
    port = free_port()
    site = (PROJECT_DIR / "deploy" / "nginx.conf").read_text()
    site = site.replace("server 127.0.0.1:5000;", f"server {artproxy.removeprefix('http://')};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    (run / "artproxy.conf").write_text(site)
    (run / "nginx.conf").write_text(WRAPPER.format(run=run))
    process = subprocess.Popen([binary, "-c", str(run / "nginx.conf"), "-p", str(run)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    processes.append(process)
    give_up = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < give_up, "nginx did not start"
            time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def test_images_are_made_and_served_through_nginx(nginx):
    status, _, body = get(nginx + "/image?p=harbour")
    assert status == 200
    with urllib.request.urlopen(nginx + body["url"], timeout=10) as answer:
        assert answer.headers["Content-Type"] == "image/png"
        assert answer.read().startswith(b"\x89PNG")
    # The longest prompt in a 4-byte script fits nginx's request line and artproxy's.
    assert get(nginx + "/generate?p=" + quote("𝔸" * 1000))[0] == 200


def test_a_burst_from_one_address_is_refused_in_json_before_artproxy_works(nginx):
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda i: get(f"{nginx}/generate?p={i}"), range(30)))
    refused = [(headers, body) for status, headers, body in answers if status == 429]
    assert 10 <= len(refused) <= 19  # burst of 10 plus the rate, then refusals
    assert all(body["code"] == "rate_limited" and headers["Retry-After"] == "1"
               for headers, body in refused)


def test_jobs_and_v1_share_the_burst_limit_but_polls_do_not(nginx):
    from tests.real_server import post_json

    answers = [post_json(f"{nginx}/jobs", {"prompt": f"p{number}"}) for number in range(8)]
    answers += [post_json(f"{nginx}/v1/images/generations", {"prompt": f"q{number}"})
                for number in range(8)]
    assert {status for status, _, _ in answers} == {200, 202, 429}
    job = next(body for status, _, body in answers if status == 202)
    assert all(get(f"{nginx}/jobs/{job['id']}")[0] == 200 for _ in range(30))


@pytest.mark.parametrize("artproxy", [{"ARTPROXY_OFFLINE_DELAY": "1.2",
                                       "ARTPROXY_STREAM_KEEPALIVE": "0.3"}], indirect=True)
def test_a_v1_stream_passes_through_nginx_as_it_happens(nginx):
    from tests.web.test_openai_clients import raw_stream

    lines = raw_stream(nginx, {"prompt": "x", "stream": True, "size": "64x64"})
    comments = [seconds for seconds, line in lines if line.startswith(":")]
    completed = next(seconds for seconds, line in lines
                     if line == "event: image_generation.completed")
    assert len(comments) >= 2 and comments[0] < 0.8 < completed  # not held back by buffering


def test_metrics_are_not_served_to_the_internet(nginx):
    status, _, body = get(nginx + "/metrics")
    assert (status, body["code"]) == (404, "not_found")


def test_idle_connections_wait_at_nginx_not_in_artproxys_slots(nginx, artproxy):
    idle = []
    try:
        host, port = nginx.removeprefix("http://").split(":")
        for _ in range(1500):  # more than 2 workers could hold if each took one of them
            connection = socket.create_connection((host, int(port)))
            connection.sendall(b"GET / HTTP/1.1\r\n")  # and never finish the request
            idle.append(connection)
        started = time.monotonic()
        assert get(nginx + "/")[0] == 200
        assert time.monotonic() - started < 1
    finally:
        for connection in idle:
            connection.close()


def test_nginx_says_503_json_when_artproxy_is_down(nginx, processes):
    artproxy_process = processes[0]
    artproxy_process.terminate()
    artproxy_process.wait(timeout=30)
    status, headers, body = get(nginx + "/generate?p=x")
    assert (status, body["code"], headers["Retry-After"]) == (503, "server_busy", "5")


def test_the_readme_shows_this_very_config():
    readme = (PROJECT_DIR / "README.md").read_text()
    assert (PROJECT_DIR / "deploy" / "nginx.conf").read_text() in readme
