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
import select
import socket
import threading
from typing import Callable, Iterator

from .. import shortcuts
from ..i18n import _, ngettext
from ..streams import close_with_reset
from .harness import (CheckFailed, _close_new, _Listener, _open_sockets, _student_frames,  # noqa: F401
                      close_listener, show_in_notebook)

__all__ = ["CheckFailed", "fail", "no_shortcuts", "student_server", "call_student", "preview",
           "send_slowly", "send_and_reset"]



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
    """Say in one line (before the check's own) if ``function`` uses the course's code, which the grader
    does not give it: here the check may pass, graded it will not (see :mod:`socketlab.shortcuts`)."""
    used = shortcuts.in_function(function)
    if used:
        name = getattr(function, "__name__", None) or _("your function")
        print("⚠ " + _("{name} uses {names}, which is not there when graded: there it fails this check; "
                       "write it yourself with the socket module").format(name=name, names=", ".join(used)))


def not_here(exc: BaseException | None) -> bool:
    """Whether ``exc`` is the course's code refusing to run where it is graded (socketlab.studentside)."""
    return exc is not None and "NotHereWhileGraded" in {getattr(exc, "type_name", None), type(exc).__name__}


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


show_in_notebook()
