"""The judge: a graded notebook's checks, run in the grader's pytest process instead of the student's kernel.

The kernel runs the student's code and nothing of the check's. For each check
cell the graded notebook holds a *plan* (in the cell's metadata, which the
kernel never sees): the instructor's check code and the answers it calls.
While nbval runs that cell, its agent (:mod:`socketlab.instructor.agent`)
connects here and the judge runs the very same check functions, in this
process, with each answer replaced by a :class:`RemoteFunction` that asks the
kernel to call it. The clients, servers and proxies a check relies on, and the
code that compares what they saw, therefore live where no solution code can
reach them: this process is not dumpable and holds the verdict pipe.

What the kernel reports back (what a function returned or raised, that a
listener accepted) is the student's side of the story and only that; what
went over the wire the judge saw itself. The verdict for the cell is
``{"passed": bool, "message": str}``, recorded beside nbval's.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import itertools
import os
import socket
import struct
import sys
import tempfile
import threading
from types import SimpleNamespace

from ..checks import CheckFailed, harness
from ..i18n import _, use_language
from .agent import ENV
from .link import Link, decode, decode_error, encode

__all__ = ["Judge", "RemoteFunction"]

_REPLY_WAIT = 600.0  # a student's function may run this long before the link itself gives up
_FINISH_WAIT = 30.0
_MESSAGE_LIMIT = 4000  # a verdict's message, whatever the kernel told of its errors


class RemoteFunction:
    """A student's function that lives in the kernel: calling it asks the agent to call it there."""

    def __init__(self, session: "_Session", name: str, description: dict | None):
        self.session, self.name = session, name
        self.__name__ = name  # as the check cell calls it
        self.is_async = bool((description or {}).get("is_async"))

    def __call__(self, *args):
        fds: list[int] = []
        encoded = encode(list(args), fds)
        listeners = [a for a in args if isinstance(a, harness._Listener)]
        reply = self.session.request({"op": "call", "name": self.name, "args": encoded}, fds, listeners)
        return decode(reply.get("value"), [])

    async def host(self) -> "_RemoteHost":
        """The asyncio check's server: this handler, served by the kernel's own event loop."""
        listener = harness.small_listener()
        address = listener.getsockname()[:2]
        fds: list[int] = []
        spec = encode(listener, fds)
        key = next(self.session.ids)
        try:
            await asyncio.to_thread(self.session.request, {"op": "aserve", "name": self.name, "host": key,
                                                           "listener": spec}, fds)
        finally:
            listener.close()  # the kernel's copy serves; this one was only to hand it over
        return _RemoteHost(self.session, key, address)


class _RemoteHost:
    def __init__(self, session: "_Session", key: int, address):
        self.session, self.key, self.address = session, key, address

    async def _ask(self, op: str):
        reply = await asyncio.to_thread(self.session.request, {"op": op, "host": self.key})
        value = reply.get("value") or {}
        errors = [decode_error(e) for e in value.get("errors", []) if isinstance(e, dict)]
        return errors, float(value.get("lag", 0.0)), int(value.get("buffered", 0))

    async def status(self):
        return await self._ask("astatus")

    async def stop(self):
        return await self._ask("astop")


class _Session:
    """One check cell: the agent's link, the calls in flight, the events it sends."""

    def __init__(self, link: Link):
        self.link = link
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        self.pending: dict[int, list] = {}  # id -> [event, reply]
        self.listeners: dict[int, list] = {}
        self.closed = False
        self.verdict: dict | None = None  # the judge's, once its check is over
        self.reader = threading.Thread(target=self._read, name="judge-link", daemon=True)
        self.reader.start()

    def request(self, message: dict, fds: list[int] = (), listeners=()) -> dict:
        call_id = next(self.ids)
        slot = [threading.Event(), None]
        with self.lock:
            if self.closed:
                raise ConnectionError("the kernel's side of the check is gone")
            self.pending[call_id] = slot
            self.listeners[call_id] = list(listeners)
            self.link.send({**message, "id": call_id}, fds)
        if not slot[0].wait(_REPLY_WAIT):
            raise TimeoutError(f"the kernel did not answer within {_REPLY_WAIT:g} s")
        reply = slot[1]
        if reply is None:
            raise ConnectionError("the kernel's side of the check is gone")
        if reply.get("outcome") == "raised":
            raise decode_error(reply.get("error") or {})
        return reply

    def _read(self) -> None:
        try:
            while True:
                message, fds = self.link.receive()
                for fd in fds:
                    os.close(fd)  # the kernel has no business sending descriptors
                self._dispatch(message)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            with self.lock:
                self.closed = True
                for slot in self.pending.values():
                    slot[0].set()

    def _dispatch(self, message: dict) -> None:
        event, call_id = message.get("event"), message.get("id")
        if event == "accepted":
            for listener in self.listeners.get(call_id, []):
                listener.accepted.append(None)  # counted: the connection itself is the kernel's
        elif event == "thread-error":
            error = message.get("error") if isinstance(message.get("error"), dict) else {}
            hook = threading.excepthook
            if hook is not threading.__excepthook__:  # a check is listening (concurrency's _thread_errors)
                exc = decode_error(error)
                thread = SimpleNamespace(name=str(message.get("thread", "?"))[:100])
                hook(SimpleNamespace(exc_type=type(exc), exc_value=exc, exc_traceback=None, thread=thread))
        elif isinstance(call_id, int):
            with self.lock:
                slot = self.pending.pop(call_id, None)  # (its listeners stay: a server may go on accepting)
            if slot is not None:
                slot[1] = message
                slot[0].set()

    def close_remote(self) -> None:
        """The check closes what the student's code opened: the kernel closes its side too."""
        with contextlib.suppress(OSError), self.lock:
            if not self.closed:
                self.link.send({"op": "close"})

    def end(self, passed: bool, output: str, message: str) -> None:
        with contextlib.suppress(OSError), self.lock:
            if not self.closed:
                self.link.send({"op": "end", "passed": passed, "output": output, "message": message})

    def close(self) -> None:
        self.link.close()
        self.reader.join(10)


class _ThreadOutput(io.TextIOBase):
    """``sys.stdout`` while checks run: what a check's thread prints (its ``✔`` lines) goes to that
    check's own buffer, whatever other check is running beside it; anything else goes on as before."""

    _lock = threading.Lock()
    _buffers: dict[int, io.StringIO] = {}

    def __init__(self, original):
        self.original = original

    def write(self, text: str) -> int:
        buffer = self._buffers.get(threading.get_ident())
        return (buffer if buffer is not None else self.original).write(text)

    def flush(self) -> None:
        self.original.flush()

    @classmethod
    def capture(cls) -> io.StringIO:
        with cls._lock:
            if not isinstance(sys.stdout, cls):  # pytest puts its own back between cells
                sys.stdout = cls(sys.stdout)
            buffer = cls._buffers[threading.get_ident()] = io.StringIO()
        return buffer

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._buffers.pop(threading.get_ident(), None)


class Judge:
    """Listens for the kernel's agent; runs each planned cell's check; keeps its verdict."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="socketlab-judge-")
        self.path = os.path.join(self.folder, "judge.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(4)
        self.namespace: dict = {}  # the instructor's imports, kept from cell to cell
        self.plan: dict | None = None
        self.kernel_pid: int | None = None
        self.worker: threading.Thread | None = None
        self.session: _Session | None = None
        self.state = threading.Lock()
        os.environ[ENV] = self.path  # the kernel, started later, inherits it
        threading.Thread(target=self._accept, name="judge", daemon=True).start()

    def begin(self, plan: dict | None, kernel_pid: int | None = None) -> None:
        """A cell starts: its plan, or None for a cell with no check; the process its agent must be."""
        with self.state:
            self.plan, self.worker, self.session, self.kernel_pid = plan, None, None, kernel_pid

    def finish(self) -> dict | None:
        """The verdict on the cell begun last (None if it had no plan); a check still running is stopped."""
        with self.state:
            plan, worker, session = self.plan, self.worker, self.session
            self.plan = None  # no agent may start this cell's check from now on
        if plan is None:
            return None
        if worker is None:
            return {"passed": False, "message": "✘ " + _("the check never reached the grader")}
        worker.join(1)
        if worker.is_alive() and session is not None:
            session.close()  # the cell ended first: every call in flight fails, and the check with it
        worker.join(_FINISH_WAIT)
        # This cell's session only: a check of an earlier cell that is still running (a kernel may end
        # a cell before its check) decides nothing here.
        return session.verdict or {"passed": False, "message": "✘ " + _("the check did not finish")}

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.state:
                if self.plan is None or self.worker is not None or not self._from_kernel(conn):
                    conn.close()  # no check is due, this cell's agent came already, or it is not the kernel
                    continue
                conn.settimeout(None)
                self.session = _Session(Link(conn))
                worker = threading.Thread(target=self._judge, args=(self.session, self.plan),
                                          name="judge-check", daemon=True)
                worker.start()
                self.worker = worker  # only once started: a reader outside the lock may join it at once

    def _from_kernel(self, conn: socket.socket) -> bool:
        """Whether the peer is the kernel itself (not a program it started to stand in the agent's place)."""
        if self.kernel_pid is None or not hasattr(socket, "SO_PEERCRED"):
            return True  # (macOS: no peer credentials; the kernel's word counts for little anyway)
        pid, _uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                              struct.calcsize("3i")))
        return pid == self.kernel_pid

    def _judge(self, session: _Session, plan: dict) -> None:
        output = _ThreadOutput.capture()
        passed, message = False, ""
        harness.closers.append(session.close_remote)
        use_language(str(plan.get("language") or "en"))  # the edition's, as the notebook's checks speak it
        try:
            exec(compile(plan.get("preamble", ""), "<imports>", "exec"), self.namespace)
            names = [str(n) for n in plan.get("answers", [])]
            described = session.request({"op": "describe", "names": names}).get("functions", {}) if names else {}
            scope = {**self.namespace, **{n: RemoteFunction(session, n, described.get(n)) for n in names}}
            code = compile(plan["source"], "<check>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, scope)
            if inspect.iscoroutine(result):
                asyncio.run(result)
            passed = True
        except CheckFailed as exc:
            message = str(exc)
        except AssertionError as exc:
            message = f"✘ {exc}" if str(exc) else "✘ " + _("a check failed")
        except Exception as exc:
            message = "✘ " + _("the check could not run: {error}").format(error=f"{type(exc).__name__}: {exc}")
        finally:
            harness.closers.remove(session.close_remote)
            _ThreadOutput.release()
        message = message if len(message) <= _MESSAGE_LIMIT else message[:_MESSAGE_LIMIT] + "…"
        session.verdict = {"passed": passed, "message": message}
        if plan.get("hidden"):  # what a hidden test said, and how it failed, stay here
            session.end(passed, "", "" if passed else "✘ " + _("hidden tests failed"))
        else:
            session.end(passed, output.getvalue(), message)
        session.close()

    def close(self) -> None:
        self.listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self.folder)
