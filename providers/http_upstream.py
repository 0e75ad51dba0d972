"""What every HTTP upstream needs, written once: a session (or, on the hot path, urllib3's pool
itself), one deadline, bounded bodies, and the mapping from transport failures and statuses to
artproxy's named errors."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from capacity import connections_per_worker, open_file_limit, out_of_descriptors
from errors import (
    BadUpstreamImage,
    ServerBusy,
    UpstreamBusy,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)

DEFAULT_RETRY_AFTER_SECONDS = 30
MAX_RETRY_AFTER_SECONDS = 3600
CHUNK_BYTES = 64 * 1024


def new_session(url: str) -> requests.Session:
    """One session per upstream, with no transport retries and a pool the size of the worker."""
    session = requests.Session()
    # No transport-level retries: a provider decides any retry itself, so a request is never
    # resent behind its back once generation may have begun.
    # Upstream connections kept open for reuse: as many as the worker holds requests
    # (capacity.py), since a smaller pool closes and reopens connections under load, and
    # urllib3 logs a warning for each one it drops.
    adapter = HTTPAdapter(max_retries=Retry(total=0, redirect=0, raise_on_status=False),
                          pool_maxsize=connections_per_worker(open_file_limit()))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Proxy variables are read once here rather than on every call, and ~/.netrc is never
    # consulted: those per-call lookups showed in profiles of bench/ target 2.
    session.proxies.update(requests.utils.get_environ_proxies(url))
    session.trust_env = False
    return session


class UpstreamAnswer:
    """urllib3's response in the shape the helpers below read (``status_code``, ``headers``,
    ``raw``), closed the way requests closes one: a body read to the end returns its connection
    to the pool, anything else closes it."""

    def __init__(self, raw: urllib3.BaseHTTPResponse):
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers

    def close(self) -> None:
        if not self.raw.closed and self.raw.length_remaining != 0:
            self.raw.close()  # unread bytes would be the next request's answer: drop them
        self.raw.release_conn()

    def __enter__(self) -> UpstreamAnswer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class UpstreamPool:
    """One upstream's kept-open connections, used through urllib3 directly.

    requests' own work for each call (merging the session's settings, preparing the URL, its
    hooks, its multipart encoder) was 15% of a worker's CPU under bench/ target 2, a sixth of
    all it did for a /generate; urllib3, underneath it anyway, does the sending. Settings as
    new_session's: no retries, no redirects, the proxy variables read once, a pool as large
    as the worker's share of connections.
    """

    def __init__(self, url: str):
        proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
        size = connections_per_worker(open_file_limit())
        self.pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, maxsize=size, retries=False,
                                 proxy_headers=proxy_authorization(proxy)) if proxy
            else urllib3.PoolManager(maxsize=size, retries=False))

    def request(self, method: str, url: str, *, body: bytes | None, headers: dict[str, str],
                timeout: tuple[float, float]) -> UpstreamAnswer:
        with transport_errors():
            return UpstreamAnswer(self.pool.request(
                method, url, body=body, headers=headers, redirect=False, retries=False,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                preload_content=False, decode_content=True))


def proxy_authorization(proxy: str) -> dict[str, str] | None:
    """The Proxy-Authorization of a proxy address with a user in it, as requests and httpx
    send it; urllib3 leaves a proxy's credentials out."""
    user, password = requests.utils.get_auth_from_url(proxy)
    return urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else None


def time_left(deadline: float) -> float:
    """Seconds until ``deadline`` (time.monotonic()); UpstreamTimeout once it has passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise UpstreamTimeout()
    return remaining


def timeouts(connect_timeout: float, deadline: float) -> tuple[float, float]:
    """(connect, read) for the next call: neither waits past the deadline."""
    remaining = time_left(deadline)
    return min(connect_timeout, remaining), remaining


@contextlib.contextmanager
def transport_errors() -> Iterator[None]:
    """Sending the request: a timeout is 504, anything else unreachable (502), running out
    of descriptors is our own 503."""
    try:
        yield
    except (requests.RequestException, HTTPError, OSError) as error:
        if timed_out(error):
            raise UpstreamTimeout() from error
        if out_of_descriptors(error):
            raise ServerBusy() from error  # our limit, not the upstream's fault
        raise UpstreamUnavailable() from error


def timed_out(error: Exception) -> bool:
    if isinstance(error, (requests.ConnectTimeout, requests.ReadTimeout, ReadTimeoutError,
                          TimeoutError)):
        return True
    # NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError in urllib3 2.
    if isinstance(error, ConnectTimeoutError):
        return not isinstance(error, NewConnectionError)
    # With retries off, urllib3 wraps a timeout on a GET in MaxRetryError, which requests
    # reports as a ConnectionError: look inside, so a GET upstream times out as a POST does.
    reason = getattr(error.args[0], "reason", None) if error.args else None
    # NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError in urllib3 2.
    return isinstance(reason, ReadTimeoutError) or (
        isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError))


Answer = requests.Response | UpstreamAnswer


def raise_for_status(response: Answer) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429:
        raise UpstreamBusy(retry_after_seconds(response.headers.get("Retry-After")))
    if status >= 500:
        raise UpstreamUnavailable(f"The image generator failed with status {status}")
    raise UpstreamRejected(f"The image generator refused the request with status {status}")


def read_body(response: Answer, deadline: float, max_bytes: int) -> bytes:
    """The whole body, within ``max_bytes`` and before ``deadline``."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BadUpstreamImage(too_large_message(max_bytes))
    body = bytearray()
    try:
        # read1 returns whatever has arrived; before each read the socket may wait only
        # what is left of the deadline, so neither a stall nor a slow trickle outlives it.
        while True:
            wait_at_most(response, time_left(deadline))
            piece = response.raw.read1(CHUNK_BYTES, decode_content=True)
            if not piece:
                break
            body += piece
            if len(body) > max_bytes:
                raise BadUpstreamImage(too_large_message(max_bytes))
            # An upstream that streams without pause never makes this read wait, so under
            # gevent nothing else in the worker would run (GET / waited 7-9.7 s): yield.
            time.sleep(0)
    except ReadTimeoutError as error:
        raise UpstreamTimeout() from error
    except (HTTPError, OSError) as error:
        raise BadUpstreamImage("The image generator's answer broke off") from error
    return bytes(body)


def wait_at_most(response: Answer, seconds: float) -> None:
    """Make the next socket read of ``response``'s body wait ``seconds`` at most."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def retry_after_seconds(header: str | None) -> int:
    """Pass the upstream's wait on to our callers when it is a plain number of seconds."""
    if header and header.strip().isdigit():
        return max(1, min(int(header.strip()), MAX_RETRY_AFTER_SECONDS))
    return DEFAULT_RETRY_AFTER_SECONDS


def too_large_message(max_bytes: int) -> str:
    return f"The image generator's answer is larger than {max_bytes} bytes"
