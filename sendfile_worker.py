"""gunicorn's gevent worker, with stored images sent by the kernel's sendfile(), a request line
sized for the longest prompt, and JSON for the errors gunicorn answers itself.

gevent's sockets implement ``sendfile()`` by reading the file and sending it piece by piece in
Python, because the system call blocks on a full socket. That loop was 57% of a worker's CPU
while serving a 0.85 MB image (py-spy, bench/ target 3). Here ``os.sendfile`` runs on the
non-blocking socket, and a full socket buffer makes the greenlet wait for the socket to
drain, as any other gevent send does, so other requests go on meanwhile.
"""

from __future__ import annotations

import json
import os
import select
import socket
from typing import Any, BinaryIO

import gevent.monkey
import gunicorn.util
import gunicorn.workers.ggevent
from gevent import socket as gevent_socket
from gevent.server import StreamServer
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from gunicorn.workers.base_async import AsyncWorker
from gunicorn.workers.ggevent import GeventWorker

import config
from capacity import keep_large_allocations
from fair_accept import ConnectionCounts, shared_counts, waiting_connections


def cooperative_sendfile(sock: gevent_socket.socket, file: BinaryIO, offset: int = 0,
                         count: int | None = None) -> int:
    """Send ``count`` bytes of ``file`` from ``offset`` (to its end when None); return bytes sent.

    Like ``socket.sendfile``, it leaves the file's position just after the last byte sent.
    """
    in_fd = file.fileno()
    if count is None:
        count = os.fstat(in_fd).st_size - offset
    sent = 0
    try:
        while sent < count:
            try:
                just_sent = os.sendfile(sock.fileno(), in_fd, offset + sent, count - sent)
            except BlockingIOError:
                gevent_socket.wait_write(sock.fileno(), timeout=sock.gettimeout())
                continue
            if just_sent == 0:
                break  # the file ended early: it was truncated after its size was read
            sent += just_sent
    finally:
        file.seek(offset + sent)
    return sent


class PromptSizedRequest(Request):
    """A request whose line may be as long as the longest allowed prompt needs, and no longer.

    gunicorn caps ``limit_request_line`` at 8190 bytes, too short for 1000 characters of a
    non-Latin script, and 0 means unlimited: a 16 MiB line took 26 s of worker CPU to refuse.
    """

    line_limit = config.request_line_bytes(config.defaults()["MAX_PROMPT_CHARS"])

    def parse(self, unreader: Any) -> Any:
        self.limit_request_line = self._fast_limit_request_line = self.line_limit
        return super().parse(unreader)


def readable_now(sock: socket.socket | None) -> bool:
    """Whether ``sock`` has bytes (or its end) to read now, asked with the system's poll.

    httpcore (under the openai SDK) asks this of every idle connection in its pool on every
    request, with select.poll(0), which gevent replaces with a poll through its hub. With 200
    pooled connections that was 16% of a worker's CPU and cut /v1's rate at 200 clients by a
    third (bench/ target L, when every /v1 call went through the SDK; streams, edits and
    variations still do). A zero timeout never blocks, so the system's poll is safe here.
    """
    if sock is None or sock.fileno() < 0:
        return True  # as httpcore's: a socket that is gone reads its end at once
    poller = system_poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


system_poll = gevent.monkey.get_original("select", "poll")


def quick_readability_checks() -> None:
    """Give httpcore's sync connections readable_now (see there)."""
    try:
        from httpcore2._backends import sync
    except ImportError:  # another openai SDK, without it: nothing to speed up
        return
    sync.is_socket_readable = readable_now


def write_json_error(sock: socket.socket, status_int: int, reason: str, message: str) -> None:
    """gunicorn's own answers (bad request line, 414, 431) in artproxy's JSON error shape."""
    code = reason.lower().replace(" ", "_")
    body = json.dumps({"error": f"{reason}: {message}" if message else reason, "code": code})
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n")
    gunicorn.util.write_nonblock(sock, (head + body).encode("latin-1", "replace"))


class FairlyAcceptingServer(StreamServer):
    """gevent's server, taking at each wake the share of waiting connections fair_accept.py
    gives this worker."""

    counts: ConnectionCounts | None = None

    @property
    def max_accept(self) -> int:
        return 1 if self.counts is None else self.counts.share(waiting_connections(self.socket))

    @max_accept.setter
    def max_accept(self, value: int) -> None:
        pass  # gunicorn asks for 1 with several workers: the share decides instead


class GeventSendfileWorker(GeventWorker):
    client_timeout: float | None = None
    counts = ConnectionCounts(shared_counts)

    def patch(self) -> None:
        super().patch()
        keep_large_allocations()
        settings = config.load(os.environ)
        self.client_timeout = settings["CLIENT_TIMEOUT"]
        PromptSizedRequest.line_limit = config.request_line_bytes(settings["MAX_PROMPT_CHARS"])
        RequestParser.mesg_class = PromptSizedRequest
        gunicorn.util.write_error = write_json_error
        gevent_socket.socket.sendfile = cooperative_sendfile
        quick_readability_checks()
        self.counts.claim()
        FairlyAcceptingServer.counts = self.counts
        gunicorn.workers.ggevent.StreamServer = FairlyAcceptingServer

    def handle(self, listener: Any, client: gevent_socket.socket, addr: Any) -> None:
        # GeventWorker.handle makes the client socket blocking with no timeout, so a client that
        # never reads its answer kept the greenlet and the answer's memory for as long as it
        # stayed (300 such clients pinned 1.28 GB). Each send or receive may now wait
        # ARTPROXY_CLIENT_TIMEOUT seconds; waiting for the next request stays under keepalive.
        client.settimeout(self.client_timeout)
        self.counts.add(1)
        try:
            AsyncWorker.handle(self, listener, client, addr)
        finally:
            self.counts.add(-1)
