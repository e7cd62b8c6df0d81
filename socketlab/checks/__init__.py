"""What check cells call: run a student's code safely, judge it, and say in one line what to fix.

A check runs the student's function in a thread of its own with a time limit,
talks to it over real sockets on 127.0.0.1, and fails with a
:class:`CheckFailed`: one short line (``✘ sent …, got back …: fix …``). In a
notebook that line is all the student sees, not a traceback through the
course's code; when the student's own code raised, its frames come with it.
The hint in that line comes from what happened (:func:`hint`: the errno, which
socket it was, what the check did), never from an exception's type alone.

When a check ends (:func:`stops_cleanly`), every socket the student's code
opened during it is closed under it, a thread of theirs still running is
stopped (or the student is told to restart the kernel), and the check's own
folders are removed. A function whose cell failed on its last run is not
checked in its old form (:func:`ready_to_check`); one that uses the course's
code is told it fails when graded (:func:`no_shortcuts`). The checks of each
notebook are in :mod:`.echo`, :mod:`.files`, :mod:`.concurrency` and :mod:`.scripts`."""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import re
import select
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator

from .. import shortcuts
from ..i18n import _, ngettext
from ..streams import close_with_reset
from .harness import (CheckFailed, _close_new, _Listener, _open_sockets, _student_frames,  # noqa: F401
                      client_limits, close_listener, closers, new_threads, show_in_notebook, stale_definition,
                      stop_threads)

__all__ = ["CheckFailed", "fail", "hint", "no_shortcuts", "ready_to_check", "stops_cleanly", "scratch_folder",
           "student_server", "call_student", "preview", "send_slowly", "send_and_reset"]



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


def ready_to_check(function) -> None:
    """Before a check runs ``function``: fail if its cell's last run failed (the function is then an
    old one, and a check of it would quote lines no longer there); advise if it uses the course's code."""
    stale = stale_definition(function)
    if stale is not None:
        error, line = stale
        where = (_("{error} on line {line}") if line else "{error}").format(error=error, line=line)
        fail(_("the cell that defines {name} did not run ({where}): fix it and run it again; "
               "until then this check would test the old {name}").format(name=function.__name__, where=where))
    no_shortcuts(function)


_scratch = threading.local()  # the folders the check running in this thread made


def scratch_folder() -> Path:
    """A folder of the check's own, removed when the check ends (see :func:`stops_cleanly`)."""
    path = Path(tempfile.mkdtemp(prefix="socketlab-check-"))
    _scratch.__dict__.setdefault("folders", []).append(path)
    return path


def stops_cleanly(check):
    """A check entry point: what the student's code left running is stopped when the check ends (or the
    student is told to restart the kernel), its folders are removed, and Kernel → Interrupt ends it in
    one line."""

    @contextlib.contextmanager
    def cleanly():
        before, failure = set(threading.enumerate()), None
        try:
            yield
        except KeyboardInterrupt:
            failure = CheckFailed("✘ " + _("the check was interrupted; run it again when your code is ready"))
            raise failure from None
        except CheckFailed as exc:
            failure = exc
            raise
        finally:
            _finish(before, failure)

    if inspect.iscoroutinefunction(check):
        @functools.wraps(check)
        async def run_async(*args, **kwargs):
            with cleanly():
                return await check(*args, **kwargs)
        return run_async

    @functools.wraps(check)
    def run(*args, **kwargs):
        with cleanly():
            return check(*args, **kwargs)
    return run


def _finish(before: set, failure: CheckFailed | None) -> None:
    for folder in _scratch.__dict__.pop("folders", []):
        shutil.rmtree(folder, ignore_errors=True)
    if closers:  # judged from another process: the student's threads are its kernel's, which stops them
        return
    stuck = stop_threads(new_threads(before))
    if stuck:
        line = ngettext("your code is still running in the background ({count} thread that cannot be stopped): "
                        "restart the kernel (Kernel → Restart) before you run this check again",
                        "your code is still running in the background ({count} threads that cannot be stopped): "
                        "restart the kernel (Kernel → Restart) before you run this check again",
                        len(stuck)).format(count=len(stuck))
        if failure is None:
            print("⚠ " + line)
        else:
            failure.args = (f"{failure}\n{line}",)


def not_here(exc: BaseException | None) -> bool:
    """Whether ``exc`` is the course's code refusing to run where it is graded (socketlab.studentside)."""
    return exc is not None and "NotHereWhileGraded" in {getattr(exc, "type_name", None), type(exc).__name__}


_FRAME_LINE = re.compile(r"\(\), line (\d+): ")


def raised(who: str, exc: BaseException, hint: str = "") -> CheckFailed:
    """The failure for a student function that raised: the error, the student's frames, a hint."""
    kind = getattr(exc, "type_name", None) or type(exc).__name__  # a class of the student's, raised in the kernel
    what = f"{kind}: {exc}" if str(exc) else kind
    # The kernel's side knows no language (harness.py imports none): its "f(), line 3: …" lines, told here.
    frames = _FRAME_LINE.sub(lambda m: "(), " + _("line {n}").format(n=m.group(1)) + ": ", _student_frames(exc))
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
                   name: str | None = None, vanishing: bool = False, timeout_hint: str = "") -> Iterator[Session]:
    """Run ``serve(listener)`` in a thread on a fresh 127.0.0.1 port; yield a :class:`Session`.

    If ``serve`` raises, the listener is closed at once and the check fails with
    that error and the student's frames. Leaving the block closes every socket
    the student's code opened and waits (bounded) for ``serve`` to end.
    ``vanishing``: the check sends clients that crash or go silent (an OSError
    from one of them then gets the hint to catch it and go on). ``timeout_hint``:
    what a TimeoutError of the server's means in this check, where its client
    sends all it should (the server waited for bytes that were never due).
    """
    ready_to_check(serve)
    name = name or getattr(serve, "__name__", None) or _("your server")
    before = _open_sockets()
    listener = _Listener(socket.AF_INET, socket.SOCK_STREAM, conn_timeout=conn_timeout, send_buffer=send_buffer)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(timeout)  # a serve() that waits for a client who never comes gives up
    session = Session(listener)
    session.vanishing, session.timeout_hint = vanishing, timeout_hint

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
    why = session.timeout_hint if isinstance(session.failure, TimeoutError) else ""
    return raised(_("your {name}").format(name=name), session.failure,
                  why or hint(session.failure, vanishing=session.vanishing))


def _client_waiting(listener: socket.socket) -> bool:
    """Is a client that the student's server never accepted still in the listener's queue?"""
    with contextlib.suppress(OSError, ValueError):
        return bool(select.select([listener], [], [], 0)[0])
    return False


def _never_accepted(name: str) -> CheckFailed:
    return CheckFailed("✘ " + _("your {name} never accepted a client on the listener it was given: call "
                                "listener.accept() (a socket of your own, on a port of your own, gets no "
                                "clients)").format(name=name))


CLOSED = {errno.EBADF, getattr(errno, "WSAENOTSOCK", 10038)}  # a socket used after it was closed
GONE = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, getattr(errno, "WSAECONNRESET", 10054),
        getattr(errno, "WSAECONNABORTED", 10053)}  # the client at the other end crashed or left


def hint(exc: BaseException, *, vanishing: bool = False) -> str:
    """What to fix, from what happened: the errno, which socket it was, what the check did (``vanishing``:
    it sent clients that crash or go silent). Nothing rather than a guess: a wrong hint is worse."""
    code, role = getattr(exc, "errno", None), getattr(exc, "socket_role", None)
    if isinstance(exc, UnicodeDecodeError):
        return _("bytes are not text: a letter may be split between two recv()s, so do not decode the pieces")
    if role == "listener" and code in CLOSED:
        return _("the listener was closed (with listener: closes it when its block ends): keep it open for the "
                 "next client, and close only each conn")
    if role == "listener":
        return _("that is the listener, which only accepts: receive from and send to the socket that "
                 "accept() returned (conn, addr = listener.accept())")
    if code in CLOSED:
        return _("a socket was used after it was closed (with conn: closes it at the end of its block)")
    if vanishing and (code in GONE or isinstance(exc, TimeoutError)):
        return _("a client that crashes or goes silent raises an OSError: catch it (try: … except OSError:) "
                 "and serve the next client")
    if isinstance(exc, TypeError) and "coroutine" in str(exc):
        return _("that is a coroutine, not bytes: await it (data = await reader.read(4096))")
    if isinstance(exc, TypeError) and "not 'str'" in str(exc):
        return _("a socket sends bytes, not text: encode it first (message.encode('utf-8'))")
    return ""


def call_student(function: Callable, *args, timeout: float = 10.0, on_timeout: str = ""):
    """``function(*args)`` in a thread, within ``timeout`` seconds; its sockets are closed if it overruns
    (and the thread is stopped when the check ends, see :func:`stops_cleanly`)."""
    ready_to_check(function)
    before = _open_sockets()
    outcome: list = []

    def run() -> None:
        try:
            with client_limits(timeout):
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
        raise raised(function.__name__, value, hint(value)) from None
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
