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
import ctypes
import errno
import gc
import ipaddress
import os
import re
import socket
import sys
import sysconfig
import threading
import time
import traceback
import warnings
from typing import Callable

__all__ = ["CheckFailed", "HandlerHost", "close_listener", "show_in_notebook", "Stopped", "stop_threads",
           "client_limits", "stale_definition"]

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


_NOT_STUDENTS = (_PACKAGE, os.path.dirname(os.__file__), *{sysconfig.get_paths()[k] for k in ("purelib", "platlib")})


def _is_students(filename: str) -> bool:
    """Is this code the student's (a notebook cell, a file of theirs), not the course's or a library's?"""
    return not filename.startswith(_NOT_STUDENTS)


def _student_frames(exc: BaseException) -> str:
    """The traceback of ``exc`` with only the student's frames (not the course's, not the standard library's)."""
    if getattr(exc, "remote_frames", None) is not None:  # raised in the kernel, judged elsewhere: as it was told
        return exc.remote_frames
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_students(f.filename)]
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


class _Connection(socket.socket):
    """A connection as a busy network gives it to the student's server: ``send()`` takes only part of
    what it is given (at most half), as it may whenever a buffer is nearly full. So an answer that
    ignores ``send()``'s count loses bytes every time, not once in a while; ``sendall()``, ``makefile()``
    and a loop on ``send()``'s count are unchanged."""

    __slots__ = ()

    def send(self, data, flags: int = 0) -> int:
        try:
            view = memoryview(data).cast("B")
        except (TypeError, ValueError):  # not bytes (a str): the error is socket.send's own
            return super().send(data, flags)
        return super().send(view[:max(1, (len(view) + 1) // 2)], flags)


def _on_listener(exc: OSError) -> OSError:
    exc.socket_role = "listener"  # which socket it was decides the hint (it crosses to the judge)
    return exc


class _Listener(socket.socket):
    """The listener a student's server gets: it remembers what it accepted (and can time it out).

    It only accepts, as any listening socket: ``recv`` or ``send`` on it fails at once with ENOTCONN,
    as it would on a listener with no timeout (this one has one, only so that a server waiting for a
    client who never comes gives up).
    """

    def __init__(self, *args, conn_timeout: float | None = None, send_buffer: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.accepted: list[socket.socket] = []
        self.conn_timeout = conn_timeout
        self.send_buffer = send_buffer
        self.on_accept: Callable[[], None] | None = None

    def accept(self):
        try:
            fd, peer = self._accept()
        except OSError as exc:
            raise _on_listener(exc)
        conn = _Connection(self.family, self.type, self.proto, fileno=fd)
        if socket.getdefaulttimeout() is None and self.gettimeout():
            conn.setblocking(True)  # as socket.accept() leaves it
        self.accepted.append(conn)
        if self.on_accept is not None:
            self.on_accept()
        if self.conn_timeout is not None:
            conn.settimeout(self.conn_timeout)
        if self.send_buffer is not None:  # a small buffer: a single send() cannot take a large reply
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
        return conn, peer

    def _not_connected(self, *args, **kwargs):
        raise _on_listener(OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN)))

    recv = recv_into = recvfrom = send = sendall = sendto = _not_connected


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
        status = await self.status()
        with warnings.catch_warnings():  # a read() that was never awaited: the check says so, Python need not
            warnings.simplefilter("ignore", RuntimeWarning)
            for exc in self.errors:  # (its frames hold that coroutine: cleared, it is collected here, not later)
                with contextlib.suppress(RuntimeError):
                    traceback.clear_frames(exc.__traceback__)
            gc.collect()
        return status


# ---- a student's code that runs on after its check: stopped, or the student told --------------------


class Stopped(SystemExit):
    """Raised inside a student's thread that a check gave up on: it ends the thread quietly (a thread
    that ends with SystemExit prints nothing), and ``except Exception`` in the student's loop does
    not catch it."""


def stop_threads(threads, wait: float = 1.0) -> list[threading.Thread]:
    """Stop ``threads`` (the student's, still running after their check): an exception raised inside
    each, again and again for ``wait`` seconds, once their sockets are closed. Returns those that
    are still alive: blocked in a call that never returns to Python (``time.sleep(600)``), or
    swallowing every exception; only a restart of the kernel ends them."""
    alive = [t for t in threads if t.is_alive() and t is not threading.current_thread()
             and t is not threading.main_thread()]
    deadline = time.monotonic() + wait
    while alive and time.monotonic() < deadline:
        for thread in alive:
            if thread.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(Stopped))
        for thread in alive:
            thread.join(0.02)
        alive = [t for t in alive if t.is_alive()]
    for thread in alive:  # (an exception still pending must not fire in it later, at a random place)
        if thread.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), None)
    return alive


def new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """The threads started since ``before`` that are running the student's code now (not a thread of the
    check's, nor an idle worker of a pool, which waits in the standard library and costs nothing)."""
    frames = sys._current_frames()

    def students(thread: threading.Thread) -> bool:
        frame = frames.get(thread.ident)
        while frame is not None:
            if _is_students(frame.f_code.co_filename):
                return True
            frame = frame.f_back
        return False

    return [t for t in threading.enumerate() if t not in before and students(t)]


# ---- the sockets a student's client connects: a send() that is short when a buffer is full ----------

_limits = {"armed": 0, "timeout": 10.0}
_limits_lock = threading.Lock()


def _limit_clients(event: str, args) -> None:
    if event != "socket.connect" or not _limits["armed"]:
        return
    sock, address = args
    try:
        if not (isinstance(address, tuple) and ipaddress.ip_address(address[0]).is_loopback):
            return
        # A small send buffer, and a time limit if it had none: a single send() then takes only what
        # fits (as on any busy network), instead of waiting until all of it went (as it does on a
        # socket with neither); every wait of the client's is bounded by its check's.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        if sock.gettimeout() is None:
            sock.settimeout(_limits["timeout"])
    except (OSError, ValueError, TypeError):
        pass


_hooked = False


@contextlib.contextmanager
def client_limits(timeout: float):
    """While a student's function runs: each socket its code connects to 127.0.0.1 (the check's server)
    gets a small send buffer and, if it has none, a time limit of ``timeout`` seconds."""
    global _hooked
    with _limits_lock:
        if not _hooked:
            sys.addaudithook(_limit_clients)  # (for the process's life: it does nothing unless armed)
            _hooked = True
        _limits["armed"] += 1
        _limits["timeout"] = timeout
    try:
        yield
    finally:
        with _limits_lock:
            _limits["armed"] -= 1


# ---- a function whose cell's last run failed: the check must not test the old one -------------------

_DEFINES = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+(\w+)", re.MULTILINE)
_before: dict[str, object] = {}  # while a cell runs: what the names it defines held before it
_stale: dict[str, tuple[object, str, int | None]] = {}  # name -> (the old function, the error, its line)


def _before_cell(info) -> None:
    source = getattr(info, "raw_cell", None) or ""
    namespace = _namespace()
    _before.clear()
    _before.update({name: namespace.get(name) for name in _DEFINES.findall(source)})


def _after_cell(result) -> None:
    """After each cell: which functions it meant to define anew and did not (it failed first)."""
    error = result.error_before_exec or result.error_in_exec
    namespace = _namespace()
    for name, old in _before.items():
        if error is not None and namespace.get(name) is old and old is not None:
            line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
            _stale[name] = (old, type(error).__name__, line)
        else:
            _stale.pop(name, None)
    _before.clear()


def _namespace() -> dict:
    with contextlib.suppress(Exception):
        from IPython import get_ipython
        return get_ipython().user_ns
    return {}


def stale_definition(function) -> tuple[str, int | None] | None:
    """If the last cell that defines ``function``'s name failed before defining it anew: that cell's
    error and its line (``("SyntaxError", 4)``); ``function`` is then the old one."""
    old, error, line = _stale.get(getattr(function, "__name__", None), (None, "", None))
    return (error, line) if old is not None and old is function else None


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
        # Shown as the cell's error (the grader sees it as one); only the message, in the theme's own
        # text colour: JupyterLab's ANSI red on its error background is 2.74:1 (light) and 3.89:1 (dark).
        shell._showtraceback(etype, value, str(value).splitlines())

    shell.set_custom_exc((CheckFailed,), short)
    if _after_cell not in shell.events.callbacks.get("post_run_cell", []):
        shell.events.register("pre_run_cell", _before_cell)
        shell.events.register("post_run_cell", _after_cell)
