"""A server run as a child process for tests and benchmarks: started with its output in a log
file, ready once it answers over HTTP, stopped with SIGTERM (killed if it will not stop)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TypeVar

PROJECT_DIR = Path(__file__).resolve().parent.parent
Started = TypeVar("Started", bound="ChildServer")


class ChildServer:
    """A child process that serves HTTP on a loopback port. With port None it serves nothing
    (a job worker) and is taken as ready once started."""

    LOG_PREFIX = "artproxy-"
    KEEP_LOG = False  # the log file is deleted when the server stops, unless set

    def __init__(self, name: str, command: list[str], port: int | None,
                 env: dict[str, str] | None = None, ready_path: str | None = "/",
                 cwd: Path = PROJECT_DIR):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(prefix=f"{self.LOG_PREFIX}{name}-", suffix=".log",
                                               delete=not self.KEEP_LOG)
        self.process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})},
                                        stdout=self.log, stderr=subprocess.STDOUT)
        if port is not None:
            try:
                self._wait_until_ready(port, ready_path)
            except RuntimeError:
                self.stop()
                raise

    def _wait_until_ready(self, port: int, ready_path: str | None, seconds: float = 30) -> None:
        """Until ``ready_path`` answers over HTTP, or with None until the port accepts."""
        give_up = time.monotonic() + seconds
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log.name}")
            try:
                if ready_path is None:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return
                with urllib.request.urlopen(self.url + ready_path, timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers, which is all readiness means here
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start; see {self.log.name}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self: Started) -> Started:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
