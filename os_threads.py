"""CPU-heavy image work in an OS thread, so a gevent worker goes on serving while it runs.

Under gevent every request of a worker is a greenlet of one OS thread: while one request's
image work ran (an edit's cut-out of a 4096x4096 picture took 13 s in make_transparent), no
other request of that worker was answered, and GET / waited as long. Pillow releases the GIL
in its heavy operations (decoding, resizing, filters, compositing, encoding), so the same work
in a thread of gevent's pool leaves the worker's loop free to serve. Without gevent (tests on
Werkzeug's server, the RQ worker) the work runs in the caller's own thread, as it always did.

Handing work over has a price: with a 1024x1024 picture's decode and encode in a thread, a
plain /generate cost the worker 6.2 ms of CPU against 5.2 ms inline, while that work only holds
the loop for about 10 ms. So light work (at most INLINE_PIXELS, nothing but a decode or a PNG
passed on) stays in the greenlet, and the callers say which is which.

Only pure image work goes there: a thread of the pool must not wait on a socket or a lock
that gevent patched, since those belong to the worker's loop.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
# Decoding or passing on a picture of up to 2 megapixels (1448x1448) holds the loop < 25 ms.
INLINE_PIXELS = 2**21
# Image work at once per worker process; the rest waits its turn in the pool's queue. Each piece
# holds tens of MB (a 2048x2048 RGBA picture is 16 MB, with its copies more): two 4096x4096
# edits with n=4 peaked at 1100 MB with gevent's pool of 10 threads. There is one worker per
# core, so two threads each keep every core busy.
IMAGE_THREADS = 2
_pool: Any = None


def in_os_thread(work: Callable[[], T]) -> T:
    """``work()``'s result (or exception), computed off the gevent loop when there is one."""
    if not gevent_patched():
        return work()
    done, value = image_pool().apply(caught, (work,))
    if not done:
        raise value  # here, in the caller: gevent's pool would print a traceback of its own
    result: T = value
    return result


def caught(work: Callable[[], T]) -> tuple[bool, Any]:
    try:
        return True, work()
    except Exception as error:
        return False, error


def image_pool() -> Any:
    """This process's pool; made on first use, so after gunicorn forked the worker."""
    global _pool
    if _pool is None:
        from gevent.threadpool import ThreadPool  # loaded already: gevent patched this process

        _pool = ThreadPool(IMAGE_THREADS)
    return _pool


def gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))
