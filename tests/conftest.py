"""Shared fixtures: every test gets real sockets on 127.0.0.1 and leaks no server."""

import os
import socket
import threading

import pytest

import socketlab


@pytest.fixture(autouse=True)
def no_leaked_servers():
    yield
    leaked = socketlab.running_servers()
    socketlab.stop_all()
    assert not leaked, f"the test left servers running: {leaked}"


@pytest.fixture
def tcp_pair():
    """A connected (client, server-side) pair of TCP sockets on 127.0.0.1."""
    made = []

    def make(timeout=5.0):
        with socket.create_server(("127.0.0.1", 0)) as listener:
            client = socket.create_connection(listener.getsockname(), timeout=timeout)
            listener.settimeout(timeout)
            server_side, _ = listener.accept()
        server_side.settimeout(timeout)
        made.extend([client, server_side])
        return client, server_side

    yield make
    for sock in made:
        sock.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def live_threads() -> int:
    return threading.active_count()


def send_slowly(sock: socket.socket, data: bytes, step: int = 1) -> None:
    """Write ``data`` a few bytes per send() so that the reader sees it in pieces."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(data), step):
        sock.sendall(data[i : i + step])


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN, as a crashed client would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
