"""Small socket helpers every lesson needs.

TCP is a byte stream: one ``recv()`` may return fewer bytes than the peer
sent in one ``send()``, or bytes of two sends at once.  These helpers turn
"give me what arrived" into "give me exactly this much" and "give me one line".
"""

from __future__ import annotations

import contextlib
import socket
import time

__all__ = ["Connection", "DeadlineExceeded", "DeadlineSocket", "IncompleteRead", "LineTooLong", "address_of",
           "close_with_reset", "extend_deadline", "recv_exactly", "recv_line", "recv_to_end", "sooner", "with_deadline"]

CHUNK = 64 * 1024


def address_of(address) -> tuple[str, int]:
    """Accepts ``(host, port)`` or anything with an ``.address``, such as a running server."""
    return getattr(address, "address", address)


class Connection:
    """A client's one TCP connection: ``with`` closes it.

    ``address`` is ``(host, port)`` or anything with an ``.address``, such as a running server.
    """

    def __init__(self, address, timeout: float):
        self.address = address_of(address)
        self.timeout = timeout
        self.sock = socket.create_connection(self.address, timeout=timeout)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class IncompleteRead(EOFError):
    """The peer closed the connection before sending all the bytes we expected."""

    def __init__(self, expected: int | None, received: int):
        self.expected = expected  # None: a line of unknown length
        self.received = received
        wanted = "a line ending in \\n" if expected is None else f"{expected} bytes"
        super().__init__(f"expected {wanted}, got {received} bytes before the connection closed")


class LineTooLong(ValueError):
    """No end of line (b'\\n') within the allowed number of bytes."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"expected a line of at most {limit} bytes, got {limit} bytes with no newline")


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Receive exactly ``n`` bytes, calling ``recv`` as often as it takes.

    Raises :class:`IncompleteRead` (saying how many bytes came) if the peer
    closes early; a socket timeout propagates as :class:`TimeoutError`.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], min(n - got, CHUNK * 16))
        if k == 0:
            raise IncompleteRead(n, got)
        got += k
    return bytes(buf)


def recv_line(sock: socket.socket, limit: int = 1024) -> bytes:
    """Receive one line ending in ``b"\\n"`` (included), reading nothing past it.

    Returns ``b""`` if the peer closed before sending any byte, like
    ``file.readline()``.  Raises :class:`LineTooLong` if ``limit`` bytes came
    with no newline, and :class:`IncompleteRead` if the stream ended mid-line.

    It peeks (``MSG_PEEK``) so that the bytes after the newline, such as a file
    body, stay in the socket for whoever reads next.
    """
    line = bytearray()
    while True:
        peeked = sock.recv(limit - len(line), socket.MSG_PEEK)
        if not peeked:
            if line:
                raise IncompleteRead(None, len(line))
            return b""
        end = peeked.find(b"\n")
        # Consume only what we keep; if no newline yet, take what is there so the
        # next peek blocks until new bytes arrive instead of spinning.
        take = end + 1 if end >= 0 else len(peeked)
        # The bytes peeked are in the socket already, so recv hands them over at once; a shorter
        # piece (never seen on TCP) is peeked again. (No recv_exactly here: recv_line is what an
        # exercise may use, recv_exactly is an exercise's answer; see socketlab.studentside.)
        got = sock.recv(take)
        line += got
        if end >= 0 and len(got) == take:
            return bytes(line)
        if len(line) >= limit:
            raise LineTooLong(limit)


def close_with_reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN, as a crashed program's connection ends (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def recv_to_end(sock: socket.socket) -> bytes:
    """Receive until the peer closes its side (end of stream)."""
    chunks = []
    while chunk := sock.recv(CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


# ---- a deadline for a whole connection -------------------------------------------------


class DeadlineExceeded(TimeoutError):
    """A connection stayed open longer than its server's ``deadline``."""


class DeadlineSocket(socket.socket):
    """A connection whose blocking calls also end at a deadline for the whole connection.

    A socket timeout limits each ``recv``, not the connection: a client sending
    one byte every 29 s never trips a 30 s idle timeout, and holds a sequential
    server forever.  Each call here waits at most ``min(idle timeout, time left)``.
    """

    def arm(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds
        self._why = f"connection open for over {seconds:g} s"

    @contextlib.contextmanager
    def sooner(self, seconds: float, why: str):
        """Within the block, end ``seconds`` from now if that comes before the connection's deadline."""
        saved = self._deadline, self._why
        if time.monotonic() + seconds < self._deadline:
            self._deadline, self._why = time.monotonic() + seconds, why
        try:
            yield
        finally:
            self._deadline, self._why = max(saved[0], self._deadline), saved[1]

    def extend_deadline(self, seconds: float) -> None:
        """A little more time, e.g. to tell the client why it is being dropped."""
        self._deadline = max(self._deadline, time.monotonic() + seconds)

    def settimeout(self, value) -> None:
        self._idle = value
        super().settimeout(value)

    def gettimeout(self):
        return self._idle

    def _bounded(self, call, *args):
        if self._idle == 0:  # non-blocking: nothing waits, nothing to bound
            return call(self, *args)
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(self._why)
        super().settimeout(left if self._idle is None else min(self._idle, left))
        try:
            return call(self, *args)
        except TimeoutError:
            if time.monotonic() >= self._deadline:
                raise DeadlineExceeded(self._why) from None
            raise

    def recv(self, *args):
        return self._bounded(socket.socket.recv, *args)

    def recv_into(self, *args):
        return self._bounded(socket.socket.recv_into, *args)

    def send(self, *args):
        return self._bounded(socket.socket.send, *args)

    def sendall(self, *args):
        return self._bounded(socket.socket.sendall, *args)

    def sendfile(self, file, offset: int = 0, count: int | None = None):
        # socket.sendfile waits on the timeout gettimeout() gives, once per piece: within this call,
        # it is the time left. (A caller sending in chunks meets the deadline between them too.)
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(self._why)
        idle = self._idle
        self._idle = left if idle is None else min(idle, left)
        try:
            return super().sendfile(file, offset, count)
        except TimeoutError:
            if time.monotonic() >= self._deadline:
                raise DeadlineExceeded(self._why) from None
            raise
        finally:
            self._idle = idle


def with_deadline(conn: socket.socket, seconds: float) -> "DeadlineSocket":
    """``conn`` as a :class:`DeadlineSocket` that ends ``seconds`` from now (``conn`` itself is spent)."""
    wrapped = DeadlineSocket(conn.family, conn.type, conn.proto, fileno=conn.detach())
    wrapped.arm(seconds)
    return wrapped


def sooner(conn: socket.socket, seconds: float, why: str):
    """A block in which a connection with a deadline ends ``seconds`` from now at the latest (``why``)."""
    return conn.sooner(seconds, why) if isinstance(conn, DeadlineSocket) else contextlib.nullcontext()


def extend_deadline(conn: socket.socket, seconds: float = 2.0) -> None:
    """Give a connection ``seconds`` more before its deadline (no-op without a deadline)."""
    if isinstance(conn, DeadlineSocket):
        conn.extend_deadline(seconds)
