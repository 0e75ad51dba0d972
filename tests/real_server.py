"""Running artproxy as production does, in a child process, for tests that need the real server."""

from __future__ import annotations

import http.client
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from testing import free_port

PROJECT_DIR = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python main.py": [sys.executable, "main.py"],
    "gunicorn main:app": [sys.executable, "-m", "gunicorn", "main:app"],
}


def environment(image_dir: Path, port: int, **settings: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ARTPROXY_")}
    env.update(HOST="127.0.0.1", PORT=str(port), ARTPROXY_PROVIDER="offline",
               ARTPROXY_IMAGE_DIR=str(image_dir), ARTPROXY_STATE_DIR=str(image_dir.parent / "state"),
               PYTHONUNBUFFERED="1")
    env.update(settings)
    return env


def get(url: str, timeout: float = 10, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    """Status, headers and JSON body of a GET; error statuses are answers, not exceptions."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


def call(method: str, url: str, headers: dict[str, str] | None = None,
         body=None, chunked: bool = False) -> tuple[int, dict, bytes]:
    """Status, headers and raw body of any request; the path is sent exactly as given. With
    ``chunked``, ``body`` (pieces of bytes) goes in chunked transfer encoding."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""),
                           body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post_json(url: str, fields, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    status, answer_headers, body = call("POST", url, {"Content-Type": "application/json",
                                                      **(headers or {})},
                                        json.dumps(fields).encode())
    return status, answer_headers, json.loads(body)


def wait_until_serving(base_url: str, process: subprocess.Popen, seconds: float = 20) -> None:
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        assert process.poll() is None, process.stdout.read() if process.stdout else "it exited"
        try:
            get(base_url + "/", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


def start(command: list[str], env: dict[str, str], open_files: int | None = None,
          output=subprocess.PIPE) -> subprocess.Popen:
    """Start ``command``, its output to ``output``; with ``open_files``, as if under
    ``ulimit -n`` (soft and hard)."""

    def limit_open_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    return subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=output,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=limit_open_files if open_files else None)


class Children(list):
    """Child processes a test started; their output goes to files in ``log_dir``, one per
    server, which pytest's temporary folders keep for the last few runs."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.log_dir = log_dir
        self.logs: dict[str, Path] = {}

    def log_file(self, name: str):
        return tempfile.NamedTemporaryFile("w", dir=self.log_dir, prefix=f"{name}-",
                                           suffix=".log", delete=False)

    def server_log(self, base_url: str) -> str:
        return self.logs[base_url].read_text()


def serve(processes: Children, image_dir: Path, workers: int = 2, open_files: int | None = None,
          port: int | None = None, **settings: str) -> str:
    """Start `python main.py` with ``workers`` worker processes; return its base URL.

    Its output goes to a file, not to a pipe: nobody reads the pipe while the test runs, and
    a server that logs a lot blocked on it (a whole worker stood still). ``port``: one chosen
    beforehand, for settings elsewhere that must name the address (an OpenID provider's)."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_file = processes.log_file(f"server-{port}")
    process = start(COMMANDS["python main.py"],
                    environment(image_dir, port, WEB_CONCURRENCY=str(workers), **settings),
                    open_files, output=log_file)
    log_file.close()  # the child has its own copy
    processes.append(process)
    processes.logs[base_url] = Path(log_file.name)
    wait_until_serving(base_url, process)
    return base_url


def stop_all(processes: list[subprocess.Popen], seconds: float = 10) -> None:
    """Stop what is still running: first as an operator's Ctrl-C would, so gunicorn removes
    its metrics folder, then whatever is left of each process group by force."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + seconds
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # workers a killed master left behind
        except ProcessLookupError:
            pass
        process.wait()
