"""Plumbing for the notebooks' check cells: run a student's server safely, misbehave on purpose.

The checks themselves stay in the notebooks, as plain ``assert``s a student can
read; these helpers only make sure a wrong answer fails quickly and clearly
instead of hanging the notebook, and that an answer built on the course's own
servers and clients is refused (see :mod:`socketlab.shortcuts`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Callable, Iterator

from . import shortcuts

__all__ = ["student_server", "no_shortcuts", "send_slowly", "send_and_reset"]


class Shortcut(AssertionError):
    """An answer that calls the course's reference implementation."""


def no_shortcuts(function) -> None:
    """Fail with one line if ``function`` (or a function of the notebook it calls) uses the answer key."""
    used = shortcuts.in_function(function)
    if used:
        name = getattr(function, "__name__", "your function")
        raise Shortcut(f"✘ {name} uses {', '.join(used)} from the course: {shortcuts.FIX}") from None


@contextlib.contextmanager
def student_server(serve: Callable[[socket.socket], object], *, timeout: float = 5.0) -> Iterator[tuple]:
    """Run ``serve(listener)`` in a thread on a fresh 127.0.0.1 port; yield the address.

    If ``serve`` raises, the listener is closed at once (waiting clients get a
    reset rather than a long wait) and the check fails with that exception.
    Leaving the ``with`` block closes the listener and waits for ``serve``.
    """
    no_shortcuts(serve)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(timeout)  # a serve() that waits for a client who never comes gives up
    failure: list[BaseException] = []

    def run() -> None:
        try:
            serve(listener)
        except BaseException as exc:  # reported in the main thread, never printed here
            failure.append(exc)
            listener.close()

    thread = threading.Thread(target=run, name="student-server", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    except BaseException as exc:
        if failure:
            raise AssertionError(f"your server function raised {_describe(failure[0])}") from exc
        raise
    finally:
        thread.join(timeout + 0.5)  # a little longer than accept() may wait on the listener
        listener.close()
    if thread.is_alive():
        raise AssertionError(f"your server function was still running {timeout:g} s after the last client left; "
                             "should it have returned?")
    if failure:
        raise AssertionError(f"your server function raised {_describe(failure[0])}") from failure[0]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def send_slowly(address, data: bytes, *, step: int = 1, timeout: float = 5.0) -> bytes:
    """A client that writes ``step`` bytes per send(), then reads the reply to its end."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(data), step):
            sock.sendall(data[i : i + step])
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def send_and_reset(address, data: bytes, *, timeout: float = 5.0) -> None:
    """A client that sends ``data`` and then crashes: its connection ends with a reset."""
    sock = socket.create_connection(address, timeout=timeout)
    sock.sendall(data)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
