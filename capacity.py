"""How many connections a worker process can hold, and telling "out of descriptors" apart.

Every client connection can hold an upstream connection too, so a worker needs two descriptors
per concurrent request plus a few for files, Redis and logs. Under the common soft limit of 1024
open files, 1800 concurrent /generate calls ran out: 625 answered 502 "could not be reached",
blaming the upstream for our own limit. So the soft limit is raised as far as the hard limit
allows, gunicorn's worker_connections and the upstream pool are sized to fit what remains, and
running out anyway is a 503 (ServerBusy), not an upstream failure.
"""

from __future__ import annotations

import errno
import resource

# gunicorn.conf.py's 1000 connections per worker, chosen by bench/ target 2 (BENCHMARKS.md).
MAX_CONNECTIONS_PER_WORKER = 1000
# Listening socket, image files being sent, Redis, SQLite, logs, the scheduler: room to spare.
RESERVED_DESCRIPTORS = 64
OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE}


def raise_open_file_limit() -> int:
    """Lift this process's soft limit on open files to its hard limit; return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # some platforms refuse; keep what we have and size to it
    return soft


def open_file_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connections_per_worker(open_files: int) -> int:
    """Concurrent requests one worker can hold with ``open_files`` descriptors, at most 1000."""
    return max(16, min(MAX_CONNECTIONS_PER_WORKER, (open_files - RESERVED_DESCRIPTORS) // 2))


def out_of_descriptors(error: BaseException | None) -> bool:
    """True if ``error``, or anything it wraps, is EMFILE or ENFILE."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in OUT_OF_DESCRIPTORS:
            return True
        # requests and urllib3 wrap the socket's error in .reason and in args, not only as cause.
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
    return False
