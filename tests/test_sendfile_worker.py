"""The gevent worker's sendfile: real kernel sendfile on a non-blocking socket, waiting cooperatively."""

from __future__ import annotations

import os
import socket

import gevent
import pytest
from gevent import socket as gevent_socket

from sendfile_worker import cooperative_sendfile


@pytest.fixture
def big_file(tmp_path):
    # Several times a loopback socket buffer, so the sender must wait for the reader.
    path = tmp_path / "image.png"
    path.write_bytes(os.urandom(3 * 2**20 + 17))
    return path


def receive_all(sock, expected: int) -> bytes:
    received = bytearray()
    while len(received) < expected:
        piece = sock.recv(65536)
        if not piece:
            break
        received += piece
    return bytes(received)


@pytest.mark.parametrize("offset, count", [(0, None), (1000, 2**20), (5, 0)])
def test_sends_exactly_the_requested_bytes_and_moves_the_file_position(big_file, offset, count):
    content = big_file.read_bytes()
    wanted = content[offset:] if count is None else content[offset:offset + count]
    sender, reader = gevent_socket.socketpair()
    with sender, reader, open(big_file, "rb") as file:
        receiving = gevent.spawn(receive_all, reader, len(wanted))
        sent = cooperative_sendfile(sender, file, offset, count)
        assert receiving.get(timeout=10) == wanted
        assert sent == len(wanted)
        assert file.tell() == offset + len(wanted)


def test_other_greenlets_run_while_the_socket_is_full(big_file):
    ticks = []

    def tick():
        for _ in range(3):
            ticks.append(len(ticks))
            gevent.sleep(0.01)

    sender, reader = gevent_socket.socketpair()
    with sender, reader, open(big_file, "rb") as file:
        ticking = gevent.spawn(tick)
        # The reader starts late: the sender fills the buffer and must wait, not block the hub.
        receiving = gevent.spawn_later(0.05, receive_all, reader, big_file.stat().st_size)
        cooperative_sendfile(sender, file)
        ticking.join(timeout=5)
        assert ticks == [0, 1, 2]
        assert len(receiving.get(timeout=10)) == big_file.stat().st_size


def test_readable_now_tells_waiting_bytes_and_a_closed_end():
    from sendfile_worker import readable_now

    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert readable_now(ours) is False
        theirs.sendall(b"x")
        assert readable_now(ours) is True
        ours.recv(1)
        theirs.close()
        assert readable_now(ours) is True  # the end of the stream is there to read


def test_httpcore_still_asks_its_sync_connections_through_the_name_we_replace():
    from httpcore2._backends import sync

    assert callable(sync.is_socket_readable)  # renamed in a new release: readable_now is unused
