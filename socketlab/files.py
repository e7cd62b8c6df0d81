"""Receiving and sending files (lab tasks 3 and 3a) with protocol version 1.

``FileServer(folder)`` saves every upload in ``folder``: the body goes to a
temporary file while it is hashed, and is linked under its final name only
once every byte has arrived, never over an existing file.  ``send_file(path,
address)`` streams a file, hashes it on the way and checks the server's hash.
Bytes are saved exactly as sent, so a text file in any encoding arrives intact.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import protocol
from .server import Server, preview
from .streams import Connection, IncompleteRead, LineTooLong, recv_line

__all__ = ["FileServer", "FileClient", "send_file", "SendResult", "TransferError", "DEFAULT_FILE_PORT"]

DEFAULT_FILE_PORT = 65433
BUFFER = 1024 * 1024  # big enough for few system calls, small enough that memory stays flat
SEND_CHUNK = 8 * BUFFER  # how much sendfile() sends between two progress reports
# Large write() calls can make the kernel hunt for large contiguous page-cache folios
# and stall: 1 MiB writes took up to 4x the system time of 64 KiB writes here.
WRITE_SLICE = 64 * 1024


class FileServer(Server):
    """Receives files over protocol v1 and saves them in ``folder``."""

    role = "file-server"

    def __init__(self, folder="uploads", host="127.0.0.1", port=0, *, max_size=1 << 30,
                 idle_timeout: float = 30.0, **kwargs):
        super().__init__(host, port, idle_timeout=idle_timeout, **kwargs)
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_size = max_size

    def handle(self, conn: socket.socket, client_id: int) -> None:
        while True:  # one file per header, as many as the client sends
            try:
                line = recv_line(conn, protocol.MAX_HEADER)
                if not line:
                    return  # the client closed between files: all is well
                header = protocol.parse_header(line, max_size=self.max_size)
            except TimeoutError:
                self._refuse(conn, client_id, "timeout", f"no header for {self.idle_timeout:g} s, dropped")
                return
            except LineTooLong:
                self._refuse(conn, client_id, "bad-header", f"no newline in the first {protocol.MAX_HEADER} bytes")
                return
            except protocol.RemoteProtocolError as exc:
                self._refuse(conn, client_id, exc.code, exc.message)
                return
            self.log(client_id, "header", header.size, preview(header.name.encode(), 60))
            if not self._receive(conn, client_id, header):
                return

    def _refuse(self, conn: socket.socket, client_id: int, code: str, message: str) -> bool:
        """Record the error, tell the client in one ERROR line; False: end the connection."""
        self.log(client_id, "timeout" if code == "timeout" else "error", detail=f"{code}: {message}")
        try:
            conn.sendall(protocol.build_error(code, message))
            _lingering_close(conn)
        except OSError:
            pass  # the client is gone; nothing more to tell it
        return False

    def _receive(self, conn, client_id, header: protocol.FileHeader) -> bool:
        """Say READY if the file can be saved, receive its body into a temporary file, save it.

        Returns False if the connection must end.
        """
        tmp = None
        try:
            # A disk without room, or a folder we may not write in, is refused before the body.
            # (A disk that fills up meanwhile still fails the write: io-error after the body.)
            free = shutil.disk_usage(self.folder).free
            if header.size > free:
                raise OSError(errno.ENOSPC, f"no room for {header.size} bytes, {free} bytes free")
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".incoming-", suffix=".part")
            with os.fdopen(fd, "wb") as out:
                conn.sendall(protocol.build_ready())
                digest, write_error = self._copy_body(conn, client_id, header.size, out)
            if write_error:
                raise write_error
            saved = self._link_under_free_name(tmp, header.name)
        except IncompleteRead as exc:
            return self._refuse(conn, client_id, "incomplete", str(exc))
        except TimeoutError:
            return self._refuse(conn, client_id, "timeout", f"no data for {self.idle_timeout:g} s")
        except ConnectionError:
            raise  # the client broke the connection: the base class records it
        except OSError as exc:  # the disk, not the network: disk full, permissions…
            return self._refuse(conn, client_id, "io-error", f"cannot save the file: {exc.strerror or exc}")
        finally:
            if tmp:
                Path(tmp).unlink(missing_ok=True)  # saved under its final name by now, or dropped
        self.log(client_id, "saved", header.size, f"{saved} sha256 {digest[:12]}…")
        conn.sendall(protocol.build_ok(header.size, digest, saved))
        return True

    def _copy_body(self, conn, client_id, size: int, out):
        """Copy exactly ``size`` bytes from ``conn`` to ``out`` while hashing them.

        Returns ``(sha256 hex, write error or None)``.  After a write error it
        still reads the rest of the body, so the client hears the error reply
        instead of a broken connection.
        """
        got = 0
        report_every = max(BUFFER, size // 10)
        next_report = report_every
        with _HashingWriter(out) as writer:
            while got < size:
                # Fill a whole buffer before handing it over: fewer hand-overs and writes.
                buffer = writer.free_buffer(self.idle_timeout)
                want = min(len(buffer), size - got)
                filled = 0
                while filled < want:
                    n = conn.recv_into(buffer[filled:], want - filled)
                    if n == 0:
                        writer.submit(buffer, filled)
                        raise IncompleteRead(size, got + filled)
                    filled += n
                writer.submit(buffer, filled)
                got += filled
                if next_report <= got < size:
                    self.log(client_id, "progress", got, f"{100 * got // size}%")
                    next_report += report_every
            return writer.finish(self.idle_timeout)

    def _link_under_free_name(self, tmp: str, name: str) -> str:
        """Give the finished temporary file its name, or ``name (1)``… if that is taken.

        ``os.link`` fails if the name exists (even as a dangling link), so no
        file is ever overwritten, even by two uploads racing for one name.
        """
        os.chmod(tmp, 0o644)
        for n in range(10_000):
            candidate = protocol.numbered_name(name, n)
            target = self.folder / candidate
            if target.parent != self.folder:  # cannot happen for a valid name; never trust it
                raise OSError(f"refusing to save outside {self.folder}")
            try:
                os.link(tmp, target)
                return candidate
            except FileExistsError:
                continue
        raise OSError(f"no free name for {name!r}")


class _HashingWriter:
    """Hashes and writes received chunks in a helper thread.

    The connection's thread receives the next chunk while this one hashes and
    writes the last: both ``recv_into`` and ``sha256.update`` release the GIL,
    so the two run on two cores.  A few fixed buffers circulate between them,
    which keeps memory flat whatever the file size.
    """

    def __init__(self, out, buffers: int = 4):
        self.out = out
        self.sha = hashlib.sha256()
        self.write_error: OSError | None = None
        self.free: queue.Queue = queue.Queue()
        for _ in range(buffers):
            self.free.put(bytearray(BUFFER))
        self.full: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="hashing-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.full.get()) is not None:
            buffer, n = item
            chunk = memoryview(buffer)[:n]
            self.sha.update(chunk)
            if self.write_error is None:
                try:
                    for i in range(0, n, WRITE_SLICE):
                        self.out.write(chunk[i : i + WRITE_SLICE])
                except OSError as exc:
                    self.write_error = exc  # keep hashing: the caller still drains the body
            self.free.put(buffer)

    def free_buffer(self, timeout: float) -> memoryview:
        return memoryview(self.free.get(timeout=timeout))

    def submit(self, buffer: memoryview, n: int) -> None:
        self.full.put((buffer.obj, n))

    def finish(self, timeout: float):
        """Wait for the last chunk; returns ``(sha256 hex, write error or None)``."""
        self.full.put(None)
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(f"writing the file took longer than {timeout:g} s")
        return self.sha.hexdigest(), self.write_error

    def __enter__(self) -> "_HashingWriter":
        return self

    def __exit__(self, *exc) -> None:
        if self.thread.is_alive():  # an error ended the body early: let the thread finish
            self.full.put(None)
            self.thread.join(5.0)


def _lingering_close(conn: socket.socket, seconds: float = 1.0) -> None:
    """Half-close, then read and drop what the client still sends, for a little while.

    Closing a socket with unread bytes in it makes the kernel send a reset, and
    a reset can destroy our ERROR line before the client reads it.
    """
    conn.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        conn.settimeout(left)
        if not conn.recv(BUFFER):
            return


# ---- client -----------------------------------------------------------------


class TransferError(Exception):
    """The server refused a file, or what it saved is not what we sent.

    ``code`` is the protocol's error code, or ``sha-mismatch``.
    """

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class SendResult:
    saved_name: str
    size: int
    sha256: str
    seconds: float

    @property
    def rate(self) -> float:
        """Bytes per second."""
        return self.size / self.seconds if self.seconds > 0 else float("inf")


class FileClient(Connection):
    """One connection to a ``FileServer``; ``send(path)`` as often as you like."""

    def __init__(self, address=("127.0.0.1", DEFAULT_FILE_PORT), timeout: float = 30.0):
        super().__init__(address, timeout)

    def send(self, path, *, name: str | None = None,
             progress: Callable[[int, int], None] | None = None) -> SendResult:
        path = Path(path)
        name = path.name if name is None else name
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            header = protocol.build_header(size, name)  # a bad name fails here, before any byte is sent
            start = time.perf_counter()
            self.sock.sendall(header)
            self._expect(protocol.Ready)
            try:
                digest = self._send_body(source, size, progress)
            except ConnectionError:
                self._expect(protocol.Ok)  # the server's ERROR line, if it left one, says why
                raise
        ok = self._expect(protocol.Ok)
        seconds = time.perf_counter() - start
        if ok.sha256 != digest or ok.size != size:
            raise TransferError("sha-mismatch", f"sent {size} bytes with sha256 {digest}, "
                                f"the server saved {ok.size} bytes with sha256 {ok.sha256}")
        return SendResult(ok.saved_name, size, digest, seconds)

    def _send_body(self, source, size: int, progress) -> str:
        """Send the file with ``sendfile`` while another thread hashes it; returns the hex digest.

        The kernel copies the file's pages straight into the socket, and the
        hashing thread reads the file on its own (``sha256.update`` releases
        the GIL), so hashing costs almost no extra time.  If the file changes
        meanwhile, the server's hash will differ and we say so.
        """
        if progress:
            progress(0, size)
        hashed: list[str] = []
        hasher = threading.Thread(target=lambda: hashed.append(_sha256_of(source.name, size)),
                                  name="hasher", daemon=True)
        hasher.start()
        sent = 0
        try:
            while sent < size:
                n = self.sock.sendfile(source, offset=sent, count=min(SEND_CHUNK, size - sent))
                if n == 0:
                    raise TransferError("incomplete", f"the file shrank while being sent: {sent} of {size} bytes")
                sent += n
                if progress:
                    progress(sent, size)
        finally:
            hasher.join()  # reads at most ``size`` bytes of a local file: it always ends
        return hashed[0]

    def _expect(self, kind):
        line = recv_line(self.sock, protocol.MAX_HEADER)
        if not line:
            raise ConnectionError("the server closed the connection without a reply")
        reply = protocol.parse_reply(line)
        if isinstance(reply, protocol.ErrorReply):
            raise TransferError(reply.code, reply.message)
        if not isinstance(reply, kind):
            raise protocol.RemoteProtocolError("bad-header", f"expected {kind.__name__}, got {reply}")
        return reply



def _sha256_of(path, size: int) -> str:
    """SHA-256 of the first ``size`` bytes of a file, read in fixed-size chunks."""
    sha = hashlib.sha256()
    buffer = memoryview(bytearray(BUFFER))
    left = size
    with open(path, "rb", buffering=0) as f:
        while left and (n := f.readinto(buffer[: min(BUFFER, left)])):
            sha.update(buffer[:n])
            left -= n
    return sha.hexdigest()


def send_file(path, address=("127.0.0.1", DEFAULT_FILE_PORT), *, name: str | None = None,
              progress: Callable[[int, int], None] | None = None, timeout: float = 30.0) -> SendResult:
    """Send one file and return where the server saved it.

    Raises :class:`TransferError` if the server refuses it or saves other bytes,
    ``LocalProtocolError`` for a name the protocol does not allow.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if name is None:
        name = path.name
    protocol.check_name(name)  # before connecting
    with FileClient(address, timeout) as client:
        return client.send(path, name=name, progress=progress)
