"""gunicorn's gevent worker, with stored images sent by the kernel's sendfile().

gevent's sockets implement ``sendfile()`` by reading the file and sending it piece by piece in
Python, because the system call blocks on a full socket. That loop was 57% of a worker's CPU
while serving a 0.85 MB image (py-spy, bench/ target 3). Here ``os.sendfile`` runs on the
non-blocking socket, and a full socket buffer makes the greenlet wait for the socket to
drain, as any other gevent send does, so other requests go on meanwhile.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from gevent import socket as gevent_socket
from gevent.server import StreamServer
from gunicorn.workers.ggevent import GeventWorker


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


class GeventSendfileWorker(GeventWorker):
    def patch(self) -> None:
        super().patch()
        gevent_socket.socket.sendfile = cooperative_sendfile
        # gevent accepts up to 100 waiting connections each time the listening socket wakes a
        # worker, so one worker could take every connection of a burst and leave the other
        # cores idle (bench/ target 1 swung between 54 and 86 req/s). Taking one at a time lets
        # every worker that is woken take its share.
        StreamServer.max_accept = 1
