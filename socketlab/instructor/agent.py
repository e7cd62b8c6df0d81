"""The kernel's half of a judged check: it runs the student's functions when the judge asks, and nothing else.

In a graded notebook each check cell calls :func:`serve` (or awaits
:func:`serve_async`). The agent connects to the judge (the grader's pytest
process, see :mod:`socketlab.instructor.judge`), which runs the check and, for
each student function the check calls, sends the call's arguments; sockets come
as descriptors of the judge's own connections. The agent calls the function in a
thread of its own and sends back what it returned or raised. At the end it
shows the judge's lines: ``✔ …`` printed, ``✘ …`` raised, as a check shows them.

Nothing decided here counts: the verdict is the judge's, and everything sent
to the student's side is only the check's arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading

from ..checks.harness import (CheckFailed, HandlerHost, _close_new, _Listener, _open_sockets, _student_frames,
                              client_limits, close_listener, new_threads, show_in_notebook, stop_threads)
from .link import Link, decode, encode, encode_error

__all__ = ["serve", "serve_async", "ENV"]

ENV = "SOCKETLAB_JUDGE"  # the path of the judge's socket
show_in_notebook()  # a failed check is its one line (the graded kernel has no socketlab.checks to do it)
_WAIT = 600.0  # the longest a check may leave the agent waiting for its next word


def serve(namespace: dict) -> None:
    """Serve the judge for one check cell; ``namespace`` is the notebook's globals."""
    _show(_Agent(namespace, None).run())


async def serve_async(namespace: dict) -> None:
    """:func:`serve` in a cell that awaits: the kernel's event loop runs on meanwhile."""
    agent = _Agent(namespace, asyncio.get_running_loop())
    _show(await asyncio.to_thread(agent.run))


def _show(end: dict) -> None:
    """The judge's last word, as a check shows it: its lines printed, a failure raised."""
    if end.get("output"):
        print(end["output"], end="")
    if not end.get("passed"):
        raise CheckFailed(str(end.get("message") or "✘ the check failed"))


class _Agent:
    def __init__(self, namespace: dict, loop):
        self.namespace = namespace
        self.loop = loop
        self.lock = threading.Lock()
        self.passed: dict[int, list[socket.socket]] = {}  # call id -> the sockets the judge handed it
        self.hosted: dict[int, object] = {}

    def reply(self, message: dict) -> None:
        with self.lock:
            self.link.send(message)

    def run(self) -> dict:
        path = os.environ.get(ENV)
        if not path:
            raise CheckFailed("✘ this notebook's checks are judged by the grader, and no grader is running")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(_WAIT)
        sock.connect(path)
        self.link = Link(sock)
        self.before = _open_sockets()  # what existed before: the student's sockets are the ones after
        self.threads = set(threading.enumerate())  # ...and the student's threads too
        previous_hook = threading.excepthook
        threading.excepthook = self.thread_died
        try:
            end = self.listen()
        finally:
            threading.excepthook = previous_hook
            self.close_all()
            self.link.close()
        return end

    def listen(self) -> dict:
        while True:
            message, fds = self.link.receive()
            op = message.get("op")
            if op == "end":
                return message
            if op == "describe":
                self.reply({"id": message.get("id"),
                            "functions": {name: self.describe(name) for name in message.get("names", [])}})
            elif op == "call":
                threading.Thread(target=self.call, args=(message, fds), daemon=True,
                                 name=f"student-call-{message.get('id')}").start()
            elif op == "close":
                self.close_all()
            elif op in ("aserve", "astatus", "astop") and self.loop is not None:
                threading.Thread(target=self.hosting, args=(message, fds), daemon=True).start()
            else:
                for fd in fds:
                    os.close(fd)

    def describe(self, name: str):
        value = self.namespace.get(name)
        if not callable(value):
            return None
        return {"is_async": asyncio.iscoroutinefunction(value)}

    def sockets(self, call_id: int, fds: list[int]):
        def make(fd: int, spec: dict) -> socket.socket:
            if "conn_timeout" in spec:  # a listener: note each accept for the judge
                sock = _Listener(fileno=fd, conn_timeout=spec.get("conn_timeout"), send_buffer=spec.get("send_buffer"))
                sock.on_accept = lambda: self.reply({"event": "accepted", "id": call_id})
            else:
                sock = socket.socket(fileno=fd)
            sock.settimeout(spec.get("timeout"))  # as the judge's end has it (their description is shared)
            self.passed.setdefault(call_id, []).append(sock)
            return sock
        return make

    def call(self, message: dict, fds: list[int]) -> None:
        call_id = message.get("id")
        function = self.namespace.get(message.get("name"))
        try:
            args = decode(message.get("args", []), fds, self.sockets(call_id, fds))
            if function is None:
                raise NameError(f"name {message.get('name')!r} is not defined: run the cell that defines it")
            with client_limits(10.0):  # (a bound of its own; the judge keeps the call's)
                outcome = {"outcome": "ok", "value": encode(function(*args), [])}
        except BaseException as exc:  # sent to the judge, never printed here
            outcome = {"outcome": "raised", "error": encode_error(exc, _student_frames(exc))}
        finally:
            for sock in self.passed.pop(call_id, []):
                sock.close()  # our copy only: the judge's end stays open
        with contextlib.suppress(OSError):
            self.reply({"id": call_id, **outcome})

    def hosting(self, message: dict, fds: list[int]) -> None:
        """The asyncio check's server, in the kernel's own event loop."""
        call_id, op, key = message.get("id"), message.get("op"), message.get("host")
        try:
            if op == "aserve":
                listener = decode(message.get("listener"), fds, self.sockets(call_id, fds))
                self.passed.pop(call_id, None)  # the server owns it now, and closes it when it stops
                handler = self.namespace.get(message.get("name"))
                self.hosted[key] = self.in_loop(HandlerHost.start(handler, listener))
                result = {}
            else:
                host = self.hosted[key]
                errors, lag, buffered = self.in_loop(host.stop() if op == "astop" else host.status())
                result = {"errors": [encode_error(e, _student_frames(e)) for e in errors], "lag": lag,
                          "buffered": buffered}
            outcome = {"outcome": "ok", "value": result}
        except BaseException as exc:
            outcome = {"outcome": "raised", "error": encode_error(exc, _student_frames(exc))}
        with contextlib.suppress(OSError):
            self.reply({"id": call_id, **outcome})

    def in_loop(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def thread_died(self, args) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        with contextlib.suppress(OSError):
            self.reply({"event": "thread-error", "thread": getattr(args.thread, "name", "?"),
                        "error": encode_error(args.exc_value, _student_frames(args.exc_value))})

    def close_all(self) -> None:
        """Close every socket the student's code opened, and the judge's sockets it was handed; then stop
        the student's threads that run on (a loop with no end would burn the kernel's CPU for later cells)."""
        for socks in list(self.passed.values()):
            for sock in socks:
                close_listener(sock)  # shutdown wakes a thread blocked on it, in accept() too
        _close_new(self.before)  # (the link itself is in it: it was open before)
        stop_threads(new_threads(self.threads), wait=0.5)
