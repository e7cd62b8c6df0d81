"""Serving many clients at once: three more kinds of echo server, and a load to compare them.

All kinds keep the :class:`~socketlab.server.Server` contract and record the
same events, so the same pictures draw them:

* :class:`~socketlab.echo.EchoServer`: sequential, one client at a time (task 2);
* :class:`ThreadingEchoServer`: a thread per client;
* :class:`SelectorEchoServer`: one thread, one ``selectors`` loop watching every socket;
* :class:`AsyncioEchoServer`: ``asyncio.start_server``; in a notebook it runs in
  the notebook's own event loop (``await server.astart()``).

:func:`load` runs many clients at once against any of them and measures
sessions per second and latency.
"""

from __future__ import annotations

import hashlib
import os
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from . import files, protocol
from .i18n import retold
from .echo import EchoServer
from .files import FileServer, ThreadingFileServer
from .server import Server, ThreadingMixIn, from_peer, idle_dropped, preview, stopping_dropped
# The load generator lives in load.py; its names stay importable from here.
from .load import LoadResult, load, load_in_process  # noqa: E402,F401

# asyncio is imported where it is used: it is most of the start-up time of a
# `socketlab` command, and the CLI needs SERVER_KINDS for every command.

__all__ = ["ThreadingEchoServer", "SelectorEchoServer", "AsyncioEchoServer", "SERVER_KINDS",
           "SelectorFileServer", "FILE_SERVER_KINDS", "LoadResult", "load", "load_in_process"]


def _one_at_a_time_only(max_clients, deadline=None) -> None:
    if max_clients is not None:
        raise ValueError("max_clients belongs to the sequential server; this kind serves until stopped")
    if deadline is not None:
        raise ValueError("deadline belongs to servers that serve one client at a time: "
                         "here a slow client holds up only itself")


def _close_registered(server, sock: socket.socket, client_id: int) -> None:
    """A selector server's end of one connection: out of its selector, closed, and recorded."""
    try:
        server._selector.unregister(sock)
    except (KeyError, ValueError, RuntimeError):
        pass  # the selector is already closed: the server is stopping
    sock.close()
    server.log(client_id, "close")


class ThreadingEchoServer(ThreadingMixIn, EchoServer):
    """The echo server with a thread per client: a slow client holds up only itself."""

    role = "threading-server"

    def __init__(self, *args, max_clients=None, **kwargs):
        _one_at_a_time_only(max_clients)
        super().__init__(*args, **kwargs)


@dataclass(eq=False)
class _Client:
    sock: socket.socket
    client_id: int
    last_active: float
    pending: bytearray = field(default_factory=bytearray)  # echo not yet sent
    peer_done: bool = False  # the client has half-closed


class SelectorEchoServer(Server):
    """One thread, one event loop: ``selectors`` says which sockets are ready, nothing blocks.

    Back-pressure: a client that does not read its echo stops being read
    once ``max_pending`` bytes wait for it.
    """

    role = "selector-server"
    bufsize = 64 * 1024
    max_pending = 1024 * 1024
    default_deadline = None

    def __init__(self, *args, max_clients=None, deadline=None, **kwargs):
        _one_at_a_time_only(max_clients, deadline)
        super().__init__(*args, **kwargs)
        self._clients: dict[int, _Client] = {}

    def process_connection(self, conn: socket.socket, peer, client_id: int) -> None:
        conn.setblocking(False)
        client = _Client(conn, client_id, time.monotonic())
        self._clients[client_id] = client
        self.log(client_id, "accept", detail=from_peer(peer))
        self._selector.register(conn, selectors.EVENT_READ, lambda mask: self._on_ready(client, mask))

    def _on_ready(self, c: _Client, mask: int) -> None:
        try:
            if mask & selectors.EVENT_READ:
                data = c.sock.recv(self.bufsize)
                if data:
                    self.log(c.client_id, "recv", len(data), preview(data))
                    c.pending += data
                else:
                    c.peer_done = True
            if mask & selectors.EVENT_WRITE and c.pending:
                sent = c.sock.send(c.pending)
                self.log(c.client_id, "send", sent)
                del c.pending[:sent]
        except BlockingIOError:
            return
        except OSError as exc:
            self.handle_error(c.client_id, exc)
            return self._drop(c)
        c.last_active = time.monotonic()
        if c.peer_done and not c.pending:
            return self._drop(c)
        wanted = selectors.EVENT_WRITE if c.pending else 0
        if not c.peer_done and len(c.pending) < self.max_pending:
            wanted |= selectors.EVENT_READ
        self._selector.modify(c.sock, wanted, self._selector.get_key(c.sock).data)

    def _drop(self, c: _Client, kind: str = "close", detail: str = "") -> None:
        if kind != "close":  # recorded before the client can see its connection end
            self.log(c.client_id, kind, detail=detail)
        self._clients.pop(c.client_id, None)
        _close_registered(self, c.sock, c.client_id)

    def select_timeout(self) -> float | None:
        if not self._clients:
            return None
        oldest = min(c.last_active for c in self._clients.values())
        return max(0.0, oldest + self.idle_timeout - time.monotonic())

    def service_actions(self) -> None:
        now = time.monotonic()
        for c in [c for c in self._clients.values() if now - c.last_active >= self.idle_timeout]:
            self._drop(c, "timeout", idle_dropped(self.idle_timeout))

    def server_close(self) -> None:
        for c in list(self._clients.values()):
            self._drop(c, "error", stopping_dropped())


class AsyncioEchoServer(Server):
    """``asyncio.start_server``: one event loop, a coroutine per client.

    In a notebook, ``await server.astart()`` serves in the notebook's own
    event loop, between and during cells that ``await``; a cell that blocks
    (a plain ``socketlab.echo(...)``) would stop it, so drive it with
    ``await asyncio.to_thread(...)``.  Outside a running loop, ``start()``
    runs a loop in a background thread, like the other kinds.
    """

    role = "asyncio-server"
    bufsize = 64 * 1024
    default_deadline = None

    def __init__(self, *args, max_clients=None, deadline=None, **kwargs):
        _one_at_a_time_only(max_clients, deadline)
        super().__init__(*args, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._aserver: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    async def astart(self) -> "AsyncioEchoServer":
        """Start serving in the running event loop; returns once listening."""
        if self._started:
            if self.running:
                return self
            raise RuntimeError(f"{self.name} has stopped; create a new server to serve again")
        import asyncio

        self._open()
        try:
            self._loop = asyncio.get_running_loop()
            self._aserver = await asyncio.start_server(self._serve_client, sock=self._listener)
        except BaseException:
            self._close()  # a start that fails half-way frees the port and the name
            raise
        finally:
            self._start_done.set()
        return self

    def start(self) -> "AsyncioEchoServer":
        """Serve in a background thread with an event loop of its own."""
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("an event loop is running here (a notebook?): use `await server.astart()`")
        if self.running:
            return self
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name=f"{self.name}-loop", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.astart(), loop).result(timeout=5.0)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(5.0)
            loop.close()
            raise
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Close the listening socket and every connection; safe from any thread, and twice."""
        import asyncio

        if self._started and not self._in_loop_thread():
            self._start_done.wait(timeout + 5.0)  # another thread may be starting us right now
        loop = self._loop
        if loop is None or self._finished.is_set():
            return
        if self._in_loop_thread():
            self._shut()  # closing is synchronous; the cancelled client tasks end on the loop's next turns
            self._close()
            return
        try:
            asyncio.run_coroutine_threadsafe(self.astop(timeout), loop).result(timeout + 1.0)
        except Exception:  # the loop is gone or stuck: close what we can from here
            self._close()
        if self._thread is not None:  # our own loop in a background thread
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                loop.close()

    async def astop(self, timeout: float = 1.0) -> None:
        """Stop, and wait (in the event loop) until every client coroutine has ended."""
        import asyncio

        if self._finished.is_set() or self._aserver is None:
            return
        self._shut()
        others = [t for t in self._tasks if t is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=timeout)
        self._close()

    def _in_loop_thread(self) -> bool:
        import asyncio

        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _shut(self) -> None:
        self._stopping.set()
        self._aserver.close()  # closes the listening socket now
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import asyncio

        client_id = next(self._client_ids)
        self.served += 1
        peer = writer.get_extra_info("peername")
        self._writers.add(writer)
        self._tasks.add(asyncio.current_task())
        self.log(client_id, "accept", detail=from_peer(peer))
        try:
            while data := await asyncio.wait_for(reader.read(self.bufsize), self.idle_timeout):
                self.log(client_id, "recv", len(data), preview(data))
                writer.write(data)
                await writer.drain()  # back-pressure: wait while the client is not reading
                self.log(client_id, "send", len(data))
        except asyncio.TimeoutError:
            self.log(client_id, "timeout", detail=idle_dropped(self.idle_timeout))
        except OSError as exc:
            self.handle_error(client_id, exc)
        except asyncio.CancelledError:
            self.log(client_id, "error", detail=stopping_dropped())
            raise  # a cancelled task must end cancelled, or whoever cancelled it cannot tell
        finally:
            self._writers.discard(writer)
            self._tasks.discard(asyncio.current_task())
            writer.close()
            self.log(client_id, "close")


SERVER_KINDS = {
    "sequential": EchoServer,
    "threads": ThreadingEchoServer,
    "selectors": SelectorEchoServer,
    "asyncio": AsyncioEchoServer,
}


# ---- files, many uploads at once in one thread ----------------------------------------


@dataclass(eq=False)
class _Upload:
    sock: socket.socket
    client_id: int
    last_active: float
    inbox: bytearray = field(default_factory=bytearray)  # received, not yet used
    outbox: bytearray = field(default_factory=bytearray)  # replies not yet sent
    header: protocol.FileHeader | None = None  # the file being received, if any
    tmp: str | None = None
    fd: int | None = None
    sha: object = None
    got: int = 0
    write_error: OSError | None = None
    close_by: float | None = None  # after an ERROR: drop at this time, or once the client closes


class SelectorFileServer(FileServer):
    """The file server as one ``selectors`` loop: every upload advances when its bytes arrive.

    Nothing waits for one client, but the loop writes to disk itself: a slow
    disk slows every upload at once (the thread-per-client kind does not).
    """

    role = "selector-file-server"
    default_deadline = None

    def __init__(self, *args, max_clients=None, deadline=None, **kwargs):
        _one_at_a_time_only(max_clients, deadline)
        super().__init__(*args, **kwargs)
        self._uploads: dict[int, _Upload] = {}

    def process_connection(self, conn: socket.socket, peer, client_id: int) -> None:
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = _Upload(conn, client_id, time.monotonic())
        self._uploads[client_id] = c
        self.log(client_id, "accept", detail=from_peer(peer))
        self._selector.register(conn, selectors.EVENT_READ, lambda mask: self._on_ready(c, mask))

    def _on_ready(self, c: _Upload, mask: int) -> None:
        try:
            if mask & selectors.EVENT_WRITE and c.outbox:
                del c.outbox[: c.sock.send(c.outbox)]
            if mask & selectors.EVENT_READ:
                data = c.sock.recv(files.BUFFER)
                if c.close_by is not None:  # drained and dropped: the ERROR line is out already
                    if not data:
                        return self._drop(c)
                elif data:
                    c.inbox += data
                    self._advance(c)
                else:
                    self._end_of_stream(c)
        except BlockingIOError:
            pass
        except OSError as exc:
            self.handle_error(c.client_id, exc)
            return self._drop(c)
        c.last_active = time.monotonic()
        if c.close_by is not None and not c.outbox:
            if c.close_by <= c.last_active:
                return self._drop(c)  # nothing in flight from the client: no lingering
            _shutdown_write(c.sock)
        if c.client_id in self._uploads:
            wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.outbox else 0)
            self._selector.modify(c.sock, wanted, self._selector.get_key(c.sock).data)

    def _advance(self, c: _Upload) -> None:
        """Use what arrived: a header line, body bytes, maybe the next header."""
        while c.inbox and c.close_by is None:
            if c.header is None:
                end = c.inbox.find(b"\n")
                if end < 0:
                    if len(c.inbox) >= protocol.MAX_HEADER:
                        self._refuse_later(c, "bad-header", f"no newline in the first {protocol.MAX_HEADER} bytes")
                    return
                line = bytes(c.inbox[: end + 1])
                del c.inbox[: end + 1]
                self._start_file(c, line)
            else:
                take = min(len(c.inbox), c.header.size - c.got)
                self._write_body(c, bytes(c.inbox[:take]))
                del c.inbox[:take]
            if c.header is not None and c.got == c.header.size and c.close_by is None:
                self._finish_file(c)

    def _start_file(self, c: _Upload, line: bytes) -> None:
        try:
            header = protocol.parse_header(line, max_size=self.max_size)
        except protocol.RemoteProtocolError as exc:
            return self._refuse_later(c, exc.code, exc.message)
        self.log(c.client_id, "header", header.size, preview(header.name.encode(), 60))
        try:
            c.tmp, c.fd = self.prepare_upload(header)
        except OSError as exc:
            return self._refuse_later(c, "io-error", f"cannot save the file: {exc.strerror or exc}")
        c.header, c.sha, c.got, c.write_error = header, hashlib.sha256(), 0, None
        c.outbox += protocol.build_ready()

    def _write_body(self, c: _Upload, chunk: bytes) -> None:
        c.sha.update(chunk)
        c.got += len(chunk)
        if c.write_error is None:
            try:
                files.write_all(c.fd, chunk)
            except OSError as exc:
                c.write_error = exc  # read the rest of the body anyway: the client hears why

    def _finish_file(self, c: _Upload) -> None:
        header, error = c.header, c.write_error
        try:
            if error is None:
                os.close(c.fd)
                c.fd = None
                saved = self._link_under_free_name(c.tmp, header.name)
        except OSError as exc:
            error = exc
        self._discard_file(c)
        if error is not None:
            return self._refuse_later(c, "io-error", f"cannot save the file: {error.strerror or error}")
        digest = c.sha.hexdigest()
        self.log(c.client_id, "saved", header.size, f"{saved} sha256 {digest[:12]}…")
        c.outbox += protocol.build_ok(header.size, digest, saved)

    def _discard_file(self, c: _Upload) -> None:
        if c.fd is not None:
            os.close(c.fd)
        if c.tmp is not None:
            self._unlink(c.tmp)  # saved under its final name by now, or dropped
        c.header = c.tmp = c.fd = None

    def _end_of_stream(self, c: _Upload) -> None:
        if c.header is not None:
            self._refuse_later(c, "incomplete", files.incomplete_body(c.header.size, c.got))
        elif c.inbox:
            self._refuse_later(c, "bad-header", files.unterminated_header(len(c.inbox)))
        else:
            self._drop(c)  # closed between files: all is well

    def _refuse_later(self, c: _Upload, code: str, message: str, linger: float = 1.0) -> None:
        """Queue one ERROR line; the connection ends once it is out (and the client is done)."""
        message = retold(message)
        self.log(c.client_id, "timeout" if code == "timeout" else "error", detail=f"{code}: {message}")
        self._discard_file(c)
        c.inbox.clear()
        c.outbox += protocol.build_error(code, message)
        c.close_by = time.monotonic() + linger

    def _drop(self, c: _Upload) -> None:
        self._discard_file(c)
        self._uploads.pop(c.client_id, None)
        _close_registered(self, c.sock, c.client_id)

    def select_timeout(self) -> float | None:
        if not self._uploads:
            return None
        soonest = min(c.close_by if c.close_by is not None else c.last_active + self.idle_timeout
                      for c in self._uploads.values())
        return max(0.0, soonest - time.monotonic())

    def service_actions(self) -> None:
        now = time.monotonic()
        for c in list(self._uploads.values()):
            if c.close_by is not None:
                if now >= c.close_by:
                    self._drop(c)
            elif now - c.last_active >= self.idle_timeout:
                what = "header" if c.header is None else "data"
                silent = c.header is None and not c.inbox  # nothing in flight: close without lingering
                self._refuse_later(c, "timeout", f"no {what} for {self.idle_timeout:g} s, dropped",
                                   linger=0.0 if silent else 1.0)
                try:
                    del c.outbox[: c.sock.send(c.outbox)]
                except OSError:
                    pass
                if silent or not c.outbox:
                    self._drop(c) if silent else _shutdown_write(c.sock)

    def server_close(self) -> None:
        for c in list(self._uploads.values()):
            self.log(c.client_id, "error", detail=stopping_dropped())
            self._drop(c)
        super().server_close()


def _shutdown_write(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


FILE_SERVER_KINDS = {
    "sequential": FileServer,
    "threads": ThreadingFileServer,
    "selectors": SelectorFileServer,
}
