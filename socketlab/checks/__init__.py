"""What check cells call: run a student's code safely, judge it, and say in one line what to fix.

A check runs the student's function in a thread of its own with a time limit,
talks to it over real sockets on 127.0.0.1, and fails with a
:class:`CheckFailed`: one short line (``✘ sent …, got back …: fix …``). In a
notebook that line is all the student sees, not a traceback through the
course's code; when the student's own code raised, its frames come with it.
When a check ends, every socket the student's code opened during it is closed
under it, so no loop of theirs spins on in the background.

An answer built on the course's own servers and clients is refused
(:func:`no_shortcuts`, see :mod:`socketlab.shortcuts`). The checks of each
notebook are in :mod:`.echo`, :mod:`.files` and :mod:`.concurrency`.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import select
import socket
import threading
import traceback
from typing import Callable, Iterator

from .. import shortcuts
from ..i18n import _, ngettext
from ..streams import close_with_reset

__all__ = ["CheckFailed", "Shortcut", "fail", "no_shortcuts", "student_server", "call_student", "preview",
           "send_slowly", "send_and_reset"]

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


class Shortcut(CheckFailed):
    """An answer that calls the course's reference implementation."""


def fail(text: str) -> None:
    raise CheckFailed(f"✘ {text}")


def preview(data, limit: int = 40) -> str:
    """``'Привіт…' (12 bytes)``: enough of a message to recognise it."""
    if isinstance(data, str):
        shown = data if len(data) <= limit else data[:limit] + "…"
        return ngettext("{text} ({n} character)", "{text} ({n} characters)", len(data)).format(
            text=repr(shown), n=len(data))
    head = bytes(data[:limit])
    try:
        shown = repr(head.decode("utf-8"))  # text, as the student sent it (a cut letter shows as bytes)
    except UnicodeDecodeError:
        shown = repr(head)
    return ngettext("{text} ({n} byte)", "{text} ({n} bytes)", len(data)).format(
        text=shown + ("…" if len(data) > limit else ""), n=len(data))


def no_shortcuts(function) -> None:
    """Fail with one line if ``function`` (or a function of the notebook it calls) uses the answer key."""
    used = shortcuts.in_function(function)
    if used:
        name = getattr(function, "__name__", None) or _("your function")
        raise Shortcut("✘ " + _("{name} uses {names} from the course: {fix}").format(
            name=name, names=", ".join(used), fix=fix_shortcut())) from None


def fix_shortcut() -> str:
    """:data:`socketlab.shortcuts.FIX` in the current language."""
    # TRANSLATORS: the same words as socketlab.shortcuts.FIX, said to an answer that calls the course's code.
    fixed = _("write it yourself with the socket module")
    return fixed if shortcuts.FIX == "write it yourself with the socket module" else shortcuts.FIX


def _student_frames(exc: BaseException) -> str:
    """The traceback of ``exc`` with only the student's frames (not the course's, not the standard library's)."""
    if getattr(exc, "remote_frames", None) is not None:  # raised in the kernel, judged elsewhere: as it was told
        return exc.remote_frames
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_PACKAGE) and not f.filename.startswith(os.path.dirname(os.__file__))]
    lines = [f"    {f.name}(), line {f.lineno}: {(f.line or '').strip()}" for f in frames[-4:]]
    return "\n".join(lines)


def raised(who: str, exc: BaseException, hint: str = "") -> CheckFailed:
    """The failure for a student function that raised: the error, the student's frames, a hint."""
    kind = getattr(exc, "type_name", None) or type(exc).__name__  # a class of the student's, raised in the kernel
    what = f"{kind}: {exc}" if str(exc) else kind
    frames = _student_frames(exc)
    line = (_("{who} raised {error}: {hint}") if hint else _("{who} raised {error}")).format(
        who=who, error=what, hint=hint)
    failure = CheckFailed(f"✘ {line}" + (f"\n{frames}" if frames else ""))
    failure.error = exc
    return failure


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


class Session:
    """What a check learns about a running student server."""

    def __init__(self, listener: _Listener):
        self.listener = listener
        self.address = listener.getsockname()[:2]
        self.failure: BaseException | None = None
        self.done = threading.Event()
        self.closing = False
        self.unaccepted = False

    @property
    def accepts(self) -> int:
        return len(self.listener.accepted)


@contextlib.contextmanager
def student_server(serve: Callable[[socket.socket], object], *, timeout: float = 5.0,
                   conn_timeout: float | None = None, send_buffer: int | None = None,
                   name: str | None = None) -> Iterator[Session]:
    """Run ``serve(listener)`` in a thread on a fresh 127.0.0.1 port; yield a :class:`Session`.

    If ``serve`` raises, the listener is closed at once and the check fails with
    that error and the student's frames. Leaving the block closes every socket
    the student's code opened and waits (bounded) for ``serve`` to end.
    """
    no_shortcuts(serve)
    name = name or getattr(serve, "__name__", None) or _("your server")
    before = _open_sockets()
    listener = _Listener(socket.AF_INET, socket.SOCK_STREAM, conn_timeout=conn_timeout, send_buffer=send_buffer)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(timeout)  # a serve() that waits for a client who never comes gives up
    session = Session(listener)

    def run() -> None:
        try:
            serve(listener)
        except BaseException as exc:  # reported in the main thread, never printed here
            if not session.closing:  # not an error of ours from closing its sockets after the check
                session.failure = exc
                session.unaccepted = _client_waiting(listener)
            listener.close()
        finally:
            session.done.set()

    thread = threading.Thread(target=run, name="student-server", daemon=True)
    thread.start()
    try:
        yield session
    except BaseException:
        if session.failure is not None:  # the student's error says more than what the client saw
            raise _failure(session, name) from None
        if session.accepts == 0 and _client_waiting(listener):  # it waits on a socket of its own
            raise _never_accepted(name) from None
        raise
    finally:
        session.done.wait(0.2)  # a server that returns by itself returns now
        finished = session.done.is_set()
        if not finished and session.accepts == 0:  # blocked on a socket of its own (the docs' example)?
            session.unaccepted = _client_waiting(listener)
        session.closing = True
        _close_new(before)
        listener.close()
        thread.join(2)
    if session.failure is not None:
        raise _failure(session, name) from None
    if not finished and session.unaccepted:
        raise _never_accepted(name)
    if not finished:
        fail(_("your {name} was still running after its last client left: it should return").format(name=name))


def _failure(session: Session, name: str) -> CheckFailed:
    # A listener of its own that nobody connects to times out; any other error,
    # raised before a client was accepted, says more than that the client waited.
    if session.accepts == 0 and session.unaccepted and (
            isinstance(session.failure, TimeoutError) or getattr(session.failure, "errno", None) == errno.EADDRINUSE):
        return _never_accepted(name)  # its own listener timed out, or its own port was taken
    return raised(_("your {name}").format(name=name), session.failure, _hint(session.failure))


def _client_waiting(listener: socket.socket) -> bool:
    """Is a client that the student's server never accepted still in the listener's queue?"""
    with contextlib.suppress(OSError, ValueError):
        return bool(select.select([listener], [], [], 0)[0])
    return False


def _never_accepted(name: str) -> CheckFailed:
    return CheckFailed("✘ " + _("your {name} never accepted a client on the listener it was given: call "
                                "listener.accept() (a socket of your own, on a port of your own, gets no "
                                "clients)").format(name=name))


def _hint(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return _("bytes are not text: a letter may be split between two recv()s, so do not decode the pieces")
    if isinstance(exc, OSError):
        return _("a client that vanishes or goes silent raises an OSError: catch it and go on")
    return ""


def call_student(function: Callable, *args, timeout: float = 10.0, on_timeout: str = ""):
    """``function(*args)`` in a thread, within ``timeout`` seconds; its sockets are closed if it overruns."""
    no_shortcuts(function)
    before = _open_sockets()
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(("ok", function(*args)))
        except BaseException as exc:
            outcome.append(("raised", exc))

    thread = threading.Thread(target=run, name="student-code", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        _close_new(before)
        thread.join(2)
        failure = CheckFailed("✘ " + (on_timeout or _("{name} did not return within {seconds:g} s").format(
            name=function.__name__, seconds=timeout)))
        failure.timed_out = True
        raise failure
    kind, value = outcome[0]
    if kind == "raised":
        raise raised(function.__name__, value) from None
    return value


def close_listener(listener: socket.socket) -> None:
    """Close a listening socket and wake a thread blocked in its accept() (a plain close does not, on Linux)."""
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()


# ---- clients that misbehave on purpose -------------------------------------------------------------


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
    close_with_reset(sock)


# ---- in a notebook: a failed check is its one line, not a traceback -------------------------------


def _show_in_notebook() -> None:
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


_show_in_notebook()
