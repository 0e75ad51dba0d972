"""Starting the servers a benchmark run needs, and reading what they cost."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from testing import free_port  # noqa: F401  (re-exported for the scenarios)
from testing.child_server import ChildServer
from testing.processes import process_tree  # noqa: F401  (re-exported for the scenarios)

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = PROJECT_DIR / "bench"


class Server(ChildServer):
    """A server a benchmark run needs (testing/child_server.py); its log is kept for reading
    after the run."""

    LOG_PREFIX = "bench-"
    KEEP_LOG = True


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
