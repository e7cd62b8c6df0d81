"""The ``Server`` base: bind, serve in a background thread, stop, record events.

Every server in the course keeps one contract (after ``socketserver``):

* ``Server(host="127.0.0.1", port=0)``; port 0 picks a free port and
  ``.address`` gives the real ``(host, port)`` once started.
* ``start()`` returns once the socket listens; ``stop()`` returns within
  100 ms and frees the port; both may be called twice; ``with`` works too.
* Subclasses override one hook, ``handle(conn, client_id)`` (the others are
  listed in the :class:`Server` docstring).  A client that misbehaves is
  recorded as an event and the server goes on.
* Servers are kept in a registry by ``name``: starting a server whose name is
  taken stops the old one first, so re-running a notebook cell is safe, and
  :func:`stop_all` stops everything.
* The serving thread never prints: it records events ``(t, client_id, kind,
  nbytes, detail)`` that a cell, a widget or the CLI shows.
"""

from __future__ import annotations

import collections
import itertools
import math
import selectors
import socket
import sys
import threading
import time
import traceback
from typing import Callable, NamedTuple

from .i18n import N_, _, ngettext
from .streams import DeadlineExceeded, address_of, extend_deadline, with_deadline

__all__ = ["Event", "Server", "ThreadingMixIn", "DeadlineExceeded", "running_servers", "stop_all",
           "format_event", "preview", "address_of", "extend_deadline"]


class Event(NamedTuple):
    t: float  # seconds since the server started
    client_id: int  # 0 for the server itself, then 1, 2, 3... per connection
    kind: str  # listen, accept, recv, send, close, timeout, error, stop, ...
    nbytes: int = 0
    detail: str = ""


def format_event(event: Event, role: str = "server") -> str:
    """One log line naming the role and the connection: ``echo-server #3 recv 5 bytes``."""
    who = role if event.client_id == 0 else f"{role} #{event.client_id}"
    parts = [f"{event.t:8.3f}s", who, kind_label(event.kind)]
    if event.nbytes:
        parts.append(ngettext("{n} byte", "{n} bytes", event.nbytes).format(n=event.nbytes))
    if event.detail:
        parts.append(event.detail)
    return " ".join(parts)


NO_REPLY = N_("the server closed the connection without a reply")  # _(NO_REPLY) where used


# What each kind of event is called in a log: the socket calls keep their names (accept, recv…),
# the rest are words, in the student's language.
_KIND_LABELS = {"timeout": N_("timeout"), "error": N_("error"), "stop": N_("stop"), "header": N_("header"),
                "ready": N_("ready"), "saved": N_("saved"), "body": N_("body"), "progress": N_("progress"),
                "cleanup": N_("cleanup")}


def kind_label(kind: str) -> str:
    return _(_KIND_LABELS[kind]) if kind in _KIND_LABELS else kind


def notify(listeners, event: Event) -> None:
    """Hand ``event`` to each listener, in the thread that recorded it."""
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            pass  # a broken listener must never break the server


def from_peer(peer) -> str:
    """An accept event's detail: who connected."""
    return _("from {address}").format(address=f"{peer[0]}:{peer[1]}")


def idle_dropped(seconds: float) -> str:
    return _("idle for {seconds} s, dropped").format(seconds=f"{seconds:g}")


def stopping_dropped() -> str:
    return _("dropped: server stopping")


def preview(data: bytes, width: int = 24) -> str:
    """A short printable look at some bytes, for event details."""
    text = data[: width * 4].decode("utf-8", errors="replace")
    return repr(text if len(text) <= width else text[:width] + "…")


_registry: dict[str, "Server"] = {}
_registry_lock = threading.Lock()  # guards _registry itself; held only for a moment
# Held while a start looks up the name, stops the old holder, binds and registers: two
# cells starting the same name at once must end with one server, not two.
_naming_lock = threading.Lock()


def running_servers() -> list["Server"]:
    """The servers started in this process that have not stopped yet."""
    with _registry_lock:
        return list(_registry.values())


def take_name(holder, bind: Callable[[], None]) -> None:
    """Give ``holder`` its ``name`` in the registry: stop the running server that has it, then ``bind()``,
    then register; all at once, so two cells starting the same name end with one server. Any server
    kind may use it (it needs only ``name`` and ``stop()``)."""
    with _naming_lock:
        with _registry_lock:
            old = _registry.get(holder.name)
        if old is not None and old is not holder:
            old.stop()
        bind()
        with _registry_lock:
            _registry[holder.name] = holder


def release_name(holder) -> None:
    """Take ``holder`` out of the registry, if its name is still its own."""
    with _registry_lock:
        if _registry.get(holder.name) is holder:
            del _registry[holder.name]


def _positive(seconds) -> bool:
    return isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0


def stop_all(timeout: float = 1.0) -> int:
    """Stop every running server; returns how many were stopped."""
    servers = running_servers()
    for server in servers:
        server.stop(timeout)
    return len(servers)


_DEFAULT = object()


def reuse_address_option() -> int | None:
    """The socket option that lets a restarted server bind its port at once, or None.

    Linux, macOS and the BSDs: ``SO_REUSEADDR``, so a port whose old connections sit
    in TIME_WAIT can be bound again; a second server on the same address is still
    refused (on macOS and the BSDs, though not on Linux, 127.0.0.1:p and 0.0.0.0:p may
    then be bound side by side).
    Windows (and Cygwin): none, as ``socket.create_server`` does.  There SO_REUSEADDR
    would let a second server bind the very port the first listens on, and the default
    already binds past TIME_WAIT.  SO_EXCLUSIVEADDRUSE is not set either: with it, a
    port cannot be bound again until the connections the old server accepted are gone,
    so re-running a cell would fail (libuv leaves it off for the same reason).
    """
    if sys.platform in ("win32", "cygwin"):
        return None
    return getattr(socket, "SO_REUSEADDR", None)


class Server:
    """A TCP server that serves clients one after another in a daemon thread.

    Hooks a subclass may override (the rest is the lifecycle every server shares):

    * ``handle(conn, client_id)``: talk to one client; the only one most servers need.
    * ``process_connection(conn, peer, client_id)``: where a connection is served;
      the base serves it at once, in the serving thread; :class:`ThreadingMixIn`
      starts a thread; an event-loop server registers it with the selector.
    * ``handle_error(client_id, exc)``: record a client's failure (with its traceback).
    * ``select_timeout()``: how long the serving loop may wait for the next event.
    * ``service_actions()``: called after each round of events, in the serving
      thread (as in ``socketserver``): an event-loop server drops idle clients here.
    * ``server_close()``: called once when serving ends, in the thread that ends
      it, before the listening socket closes: close what the subclass owns.

    ``deadline`` bounds how long one connection may stay open in total (the idle
    timeout bounds each wait): a sequential server's default is 30 s, so that a
    client trickling a byte now and then cannot keep the others out forever.
    """

    role = "server"  # names the server in log lines and is the default registry name
    default_deadline: float | None = 30.0  # seconds per connection; None: no limit

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        name: str | None = None,
        idle_timeout: float = 30.0,
        deadline=_DEFAULT,
        max_clients: int | None = None,
        backlog: int = 128,
        log_size: int = 10_000,
    ):
        if not _positive(idle_timeout):
            raise ValueError("idle_timeout must be a positive number of seconds")
        if deadline is _DEFAULT:
            deadline = self.default_deadline
        if deadline is not None and not _positive(deadline):
            raise ValueError("deadline must be None (no limit) or a positive number of seconds")
        if max_clients is not None and max_clients < 1:
            raise ValueError("max_clients must be None (serve forever) or at least 1")
        self.host = host
        self.port = port
        self.name = name or self.role
        self.idle_timeout = idle_timeout
        self.deadline = deadline
        self.max_clients = max_clients
        self.backlog = backlog
        self._events: collections.deque[Event] = collections.deque(maxlen=log_size)
        self._events_lock = threading.Lock()
        self._listeners: list[Callable[[Event], None]] = []
        # client_id -> the formatted traceback of what went wrong with that client
        self.tracebacks: collections.OrderedDict[int, str] = collections.OrderedDict()
        self._client_ids = itertools.count(1)
        self._conns: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()  # ThreadingMixIn's client threads
        self._conns_lock = threading.Lock()
        self._current = threading.local()  # .conn: the connection this thread is serving
        self._close_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._selector = self._wake_r = self._wake_w = None
        self._started = False
        self._start_done = threading.Event()  # start() has succeeded or failed
        self._stopping = threading.Event()
        self._finished = threading.Event()
        self._t0 = time.monotonic()
        self.served = 0  # connections accepted so far

    # ---- the hook subclasses override -------------------------------------

    def handle(self, conn: socket.socket, client_id: int) -> None:
        """Talk to one client.  ``conn`` has the idle timeout set; just return when done."""
        raise NotImplementedError

    # ---- lifecycle ---------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """The real ``(host, port)``; only known once started."""
        if self._listener is None:
            raise RuntimeError(f"{self.name} is not started: call start() first")
        return self._address

    @property
    def running(self) -> bool:
        return self._started and not self._finished.is_set()

    def start(self) -> "Server":
        """Bind, listen and serve in a background thread; returns once listening."""
        if self._started:
            if self.running:
                return self
            raise RuntimeError(f"{self.name} has stopped; create a new server to serve again")
        self._open()
        try:
            self._wake_r, self._wake_w = socket.socketpair()
            self._selector = selectors.DefaultSelector()
            self._selector.register(self._listener, selectors.EVENT_READ)
            self._selector.register(self._wake_r, selectors.EVENT_READ)
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._serve, args=(ready,), name=f"{self.name}-serve", daemon=True
            )
            self._thread.start()
            if not ready.wait(timeout=5.0):
                raise RuntimeError(f"{self.name}: serving thread did not start within 5 s")
        except BaseException:
            self._abort_start()
            raise
        finally:
            self._start_done.set()
        return self

    def _open(self) -> None:
        """Take the name (stopping a running server that has it), bind, listen, record "listen"."""
        def bind() -> None:
            self._listener = self._bind()
            self._address = self._listener.getsockname()[:2]
            self._t0 = time.monotonic()
            self._started = True

        take_name(self, bind)
        self.log(0, "listen", detail=f"{self._address[0]}:{self._address[1]}")

    def _abort_start(self) -> None:
        """Undo a start that failed half-way: free the port, leave the registry, count as stopped."""
        self._stopping.set()
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"x")  # a serving thread that did start ends at once
            except OSError:
                pass
        if self._thread is not None and self._thread.ident is not None:
            self._thread.join(1.0)
        self._close()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        reuse = reuse_address_option()
        try:
            if reuse is not None:
                sock.setsockopt(socket.SOL_SOCKET, reuse, 1)
            sock.bind((self.host, self.port))
            sock.listen(self.backlog)
        except OSError as exc:
            sock.close()
            holder = next((s.name for s in running_servers() if isinstance(s, Server) and s._address[1] == self.port),
                          None)  # (a UDP server's port is another port)
            why = f" by the running server {holder!r} (stop it first)" if holder else ""
            raise OSError(
                exc.errno, f"cannot listen on {self.host}:{self.port}: {exc.strerror}{why}; "
                "port=0 picks a free port"
            ) from None
        sock.setblocking(False)
        return sock

    def stop(self, timeout: float = 1.0) -> None:
        """Stop serving, drop open connections and free the port.  Safe to call twice.

        From one of the server's own threads (a handler that decides to stop the
        server) it frees the port and returns at once: the serving thread ends
        the rest once that handler returns.
        """
        if not self._started or self._finished.is_set():
            return
        self._start_done.wait(timeout + 5.0)  # another thread may be starting us right now
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except (OSError, AttributeError):
            pass  # already closed (the thread has finished), or never made (a failed start)
        with self._conns_lock:
            for conn in self._conns:
                if conn is getattr(self._current, "conn", None):
                    continue  # a handler stopping its server may still say goodbye to its client
                # Wakes a handler blocked in recv()/send() on this connection.
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            own_thread = threading.current_thread() in (self._thread, *self._workers)
        if own_thread:  # joining ourselves would only wait out the timeout
            self._release_name_and_port()
            return
        if self._thread is not None and self._thread.ident is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self.log(0, "error", detail=_("serving thread still busy after {seconds} s").format(seconds=timeout))
        self._close()

    def clock(self) -> float:
        """Seconds since the server started: the time base of its events."""
        return time.monotonic() - self._t0

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the server stops (e.g. after ``max_clients``); True if it has."""
        return self._finished.wait(timeout)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self._address[0]}:{self._address[1]}" if self._listener else _("not started")
        state = _("running") if self.running else _("stopped")
        served = ngettext("{n} served", "{n} served", self.served).format(n=self.served)
        return f"<{type(self).__name__} {self.name!r} {where} {state}, {served}>"

    def server_close(self) -> None:
        """Hook: close what a subclass owns.  Called once when serving ends, after the port is freed."""

    def still_serving(self) -> bool:
        """Whether a thread of this server other than the caller's may still be in a handler."""
        me = threading.current_thread()
        with self._conns_lock:
            threads = [self._thread, *self._workers]
        return any(t is not None and t is not me and t.is_alive() for t in threads)

    def _release_name_and_port(self) -> None:
        if self._listener is not None:
            self._listener.close()  # the port is free from here on
        release_name(self)

    def _close(self) -> None:
        with self._close_lock:
            if self._finished.is_set():
                return
            self._release_name_and_port()
            self._join_workers(timeout=1.0)
            try:
                self.server_close()
            finally:
                for resource in (self._selector, self._wake_r, self._wake_w):
                    if resource is not None:
                        resource.close()
                self.log(0, "stop", detail=ngettext("{n} client served", "{n} clients served", self.served).format(n=self.served))
                self._finished.set()

    def _join_workers(self, timeout: float) -> None:
        """Wait for ThreadingMixIn's client threads (stop() has woken them): "stop" comes last."""
        deadline = time.monotonic() + timeout
        with self._conns_lock:
            workers = [w for w in self._workers if w is not threading.current_thread()]
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    # ---- the serving thread ------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        ready.set()
        try:
            while not self._stopping.is_set():
                for key, mask in self._selector.select(self.select_timeout()):
                    if key.fileobj is self._wake_r:
                        return
                    if key.fileobj is self._listener:
                        self._accept_one()
                    else:
                        key.data(mask)  # a connection of an event-loop server is ready
                    if self.max_clients is not None and self.served >= self.max_clients:
                        return
                self.service_actions()
        except (OSError, ValueError):
            if not self._stopping.is_set():
                raise  # a real failure, not stop() closing the sockets under us
        finally:
            self._close()

    def select_timeout(self) -> float | None:
        """Hook: how long the serving loop may wait for the next event (None: until one comes)."""
        return None

    def service_actions(self) -> None:
        """Hook: called after each round of events: an event-loop server drops idle clients here."""

    def _accept_one(self) -> None:
        try:
            conn, peer = self._listener.accept()
        except BlockingIOError:
            return  # the client gave up between select() and accept()
        except OSError as exc:  # e.g. too many open files: record it and back off a little
            self.log(0, "error", detail=_("accept failed: {error}").format(error=exc))
            self._stopping.wait(0.05)
            return
        self.served += 1
        self.process_connection(conn, peer, next(self._client_ids))

    def process_connection(self, conn: socket.socket, peer, client_id: int) -> None:
        """Serve one connection.  The sequential server does it right here, in order."""
        self.handle_connection(conn, peer, client_id)

    def handle_connection(self, conn: socket.socket, peer, client_id: int) -> None:
        """setup / handle / finish: whatever the client does, the connection is closed."""
        if self.deadline is not None:
            conn = with_deadline(conn, self.deadline)
        with self._conns_lock:
            self._conns.add(conn)
        self._current.conn = conn
        try:
            if self._stopping.is_set():
                return  # accepted while stop() ran: it may not have seen this connection
            conn.settimeout(self.idle_timeout)
            self.log(client_id, "accept", detail=from_peer(peer))
            self.handle(conn, client_id)
        except DeadlineExceeded:
            self.log(client_id, "timeout", detail=_("open for over the {seconds} s deadline, dropped").format(seconds=f"{self.deadline:g}"))
        except TimeoutError:
            self.log(client_id, "timeout", detail=idle_dropped(self.idle_timeout))
        except Exception as exc:
            self.handle_error(client_id, exc)
        finally:
            self._current.conn = None
            with self._conns_lock:
                self._conns.discard(conn)
            conn.close()
            self.log(client_id, "close")

    def handle_error(self, client_id: int, exc: Exception) -> None:
        """Record what went wrong with one client; the server goes on.

        The event's detail ends with where it was raised; the whole traceback is
        kept in ``server.tracebacks[client_id]`` for a cell to print.
        """
        if self._stopping.is_set() and isinstance(exc, OSError):
            self.log(client_id, "error", detail=stopping_dropped())
            return
        detail = f"{type(exc).__name__}: {exc}"
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            detail += f" (in {frames[-1].name}, {frames[-1].filename}:{frames[-1].lineno})"
        with self._events_lock:
            self.tracebacks[client_id] = "".join(traceback.format_exception(exc))
            while len(self.tracebacks) > 100:
                self.tracebacks.popitem(last=False)
        self.log(client_id, "error", detail=detail)

    # ---- events ------------------------------------------------------------

    def log(self, client_id: int, kind: str, nbytes: int = 0, detail: str = "") -> Event:
        """Record an event; listeners get it in the thread that recorded it."""
        event = Event(round(self.clock(), 6), client_id, kind, nbytes, detail)
        with self._events_lock:
            self._events.append(event)
            listeners = list(self._listeners)
        notify(listeners, event)
        return event

    @property
    def events(self) -> list[Event]:
        """A copy of the recorded events, oldest first (the log keeps the newest ``log_size``)."""
        with self._events_lock:
            return list(self._events)

    def clear_events(self) -> None:
        with self._events_lock:
            self._events.clear()

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener(event)`` for every new event; returns a function that unsubscribes.

        The listener runs in the server's thread: it should only hand the event
        on (put it in a queue, assign a widget value), never print.
        """
        with self._events_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._events_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe


class ThreadingMixIn:
    """Serve each client in a thread of its own (as ``socketserver.ThreadingMixIn``).

    ``class ThreadingEchoServer(ThreadingMixIn, EchoServer)``: the accept loop
    hands each connection to a new thread and goes straight back to accept.
    ``stop()`` also waits (within its timeout) for those threads.  A slow
    client holds up only its own thread, so there is no deadline by default.
    """

    default_deadline = None

    def process_connection(self, conn, peer, client_id: int) -> None:
        worker = threading.Thread(target=self._run_worker, args=(conn, peer, client_id),
                                  name=f"{self.name}-client-{client_id}", daemon=True)
        with self._conns_lock:
            self._workers.add(worker)
        worker.start()

    def _run_worker(self, conn, peer, client_id: int) -> None:
        try:
            self.handle_connection(conn, peer, client_id)
        finally:
            with self._conns_lock:
                self._workers.discard(threading.current_thread())
