"""Time as artproxy reads and writes it.

Everything that needs "now" takes a Clock (unix seconds), so tests control time with
testing.FakeClock instead of sleeping; every time an answer or a log line shows is iso_time's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], float]  # unix seconds now, e.g. time.time


def iso_time(unix_seconds: float) -> str:
    """``2026-11-22T01:02:03.456Z``: UTC, to the millisecond."""
    return (datetime.fromtimestamp(unix_seconds, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"))
