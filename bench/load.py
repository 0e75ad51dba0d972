"""The load tools: hey for batches whose every answer we inspect, wrk for raw request rates."""

from __future__ import annotations

import csv
import io
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Batch:
    """What hey saw: one latency and status per request, and how long the whole batch took."""
    latencies: list[float]
    statuses: list[int]
    seconds: float
    peak_rss: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def ok(self) -> int:
        return sum(1 for status in self.statuses if status == 200)

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)


def hey(url: str, requests: int, concurrency: int, *, method: str = "GET", body: bytes = b"",
        content_type: str = "", headers: dict[str, str] | None = None, timeout: int = 60,
        while_running: Callable[[], None] | None = None) -> Batch:
    command = ["hey", "-n", str(requests), "-c", str(concurrency), "-t", str(timeout),
               "-m", method, "-o", "csv"]
    if body:
        command += ["-d", body.decode("latin-1"), "-T", content_type]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    process = subprocess.Popen(command + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if while_running is not None:
        watcher = threading.Thread(target=_repeat_while, args=(process, while_running), daemon=True)
        watcher.start()
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"hey failed: {err.decode(errors='replace')}")
    rows = list(csv.DictReader(io.StringIO(out.decode())))
    if len(rows) < requests:
        # hey leaves out requests that failed below HTTP (refused, reset, timed out).
        missing = requests - len(rows)
        rows += [{"response-time": "inf", "status-code": "0", "offset": "0"}] * missing
    latencies = [float(row["response-time"]) for row in rows]
    ends = [float(row["offset"]) + float(row["response-time"]) for row in rows]
    answered = [end for end in ends if end != float("inf")]
    return Batch(latencies=latencies, statuses=[int(row["status-code"]) for row in rows],
                 seconds=max(answered, default=float("inf")))


def _repeat_while(process: subprocess.Popen, action: Callable[[], None]) -> None:
    while process.poll() is None:
        action()
        time.sleep(0.05)


def wrk(url: str, seconds: int = 5, connections: int = 16, threads: int = 2) -> float:
    """Requests per second wrk sustains against ``url``; raises if any answer was not 2xx/3xx."""
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                          url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"wrk saw errors from {url}:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise RuntimeError(f"wrk printed no rate for {url}:\n{out}")
    return float(rate.group(1))
