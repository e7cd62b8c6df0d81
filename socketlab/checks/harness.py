"""The kernel's side of a check: what runs beside a student's code, and nothing that judges it.

A check hands the student's code real sockets and closes, afterwards, every
socket that code opened (so no loop of theirs spins on in the background); it
hosts an asyncio handler behind watchers; it shows a failed check as its one
line. The same helpers serve a check in the student's own notebook and, in a
graded notebook, the kernel's agent (:mod:`socketlab.instructor.agent`), which
calls the student's functions for a judge in another process. This module
holds no check and no message of one: it is what a graded kernel may have of
the course's code (see :mod:`socketlab.studentside`), so it imports only the
standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import traceback
from typing import Callable

__all__ = ["CheckFailed", "HandlerHost", "close_listener", "show_in_notebook"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class CheckFailed(AssertionError):
    """A check that failed: its message is what the student reads, and all they need.

    Its message is in the student's language, so code that must know why a check
    failed asks these instead of reading the text: ``error``, the exception the
    student's code raised (None if it did not raise); ``timed_out``, whether it
    overran its time limit.
    """

    error: BaseException | None = None
    timed_out: bool = False


def _student_frames(exc: BaseException) -> str:
    """The traceback of ``exc`` with only the student's frames (not the course's, not the standard library's)."""
    if getattr(exc, "remote_frames", None) is not None:  # raised in the kernel, judged elsewhere: as it was told
        return exc.remote_frames
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_PACKAGE) and not f.filename.startswith(os.path.dirname(os.__file__))]
    lines = [f"    {f.name}(), line {f.lineno}: {(f.line or '').strip()}" for f in frames[-4:]]
    return "\n".join(lines)


# ---- the sockets a student's code opened, closed under it ------------------------------------------


def _open_sockets() -> dict[int, socket.socket]:
    return {id(s): s for s in gc.get_objects() if isinstance(s, socket.socket) and s.fileno() != -1}


# Called by _close_new too: where the student's code runs in another process (a graded notebook's
# kernel, see socketlab.instructor.judge), each closes the sockets it opened there.
closers: list[Callable[[], None]] = []


def _close_new(before: dict[int, socket.socket]) -> None:
    """Close every socket opened since ``before``: a thread blocked or spinning on one wakes up and ends."""
    for close_theirs in list(closers):
        close_theirs()
    for key, sock in _open_sockets().items():
        if key not in before:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class _Listener(socket.socket):
    """The listener a student's server gets: it remembers what it accepted (and can time it out)."""

    def __init__(self, *args, conn_timeout: float | None = None, send_buffer: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.accepted: list[socket.socket] = []
        self.conn_timeout = conn_timeout
        self.send_buffer = send_buffer
        self.on_accept: Callable[[], None] | None = None

    def accept(self):
        conn, peer = super().accept()
        self.accepted.append(conn)
        if self.on_accept is not None:
            self.on_accept()
        if self.conn_timeout is not None:
            conn.settimeout(self.conn_timeout)
        if self.send_buffer is not None:  # a small buffer: a single send() cannot take a large reply
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
        return conn, peer


def close_listener(listener: socket.socket) -> None:
    """Close a listening socket and wake a thread blocked in its accept() (a plain close does not, on Linux)."""
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()


def small_listener() -> socket.socket:
    """A listener whose connections have a small receive buffer (they inherit it, and no autotuning grows
    it): a server that waits for its writes to drain then takes in little from a client that does not read."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener


class _LoopWatch:
    """Notices when the event loop stops running: a ticker that should wake every 10 ms."""

    def __init__(self):
        self.worst = 0.0
        self.task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            self.worst = max(self.worst, now - last - 0.01)
            last = now

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class HandlerHost:
    """The server side of the asyncio check: the student's handler, behind the course's watchers.

    It runs in the event loop of whoever starts it: the notebook's, or in a graded
    notebook the kernel's, for a check judged elsewhere (``handle_echo.host()``).
    """

    def __init__(self):
        self.errors: list[BaseException] = []
        self.writers: list = []
        self.buffered = 0

    @classmethod
    async def start(cls, handle_echo, listener: socket.socket | None = None) -> "HandlerHost":
        host = cls()

        async def serve(reader, writer) -> None:
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            host.writers.append(writer)
            try:
                await handle_echo(reader, writer)
            except Exception as exc:  # judged by the check, never printed
                host.errors.append(exc)
                writer.close()

        host.server = await asyncio.start_server(serve, sock=listener or small_listener())
        host.address = host.server.sockets[0].getsockname()[:2]
        host.watch = _LoopWatch()
        host.buffers = asyncio.get_running_loop().create_task(host._watch_buffers())
        return host

    async def _watch_buffers(self) -> None:
        while True:
            for writer in self.writers:
                with contextlib.suppress(Exception):
                    self.buffered = max(self.buffered, writer.transport.get_write_buffer_size())
            await asyncio.sleep(0.005)

    async def status(self) -> tuple[list[BaseException], float, int]:
        """What the handler raised, the loop's longest stop (s), the most bytes buffered for a client."""
        return list(self.errors), self.watch.worst, self.buffered

    async def stop(self) -> tuple[list[BaseException], float, int]:
        self.buffers.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.buffers
        await self.watch.stop()
        self.server.close()
        for writer in self.writers:  # a handler still waiting on its client ends now
            with contextlib.suppress(Exception):  # closed already
                writer.transport.abort()
        await asyncio.sleep(0)
        return await self.status()


# ---- in a notebook: a failed check is its one line, not a traceback -------------------------------


def show_in_notebook() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def short(shell, etype, value, tb, tb_offset=None):
        # Shown as the cell's error (the grader sees it as one); only the message, in red.
        shell._showtraceback(etype, value, [f"\x1b[31m{line}\x1b[0m" for line in str(value).splitlines()])

    shell.set_custom_exc((CheckFailed,), short)
