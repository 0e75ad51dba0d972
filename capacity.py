"""How many connections a worker process can hold, and telling "out of descriptors" apart.

Every client connection can hold an upstream connection too, so a worker needs two descriptors
per concurrent request plus a few for files, Redis and logs. Under the common soft limit of 1024
open files, 1800 concurrent /generate calls ran out: 625 answered 502 "could not be reached",
blaming the upstream for our own limit. So the soft limit is raised as far as the hard limit
allows, gunicorn's worker_connections and the upstream pool are sized to fit what remains, and
running out anyway is a 503 (ServerBusy), not an upstream failure.
"""

from __future__ import annotations

import ctypes
import errno
import resource

# gunicorn.conf.py's 1000 connections per worker, chosen by bench/ target 2 (BENCHMARKS.md).
MAX_CONNECTIONS_PER_WORKER = 1000
# Listening socket, image files being sent, Redis, SQLite, logs, the scheduler: room to spare.
RESERVED_DESCRIPTORS = 64
OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE}


# glibc's mallopt() parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
# Every /generate allocates several buffers of 1-4 MB (pixels, PNG, base64, the JSON body).
# glibc serves blocks that large with a fresh mmap each time, or trims the freed heap back to
# the kernel, and the kernel then zeroes new pages on first touch: a worker took 2,400 page
# faults per request and a third of its CPU in the kernel. Keeping blocks up to 32 MiB in the
# heap, and up to 128 MiB of free heap, cut the faults (bench/ target 1) at a cost of RSS.
MALLOC_KEEP_BLOCKS_BYTES = 32 * 2**20
MALLOC_KEEP_FREE_BYTES = 128 * 2**20


def keep_large_allocations() -> bool:
    """Ask glibc to reuse large blocks instead of mapping fresh pages; False elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MALLOC_KEEP_BLOCKS_BYTES)
                    and libc.mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP_FREE_BYTES))
    except (OSError, AttributeError):
        return False  # not glibc (macOS, musl): keep the allocator's own policy


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
    pending: list[object] = [error]
    while pending:
        current = pending.pop()
        # Only exceptions are followed: ssl.SSLError's reason, for one, is a str.
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in OUT_OF_DESCRIPTORS:
            return True
        # requests and urllib3 wrap the socket's error in .reason and in args, not only as cause.
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None),
                    *current.args]
    return False
