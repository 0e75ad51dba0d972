"""Helpers shared by tests/ and bench/: a free port, a controllable clock, fake upstreams, Redis.

    free_port()                      a loopback port nobody listens on (yet)
    FakeClock                        unix seconds that move only when told
    fake_upstream.FakeUpstream       a scripted upstream for fault tests (threads, one answer each)
    fake_horde, fake_pollinations    protocol fakes of AI Horde and Pollinations
    local_server.LocalServer         what the fakes share: a real server on 127.0.0.1 in a thread
    load_upstream                    a fast asyncio upstream for the benchmark (`python -m`)
    redis_server.RedisServer         a real redis-server on its own port, no persistence
    processes                        who started whom, read from /proc
    child_server.ChildServer         a server in a child process: log file, ready, stopped
"""

from __future__ import annotations

import socket

START_TIME = 1_800_000_000.0  # 2027-01-15: a fixed "now" for tests that control time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FakeClock:
    def __init__(self, now: float = START_TIME):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
