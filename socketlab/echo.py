"""Echo server and clients (lab tasks 1, 1a and 2).

Task 1 is ``EchoServer(max_clients=1)``: serve one client, then stop.
Task 2 is ``EchoServer()``: serve clients one after another until stopped.
Task 1a is :func:`echo` (one message per connection) and :class:`EchoClient`
(one connection, many messages).
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .i18n import _
from .server import NO_REPLY, Server, address_of, preview
from .streams import CHUNK, Connection, IncompleteRead

__all__ = ["EchoServer", "echo", "EchoClient", "run_clients", "ClientRun", "ReplyTooLong", "preview",
           "DEFAULT_ECHO_PORT"]

DEFAULT_ECHO_PORT = 65432  # the port of the Python docs' socket example
EXTRA_REPLY = 1024 * 1024  # how much longer than the message a reply may be before we stop reading


class ReplyTooLong(ValueError):
    """The server sent more than the client was willing to keep."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(_("the reply is longer than {limit} bytes: stopped reading (is it an echo server?)").format(
            limit=limit))


class EchoServer(Server):
    """Sends back every byte it receives, as it arrives, until the client closes."""

    role = "echo-server"
    bufsize = 64 * 1024

    def handle(self, conn: socket.socket, client_id: int) -> None:
        while data := conn.recv(self.bufsize):
            self.log(client_id, "recv", len(data), preview(data))
            conn.sendall(data)
            self.log(client_id, "send", len(data))


def _as_bytes(message: str | bytes) -> bytes:
    if isinstance(message, str):
        return message.encode("utf-8")
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message)
    raise TypeError(f"message must be str or bytes, not {type(message).__name__}")


def exchange(sock: socket.socket, data: bytes, reply_size: int | None, timeout: float, *,
             deadline: float | None = None, max_reply: int | None = None) -> bytes:
    """Send ``data`` while reading the reply, and return the reply.

    Sending everything before reading can deadlock on a large message: the
    server blocks sending its echo to us while we block sending to it.  So we
    do both at once.  ``reply_size=None`` half-closes after the last byte and
    reads until the peer closes; otherwise it reads exactly ``reply_size`` bytes.
    ``timeout`` bounds each wait for progress; ``deadline`` (a ``time.monotonic()``
    value) the whole exchange, so a server trickling its reply cannot hold us.
    A reply longer than ``max_reply`` bytes raises :class:`ReplyTooLong`.
    """
    sent, received = 0, bytearray()
    half_closed = False
    if max_reply is None:
        max_reply = (reply_size if reply_size is not None else len(data)) + EXTRA_REPLY
    sock.setblocking(False)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if data else 0))
            while True:
                if sent == len(data):
                    if reply_size is None and not half_closed:
                        sock.shutdown(socket.SHUT_WR)  # "that was all": the server sees end of stream
                        half_closed = True
                    elif reply_size is not None and len(received) >= reply_size:
                        return bytes(received)
                wait = timeout if deadline is None else min(timeout, deadline - time.monotonic())
                ready = sel.select(wait) if wait > 0 else []
                if not ready:
                    what = (f"nothing happened for {timeout:g} s" if wait == timeout
                            else "no complete reply in the time allowed")
                    raise TimeoutError(f"{what}: sent {sent} of {len(data)} bytes, received {len(received)}")
                mask = ready[0][1]
                if mask & selectors.EVENT_WRITE:
                    try:
                        sent += sock.send(memoryview(data)[sent : sent + 4 * CHUNK])
                    except BlockingIOError:
                        pass
                    if sent == len(data):
                        sel.modify(sock, selectors.EVENT_READ)
                if mask & selectors.EVENT_READ:
                    want = CHUNK if reply_size is None else reply_size - len(received)
                    try:
                        chunk = sock.recv(want)
                    except BlockingIOError:
                        continue
                    if chunk:
                        received += chunk
                        if len(received) > max_reply:
                            raise ReplyTooLong(max_reply)
                    elif sent < len(data):
                        raise ConnectionError(
                            f"the server closed the connection after {sent} of {len(data)} bytes were sent"
                        )
                    elif reply_size is None:
                        return bytes(received)
                    else:
                        raise IncompleteRead(reply_size, len(received))
    finally:
        if sock.fileno() != -1:
            sock.settimeout(timeout)


def echo(message: str | bytes, address=("127.0.0.1", DEFAULT_ECHO_PORT), timeout: float = 5.0, *,
         max_reply: int | None = None):
    """Connect, send ``message``, half-close, read the reply to its end and return it.

    Returns ``str`` for a ``str`` message (UTF-8 on the wire) and ``bytes`` for bytes.
    ``timeout`` bounds the whole call, connecting included.  A reply more than
    1 MiB longer than the message (or over ``max_reply`` bytes) raises :class:`ReplyTooLong`.
    """
    data = _as_bytes(message)
    deadline = time.monotonic() + timeout
    with socket.create_connection(address_of(address), timeout=timeout) as sock:
        reply = exchange(sock, data, None, timeout, deadline=deadline, max_reply=max_reply)
    return reply.decode("utf-8") if isinstance(message, str) else reply


class EchoClient(Connection):
    """One connection for many messages: ``send(text)`` returns exactly its echo.

    ``last_rtt`` is the round-trip time of the last message in seconds.
    """

    def __init__(self, address=("127.0.0.1", DEFAULT_ECHO_PORT), timeout: float = 5.0):
        super().__init__(address, timeout)
        self.last_rtt: float | None = None

    def send(self, message: str | bytes):
        data = _as_bytes(message)
        start = time.perf_counter()
        reply = exchange(self.sock, data, len(data), self.timeout)
        self.last_rtt = time.perf_counter() - start
        return reply.decode("utf-8") if isinstance(message, str) else reply

    def __repr__(self) -> str:
        state = "closed" if self.sock.fileno() == -1 else "open"
        return f"<EchoClient to {self.address[0]}:{self.address[1]} {state}>"


@dataclass(frozen=True)
class ClientRun:
    """What one client of :func:`run_clients` saw, in the time base of ``clock``."""

    number: int  # 1, 2, 3… in the order the clients were started
    port: int | None  # its local port: the server's accept event says "from 127.0.0.1:<port>"
    started: float  # when it began to connect
    finished: float
    reply: str | None
    error: str | None = None
    connected: float | None = None  # when connect() returned: from here on it waits in the server's queue

    @property
    def ok(self) -> bool:
        return self.error is None


def run_clients(address, count: int = 5, message: str = "hello", *, together: bool = True,
                slow_first: float = 0.0, clock: Callable[[], float] = time.monotonic,
                timeout: float = 10.0) -> list[ClientRun]:
    """Run ``count`` echo clients and report what each one saw.

    ``together=True`` starts them all at once (each in its own thread), as if
    many people ran the client at the same moment; ``False`` runs them one
    after another.  ``slow_first`` makes the first client connect and then stay
    silent for that many seconds before sending: the slow-client experiment.
    Pass ``clock=server.clock`` to get times comparable with the server's events.
    """
    address = address_of(address)
    if not together:
        return [_one_client(n, address, message, slow_first if n == 1 else 0.0, clock, timeout)
                for n in range(1, count + 1)]
    runs: list[ClientRun] = []
    first_connected = threading.Event()

    def client(n: int) -> None:
        idle = slow_first if n == 1 else 0.0
        runs.append(_one_client(n, address, message, idle, clock, timeout, first_connected if n == 1 else None))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(1, count + 1)]
    threads[0].start()
    first_connected.wait(timeout)  # the first client is first in the server's queue
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(timeout + slow_first + 5)
    return sorted(runs, key=lambda run: run.number)


def _one_client(n, address, message, idle, clock, timeout, connected=None) -> ClientRun:
    started, port, connected_at = clock(), None, None
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            connected_at = clock()
            port = sock.getsockname()[1]
            if connected:
                connected.set()
            if idle:
                time.sleep(idle)  # connected, saying nothing: a slow (or forgetful) client
            reply = exchange(sock, message.encode("utf-8"), None, timeout).decode("utf-8")
        if reply == message:
            error = None
        elif not reply:
            error = _(NO_REPLY)
        else:
            error = _("wrong reply {reply}").format(reply=preview(reply.encode()))
        return ClientRun(n, port, started, clock(), reply, error, connected_at)
    except (OSError, EOFError) as exc:
        return ClientRun(n, port, started, clock(), None, f"{type(exc).__name__}: {exc}", connected_at)
    finally:
        if connected:
            connected.set()  # also when it could not connect: nobody waits in vain
