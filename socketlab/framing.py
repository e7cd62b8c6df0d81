"""Messages over a TCP stream (a 4-byte big-endian length, then the bytes), and the deadlock of two
sides that both send before they read (notebook 06).

:func:`send_msg` and :func:`recv_msg` are the course's own framing. :func:`deadlock` runs the classic
mistake live on 127.0.0.1: two sockets with small buffers, each side sending a message larger than
both buffers before it reads; it samples what each side has sent and, where the system reports it,
what is stuck in each side's buffers, until both stop (or, for the ways out, until both are done).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field

from .i18n import N_, _
from .streams import IncompleteRead, recv_exactly

__all__ = ["HEADER", "MAX_MESSAGE", "MessageTooLarge", "send_msg", "recv_msg", "queued", "deadlock", "WAYS",
           "way_name", "Experiment"]

HEADER = struct.Struct("!I")  # network byte order (big-endian), unsigned, 4 bytes: up to 4 GiB - 1
MAX_MESSAGE = 1 << 20  # the course's limit: a protocol names its largest message, and refuses larger ones


class MessageTooLarge(ValueError):
    """A header announced more bytes than the limit: refused before any of them was read."""

    def __init__(self, size: int, limit: int):
        super().__init__(_("a message of {size} bytes is over the limit of {limit}").format(size=size, limit=limit))
        self.size, self.limit = size, limit


def send_msg(sock: socket.socket, data: bytes) -> None:
    """One message: its length as 4 bytes in network order, then the bytes."""
    sock.sendall(HEADER.pack(len(data)) + data)


def recv_msg(sock: socket.socket, limit: int = MAX_MESSAGE) -> bytes | None:
    """The next message; None if the stream ended before one began. A length over ``limit`` raises
    :class:`MessageTooLarge` before the body is read; a stream that ends inside a message raises
    :class:`~socketlab.streams.IncompleteRead` (an ``EOFError``)."""
    first = sock.recv(HEADER.size)
    if not first:
        return None
    header = first + recv_exactly(sock, HEADER.size - len(first)) if len(first) < HEADER.size else first
    (size,) = HEADER.unpack(header)
    if size > limit:
        raise MessageTooLarge(size, limit)
    return recv_exactly(sock, size)


def queued(sock: socket.socket) -> tuple[int, int] | None:
    """``(bytes in its send buffer not yet taken by the peer, bytes in its receive buffer not yet read)``,
    as the system reports them: Linux (SIOCOUTQ, SIOCINQ) and macOS (SO_NWRITE, FIONREAD); None elsewhere."""
    with contextlib.suppress(OSError, ImportError, AttributeError, ValueError):
        import fcntl
        import termios

        def ioctl(request: int) -> int:
            return struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0"))[0]

        if sys.platform.startswith("linux"):
            return ioctl(termios.TIOCOUTQ), ioctl(termios.FIONREAD)  # SIOCOUTQ is TIOCOUTQ's number
        if sys.platform == "darwin":
            return sock.getsockopt(socket.SOL_SOCKET, 0x1024), ioctl(termios.FIONREAD)  # 0x1024: SO_NWRITE
    return None


WAYS = ("both send first", "a thread sends", "selectors", "B reads first")
_WAY_NAMES = {"both send first": N_("both send first"), "a thread sends": N_("a thread sends"),
              "selectors": N_("selectors"), "B reads first": N_("B reads first")}


def way_name(way: str) -> str:
    """One of :data:`WAYS`, in the student's language."""
    return _(_WAY_NAMES[way])


@dataclass
class Experiment:
    """What :func:`deadlock` saw: samples over time, and how it ended."""

    way: str
    size: int
    samples: list[dict] = field(default_factory=list)
    done: bool = False  # both sides got the other's whole message
    seconds: float = 0.0


def _small_pair(buffer: int) -> tuple[socket.socket, socket.socket]:
    """Two connected sockets on 127.0.0.1 whose buffers are ``buffer`` bytes (set before connecting, so the
    system does not grow them)."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        a = socket.socket()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
        a.settimeout(5)
        a.connect(listener.getsockname())
        b, _peer = listener.accept()
    b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
    return a, b


class _Side:
    """One side of the experiment: it sends its message and reads the other's, counting both."""

    def __init__(self, sock: socket.socket, size: int):
        self.sock, self.size = sock, size
        self.data = memoryview(b"x" * size)
        self.sent = self.got = 0

    def send_all(self) -> None:
        while self.sent < self.size:
            self.sent += self.sock.send(self.data[self.sent:self.sent + 65536])

    def read_all(self) -> None:
        while self.got < self.size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise IncompleteRead(self.size, self.got)
            self.got += len(chunk)

    def both_by_selectors(self) -> None:
        """Send and read in one thread: each whenever the socket is ready for it."""
        self.sock.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while self.got < self.size or self.sent < self.size:
                wanted = (selectors.EVENT_READ if self.got < self.size else 0) | \
                    (selectors.EVENT_WRITE if self.sent < self.size else 0)
                selector.modify(self.sock, wanted)
                for _key, ready in selector.select(timeout=1.0):
                    if ready & selectors.EVENT_WRITE:
                        with contextlib.suppress(BlockingIOError):
                            self.sent += self.sock.send(self.data[self.sent:self.sent + 65536])
                    if ready & selectors.EVENT_READ:
                        with contextlib.suppress(BlockingIOError):
                            chunk = self.sock.recv(65536)
                            if not chunk:
                                raise IncompleteRead(self.size, self.got)
                            self.got += len(chunk)


def _run(side: _Side, way: str, first: bool) -> None:
    if way == "both send first" or (way == "B reads first" and first):
        side.send_all()
        side.read_all()
    elif way == "B reads first":
        side.read_all()
        side.send_all()
    elif way == "a thread sends":
        sender = threading.Thread(target=side.send_all, name="deadlock-sender", daemon=True)
        sender.start()
        side.read_all()
        sender.join(5)
    else:
        side.both_by_selectors()


def deadlock(size: int = 1 << 20, *, buffer: int = 32768, way: str = "both send first",
             seconds: float = 1.5, every: float = 0.02) -> Experiment:
    """Two sides, A and B, each with ``size`` bytes to send to the other, on sockets with ``buffer``-byte
    buffers, done ``way`` (one of :data:`WAYS`). Sampled every ``every`` s for at most ``seconds``; then
    the sockets are closed, which ends a side that is stuck."""
    if way not in WAYS:
        raise ValueError(_("way must be one of {ways}, got {way}").format(ways=", ".join(WAYS), way=repr(way)))
    a_sock, b_sock = _small_pair(buffer)
    a, b = _Side(a_sock, size), _Side(b_sock, size)
    result = Experiment(way, size)
    workers = [threading.Thread(target=_quietly, args=(_run, side, way, side is a), name=f"deadlock-{name}",
                                daemon=True) for side, name in ((a, "A"), (b, "B"))]
    start = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        while time.monotonic() - start < seconds and any(w.is_alive() for w in workers):
            a_queue, b_queue = queued(a_sock) or (None, None), queued(b_sock) or (None, None)
            result.samples.append({"t": time.monotonic() - start, "a_sent": a.sent, "b_sent": b.sent,
                                   "a_queued": None if a_queue[0] is None else a_queue[0] + a_queue[1],
                                   "b_queued": None if b_queue[0] is None else b_queue[0] + b_queue[1]})
            time.sleep(every)
        result.done = a.got == size and b.got == size
        final = queued(a_sock), queued(b_sock)
        result.samples.append({"t": time.monotonic() - start, "a_sent": a.sent, "b_sent": b.sent,
                               "a_queued": None if final[0] is None else sum(final[0]),
                               "b_queued": None if final[1] is None else sum(final[1])})
        result.seconds = time.monotonic() - start
    finally:
        for sock in (a_sock, b_sock):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # a side blocked in send or recv wakes and ends
            sock.close()
        for worker in workers:
            worker.join(2)
    return result


def _quietly(function, *args) -> None:
    """A worker of the experiment: its error (the socket closed under a stuck side) is the point, not news."""
    with contextlib.suppress(OSError, EOFError, ValueError):
        function(*args)
