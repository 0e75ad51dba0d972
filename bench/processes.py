"""Starting the servers a benchmark run needs, and reading what they cost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from testing import free_port  # noqa: F401  (re-exported for the scenarios)
from testing.processes import process_tree  # noqa: F401  (re-exported for the scenarios)

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = PROJECT_DIR / "bench"


class Server:
    """A child process that serves HTTP on a loopback port, stopped with SIGTERM. With port
    None it serves nothing (a job worker) and is taken as ready once started."""

    def __init__(self, name: str, command: list[str], port: int | None,
                 env: dict[str, str] | None = None, ready_path: str | None = "/",
                 cwd: Path = PROJECT_DIR):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        self.process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})},
                                        stdout=self.log, stderr=subprocess.STDOUT)
        if port is not None:
            self._wait_until_ready(port, ready_path)

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

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def python_command(*arguments: str) -> list[str]:
    return [sys.executable, *arguments]


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass  # exited between listing and reading
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")
