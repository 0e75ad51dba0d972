"""The real entry points, as separate processes: `python main.py`, `gunicorn main:app`, `--debug`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from testing import free_port
from testing.fake_upstream import Answer
from tests.real_server import (
    COMMANDS,
    PROJECT_DIR,
    environment,
    get,
    start,
    wait_until_serving,
)


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_production_server_serves_and_stops_cleanly_on_sigterm(command, image_dir, processes):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start(command, environment(image_dir, port))
    processes.append(process)
    wait_until_serving(base_url, process)

    status, headers, body = get(base_url + "/")
    assert (status, body) == (200, {"status": "Server is alive"})
    assert headers["Server"].startswith("gunicorn")  # not Werkzeug's development server
    status, _, body = get(base_url + "/image?p=harbour")
    assert status == 200
    stored = image_dir / body["url"].removeprefix("/images/")
    # Served by the worker's sendfile: every byte of the file, with its real length.
    with urllib.request.urlopen(base_url + body["url"], timeout=10) as response:
        assert response.headers["Content-Length"] == str(stored.stat().st_size)
        assert response.read() == stored.read_bytes()
    # The longest prompt allowed, in a script that percent-encodes to 9 bytes a character.
    assert get(base_url + "/generate?p=" + quote("画" * 1000))[0] == 200
    status, headers, body = get(base_url + "/generate?p=" + quote("画" * 1001))
    assert status == 400 and "too long" in body["error"]

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def test_sigterm_lets_in_flight_requests_finish(image_dir, processes, upstream):
    upstream.default_answer = Answer(delay=1.5)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start(COMMANDS["python main.py"], environment(
        image_dir, port, ARTPROXY_PROVIDER="magicstudio", ARTPROXY_MAGICSTUDIO_URL=upstream.url))
    processes.append(process)
    wait_until_serving(base_url, process)

    results = []
    request = threading.Thread(target=lambda: results.append(get(base_url + "/image?p=slow")))
    request.start()
    give_up = time.monotonic() + 10
    while not upstream.received and time.monotonic() < give_up:
        time.sleep(0.05)
    assert upstream.received, "the request never reached the upstream"
    process.send_signal(signal.SIGTERM)
    request.join(timeout=20)
    assert results and results[0][0] == 200
    assert process.wait(timeout=20) == 0


def test_a_bad_setting_stops_startup_with_a_readable_message(image_dir):
    env = environment(image_dir, free_port(), ARTPROXY_IMAGE_TTL="soon")
    result = subprocess.run([sys.executable, "main.py"], cwd=PROJECT_DIR, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "ARTPROXY_IMAGE_TTL='soon' is not valid" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_mode_refuses_a_public_address(image_dir):
    env = environment(image_dir, free_port(), HOST="0.0.0.0")
    result = subprocess.run([sys.executable, "main.py", "--debug"], cwd=PROJECT_DIR, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "only listens on loopback" in result.stderr


def test_debug_mode_runs_one_sweeper_under_the_reloader(image_dir, processes):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start([sys.executable, "main.py", "--debug"], environment(image_dir, port))
    processes.append(process)
    wait_until_serving(base_url, process)
    assert get(base_url + "/image?p=x")[0] == 200
    time.sleep(1)  # let a second sweeper, if there were one, announce itself
    os.killpg(process.pid, signal.SIGTERM)
    output = process.communicate(timeout=20)[0]
    assert output.count("expiry sweeper started") == 1, output


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize("setting, message", [
    ({"ARTPROXY_PROVIDER": "dalle"}, "ARTPROXY_PROVIDER='dalle' is not valid: choose one of"),
    ({"PORT": "99999"}, "PORT='99999' is not valid: must be a port number from 1 to 65535"),
])
def test_every_bad_setting_gets_one_line_and_exit_2(command, setting, message, image_dir):
    env = environment(image_dir, free_port(), **setting)
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"artproxy: {message}"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_startup_says_once_what_is_active(image_dir, processes):
    port = free_port()
    process = start(COMMANDS["python main.py"], environment(
        image_dir, port, WEB_CONCURRENCY="2", ARTPROXY_RATE_LIMIT="9/minute",
        ARTPROXY_CORS_ORIGINS="https://a.example", ARTPROXY_PREMIUM_KEYS="secret-one,secret-two"))
    processes.append(process)
    wait_until_serving(f"http://127.0.0.1:{port}", process)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=20)[0]
    summaries = [line for line in output.splitlines() if "artproxy: provider=" in line]
    assert len(summaries) == 1, output
    assert ("provider=offline storage=file cors_origins=https://a.example premium_keys=2 set "
            "rate_limit=9/minute") in summaries[0]
    assert "secret-one" not in output
    assert output.count("Booting worker") == 2


def test_an_open_premium_route_is_announced_once(image_dir, processes):
    port = free_port()
    process = start(COMMANDS["python main.py"], environment(image_dir, port, WEB_CONCURRENCY="2"))
    processes.append(process)
    wait_until_serving(f"http://127.0.0.1:{port}", process)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=20)[0]
    assert output.count("/image is open to everyone") == 1, output


def test_a_worker_leaves_what_it_loaded_out_of_the_collectors_walks(image_dir):
    # gunicorn.conf.py's post_worker_init, run as gunicorn runs it: the settings module's hook,
    # in a process that has loaded the app.
    script = ("import gc, runpy; hooks = runpy.run_path('gunicorn.conf.py'); import main; "
              "before = gc.get_freeze_count(); hooks['post_worker_init'](None); "
              "print(before, gc.get_freeze_count(), gc.isenabled())")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, text=True,
                            capture_output=True, env=environment(image_dir, free_port()),
                            timeout=60)
    before, frozen, enabled = result.stdout.split()
    assert (int(before), enabled) == (0, "True")  # the collector still runs, for what comes
    assert int(frozen) > 20_000  # the app, Flask, the SDKs: not walked again
