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
import re
import secrets
import select
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import protocol
from .i18n import _, ngettext, retold
from .server import NO_REPLY, Server, ThreadingMixIn, preview
from .streams import (Connection, DeadlineExceeded, IncompleteRead, LineTooLong, extend_deadline, recv_line, sooner,
                      with_deadline)

__all__ = ["FileServer", "ThreadingFileServer", "FileClient", "send_file", "SendResult",
           "TransferError", "DEFAULT_FILE_PORT"]

DEFAULT_FILE_PORT = 65433
BUFFER = 1024 * 1024  # big enough for few system calls, small enough that memory stays flat
SEND_CHUNK = 8 * BUFFER  # how much sendfile() sends between two progress reports
WRITE_SLICE = 64 * 1024  # see write_all


def unterminated_header(received: int) -> str:
    """The refusal of a header the client ended (closed) before its newline."""
    return ngettext("the header must end with a newline: got {n} byte, then the connection closed",
                    "the header must end with a newline: got {n} bytes, then the connection closed",
                    received).format(n=received)


def incomplete_body(expected: int, received: int) -> str:
    """The refusal of a body cut short (streams' IncompleteRead says it in English only: the bottom layer)."""
    return _("expected {wanted}, got {got} before the connection closed").format(
        wanted=ngettext("{n} byte", "{n} bytes", expected).format(n=expected),
        got=ngettext("{n} byte", "{n} bytes", received).format(n=received))


def _cannot_save(exc: OSError) -> str:
    return _("cannot save the file: {reason}").format(reason=exc.strerror or exc)


class DiskStalled(OSError):
    """The disk did not take the received bytes in time."""


# Save relative to the upload folder held open (dir_fd): if the folder is swapped for a
# symlink after the server started, files still land in the folder it started with.
# Where dir_fd is missing (Windows), paths are used instead: the folder is looked up
# again for every file, so a swapped folder would be followed there.
_DIR_FD = (hasattr(os, "O_DIRECTORY") and
           {os.open, os.link, os.unlink, os.stat} <= os.supports_dir_fd and os.listdir in os.supports_fd)
_LEFTOVER = re.compile(r"\.incoming-(?:(\d+)-)?[\w-]+\.part")  # "-<pid>-" is missing in old names


class FileServer(Server):
    """Receives files over protocol v1 and saves them in ``folder``, one client at a time."""

    role = "file-server"
    name_attempts = 10_000  # report.txt, report (1).txt, … report (9999).txt

    def __init__(self, folder="uploads", host="127.0.0.1", port=0, *, max_size=1 << 30,
                 idle_timeout: float = 30.0, **kwargs):
        super().__init__(host, port, idle_timeout=idle_timeout, **kwargs)
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_size = max_size
        self._dir_fd: int | None = None
        self._last_number: dict[str, int] = {}  # name -> the last n of "name (n)" it was saved as

    def start(self) -> "FileServer":
        if self._started:
            return super().start()
        if _DIR_FD:
            self._dir_fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            removed = self._remove_leftovers()  # before listening: no upload of ours is under way
            super().start()
        except BaseException:
            self._close_folder()
            raise
        if removed:
            self.log(0, "cleanup", detail=ngettext("removed {n} temporary file left by a server that did not finish: {names}",
                                                  "removed {n} temporary files left by a server that did not finish: "
                                                  "{names}", len(removed)).format(
                         n=len(removed), names=", ".join(removed[:3]) + ("…" if len(removed) > 3 else "")))
        return self

    def server_close(self) -> None:
        if not self.still_serving():  # else a handler may still save: leave its folder open
            self._close_folder()

    def _close_folder(self) -> None:
        fd, self._dir_fd = self._dir_fd, None
        if fd is not None:
            os.close(fd)

    # ---- the upload folder, by name relative to it -------------------------

    def _path(self, name: str):
        return name if self._dir_fd is not None else self.folder / name

    def _exists(self, name: str) -> bool:
        try:
            os.stat(self._path(name), dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def _unlink(self, name: str) -> None:
        try:
            os.unlink(self._path(name), dir_fd=self._dir_fd)
        except FileNotFoundError:
            pass

    def _remove_leftovers(self) -> list[str]:
        removed = []
        for name in os.listdir(self._dir_fd if self._dir_fd is not None else self.folder):
            match = _LEFTOVER.fullmatch(name)
            if match and not _process_alive(match[1]):
                try:
                    self._unlink(name)
                    removed.append(name)
                except OSError:
                    pass  # still open elsewhere (Windows), or not ours to remove
        return removed

    def _create_temporary(self) -> tuple[str, int]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        name = f".incoming-{os.getpid()}-{secrets.token_hex(8)}.part"
        fd = os.open(self._path(name), flags, 0o644, dir_fd=self._dir_fd)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o644)  # the saved file is readable like any other, whatever the umask
        return name, fd

    # ---- one connection ----------------------------------------------------

    def handle(self, conn: socket.socket, client_id: int) -> None:
        # READY and OK are two small writes in a row: without NODELAY the second waits
        # for the client's delayed ACK (40 ms on Linux) and an empty upload takes 42 ms.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:  # one file per header, as many as the client sends
            try:
                # A header is one short line: once it has begun, it comes whole within one idle
                # timeout, so a client trickling it holds a sequential server no longer than a silent one.
                if conn.recv(1, socket.MSG_PEEK):
                    with sooner(conn, self.idle_timeout, _("no whole header within {seconds} s").format(seconds=f"{self.idle_timeout:g}")):
                        line = recv_line(conn, protocol.MAX_HEADER)
                else:
                    line = b""
                if not line:
                    return  # the client closed between files: all is well
                header = protocol.parse_header(line, max_size=self.max_size)
            except DeadlineExceeded as exc:
                self._refuse(conn, client_id, "timeout", _("{reason}, dropped").format(reason=exc))
                return
            except TimeoutError:
                # A silent client has nothing in flight: close at once, no lingering.
                self._refuse(conn, client_id, "timeout", _("no header for {seconds} s, dropped").format(seconds=f"{self.idle_timeout:g}"),
                             linger=_has_unread(conn))
                return
            except LineTooLong:
                self._refuse(conn, client_id, "bad-header", _("no newline in the first {n} bytes").format(n=protocol.MAX_HEADER))
                return
            except IncompleteRead as exc:
                self._refuse(conn, client_id, "bad-header", unterminated_header(exc.received))
                return
            except protocol.RemoteProtocolError as exc:
                self._refuse(conn, client_id, exc.code, exc.message)
                return
            self.log(client_id, "header", header.size, preview(header.name.encode(), 60))
            if not self._receive(conn, client_id, header):
                return

    def _refuse(self, conn: socket.socket, client_id: int, code: str, message: str, linger=True) -> bool:
        """Record the error, tell the client in one ERROR line; False: end the connection."""
        message = retold(message)
        self.log(client_id, "timeout" if code == "timeout" else "error", detail=f"{code}: {message}")
        extend_deadline(conn, 2.0)  # time to say why, even past the connection's deadline
        try:
            conn.sendall(protocol.build_error(code, message))  # its "error" event above is the reply's record
            if linger:
                _lingering_close(conn)
        except OSError:
            pass  # the client is gone; nothing more to tell it
        return False

    def _receive(self, conn, client_id, header: protocol.FileHeader) -> bool:
        """Say READY if the file can be saved, receive its body into a temporary file, save it.

        Returns False if the connection must end.
        """
        try:
            tmp, fd = self.prepare_upload(header)
        except OSError as exc:
            return self._refuse(conn, client_id, "io-error", _cannot_save(exc))
        writer = _HashingWriter(fd)  # owns fd from here on
        refusal = None  # (code, message): told the client once the temporary file is gone
        try:
            conn.sendall(protocol.build_ready())
            self.log(client_id, "ready", detail="READY")
            digest, write_error = self._copy_body(conn, client_id, header.size, writer)
            if write_error:
                raise write_error
            saved = self._link_under_free_name(tmp, header.name)
        except IncompleteRead as exc:
            refusal = "incomplete", incomplete_body(exc.expected, exc.received)
        except DeadlineExceeded as exc:
            refusal = "timeout", str(exc)
        except TimeoutError:
            refusal = "timeout", _("no data for {seconds} s").format(seconds=f"{self.idle_timeout:g}")
        except ConnectionError:
            raise  # the client broke the connection: the base class records it
        except OSError as exc:  # the disk, not the network: disk full, stalled, permissions…
            refusal = "io-error", _cannot_save(exc)
        finally:
            writer.abandon()  # no-op once finished; a stalled writer ends on its own
            self._unlink(tmp)  # saved under its final name by now, or dropped
        if refusal is not None:
            # After the cleanup: a client that hears of a full disk finds the room freed.
            return self._refuse(conn, client_id, *refusal)
        self.log(client_id, "saved", header.size, f"{saved} sha256 {digest[:12]}…")
        reply = protocol.build_ok(header.size, digest, saved)
        conn.sendall(reply)
        self.log(client_id, "send", len(reply), f"OK {header.size} {digest[:12]}… {saved}")  # the line, digest cut
        return True

    def prepare_upload(self, header: protocol.FileHeader) -> tuple[str, int]:
        """Before READY: a temporary file for the body, ``(its name, an fd open for writing)``.

        Raises OSError for what is refused before the body: a disk without room, a
        folder we may not write in, a name whose every numbered form is taken.  (A
        disk that fills up meanwhile still fails a write: io-error after the body.)
        """
        free = shutil.disk_usage(self._dir_fd if self._dir_fd is not None else self.folder).free
        if header.size > free:
            raise OSError(errno.ENOSPC, f"no room for {header.size} bytes, {free} bytes free")
        self._free_name(header.name)
        return self._create_temporary()

    def _copy_body(self, conn, client_id, size: int, writer: "_HashingWriter"):
        """Copy exactly ``size`` bytes from ``conn`` to the writer, which hashes and writes them.

        Returns ``(sha256 hex, write error or None)``.  After a write error it
        still reads the rest of the body, so the client hears the error reply
        instead of a broken connection.
        """
        got = 0
        report_every = max(BUFFER, size // 10)
        next_report = report_every
        pieces = _BodyPieces(self, client_id)
        try:
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
                    pieces.add(n)
                writer.submit(buffer, filled)
                got += filled
                if next_report <= got < size:
                    self.log(client_id, "progress", got, f"{100 * got // size}%")
                    next_report += report_every
        finally:
            pieces.close()
        return writer.finish(self.idle_timeout)

    def _numbers_to_try(self, name: str):
        """0 (the name itself), then the numbers from the last one given to this name.

        Without the hint, the n-th upload of one name would try n names first:
        10,000 uploads of ``data.csv`` would cost 50 million system calls.
        """
        yield 0
        yield from range(max(1, self._last_number.get(name, 1)), self.name_attempts)

    def _free_name(self, name: str) -> str:
        """The first of ``name``, ``name (1)``… not taken now, or OSError if all are."""
        for n in self._numbers_to_try(name):
            candidate = protocol.numbered_name(name, n)
            if not self._exists(candidate):
                return candidate
        raise OSError(errno.EEXIST, f"no free name for {name!r}: it and {self.name_attempts - 1} "
                      "numbered names are taken")

    def _link_under_free_name(self, tmp: str, name: str) -> str:
        """Give the finished temporary file its name, or ``name (1)``… if that is taken.

        ``os.link`` fails if the name exists (even as a dangling link), so no
        file is ever overwritten, even by two uploads racing for one name.

        Where hard links fail (FAT/exFAT USB sticks, some network drives, some
        Windows and macOS shares: EPERM, EXDEV, ENOTSUP, …) the fallback claims the
        name with an exclusive create (``O_CREAT | O_EXCL``, which fails if it
        exists) and then ``os.replace``s the temporary file onto that empty
        placeholder.  Still never over anyone else's file, even racing uploads;
        but for the moment between the two calls an empty file stands under the
        final name (after every byte arrived), and if the replace fails the
        placeholder is removed again.
        """
        for n in self._numbers_to_try(name):
            candidate = protocol.numbered_name(name, n)
            if protocol.name_problem(candidate):  # cannot happen for a valid name; never trust it
                raise OSError(f"refusing to save under {candidate!r}")
            try:
                if getattr(self, "_hard_links", True):
                    try:
                        os.link(self._path(tmp), self._path(candidate), src_dir_fd=self._dir_fd,
                                dst_dir_fd=self._dir_fd)
                    except FileExistsError:
                        raise
                    except OSError:
                        self._hard_links = False  # this folder has none: create-and-replace from now on
                if not getattr(self, "_hard_links", True):
                    placeholder = os.open(self._path(candidate), os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                          | getattr(os, "O_BINARY", 0), 0o644, dir_fd=self._dir_fd)
                    os.close(placeholder)
                    try:
                        os.replace(self._path(tmp), self._path(candidate), src_dir_fd=self._dir_fd,
                                   dst_dir_fd=self._dir_fd)
                    except BaseException:
                        self._unlink(candidate)  # our own empty placeholder
                        raise
                if n:
                    self._last_number[name] = n
                    if len(self._last_number) > 1000:  # a hint only: forget the oldest
                        del self._last_number[next(iter(self._last_number))]
                return candidate
            except FileExistsError:
                continue
        raise OSError(errno.EEXIST, f"no free name for {name!r}")


class _BodyPieces:
    """Records the pieces a body arrived in: the first :attr:`shown` as ``body`` events, then one summary.

    A 1 GiB body comes in tens of thousands of ``recv`` pieces; the log keeps a
    picture's worth of them, and the summary accounts for every other byte.
    """

    shown = 20

    def __init__(self, server: Server, client_id: int):
        self.server, self.client_id = server, client_id
        self.count = 0
        self.rest = self.rest_count = 0

    def add(self, n: int) -> None:
        self.count += 1
        if self.count <= self.shown:
            self.server.log(self.client_id, "body", n, _("piece {n}").format(n=self.count))
        else:
            self.rest += n
            self.rest_count += 1

    def close(self) -> None:
        if self.rest_count:
            self.server.log(self.client_id, "body", self.rest, ngettext("{n} more piece", "{n} more pieces", self.rest_count).format(n=self.rest_count))
            self.rest = self.rest_count = 0


class ThreadingFileServer(ThreadingMixIn, FileServer):
    """The file server with a thread per client: uploads arrive side by side."""

    role = "threading-file-server"


def _process_alive(pid: str | None) -> bool:
    """Whether the process that made a temporary file may still be writing it."""
    if pid is None:
        return False  # a name from before pids were recorded
    if int(pid) == os.getpid():
        return True  # another server of this process may be receiving into it
    if os.name == "nt":
        return False  # os.kill would end it; an open file cannot be removed there anyway
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, and belongs to someone else
    return True


def _has_unread(conn: socket.socket) -> bool:
    """Whether bytes from the client wait in the socket right now."""
    try:
        return bool(select.select([conn], [], [], 0)[0])
    except (OSError, ValueError):
        return False


class _HashingWriter:
    """Hashes and writes received chunks to a file descriptor in a helper thread.

    The connection's thread receives the next chunk while this one hashes and
    writes the last: both ``recv_into`` and ``sha256.update`` release the GIL,
    so the two run on two cores.  A few fixed buffers circulate between them,
    which keeps memory flat whatever the file size.  The thread owns the
    descriptor and closes it when done, so a disk that stalls holds up only
    this thread, never the connection's.
    """

    def __init__(self, fd: int, buffers: int = 4):
        self.fd = fd
        self.sha = hashlib.sha256()
        self.write_error: OSError | None = None
        self.abandoned = False
        self.free: queue.Queue = queue.Queue()
        for _ in range(buffers):
            self.free.put(bytearray(BUFFER))
        self.full: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="hashing-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while (item := self.full.get()) is not None:
                buffer, n = item
                if not self.abandoned:
                    chunk = memoryview(buffer)[:n]
                    self.sha.update(chunk)
                    if self.write_error is None:
                        try:
                            self._write(chunk)
                        except OSError as exc:
                            self.write_error = exc  # keep hashing: the caller still drains the body
                self.free.put(buffer)
        except Exception as exc:  # noqa: BLE001 - a helper thread never prints a traceback
            self.write_error = OSError(f"the writer failed: {exc!r}")
        finally:
            os.close(self.fd)

    def _write(self, chunk: memoryview) -> None:
        write_all(self.fd, chunk)

    def free_buffer(self, timeout: float) -> memoryview:
        try:
            return memoryview(self.free.get(timeout=timeout))
        except queue.Empty:
            raise DiskStalled(errno.EIO, f"the disk wrote nothing for {timeout:g} s") from None

    def submit(self, buffer: memoryview, n: int) -> None:
        self.full.put((buffer.obj, n))

    def finish(self, timeout: float):
        """Wait for the last chunk; returns ``(sha256 hex, write error or None)``."""
        self.full.put(None)
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.abandoned = True
            raise DiskStalled(errno.EIO, f"the disk did not finish writing within {timeout:g} s")
        return self.sha.hexdigest(), self.write_error

    def abandon(self) -> None:
        """Stop without waiting: the thread drops what is queued and closes the file."""
        if self.thread.is_alive() and not self.abandoned:
            self.abandoned = True
            self.full.put(None)


def write_all(fd: int, chunk) -> None:
    """Write all of ``chunk`` to ``fd``, in slices.

    Large write() calls can make the kernel hunt for large contiguous page-cache
    folios and stall: 1 MiB writes took up to 4x the system time of 64 KiB writes.
    """
    chunk = memoryview(chunk)
    for i in range(0, len(chunk), WRITE_SLICE):
        piece = chunk[i : i + WRITE_SLICE]
        while piece:
            piece = piece[os.write(fd, piece):]


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
    """One connection to a ``FileServer``; ``send(path)`` as often as you like.

    ``timeout`` bounds the whole connection, connecting included, as ``echo()``'s does: a server that
    trickles its replies a byte at a time cannot hold the client past it.
    """

    def __init__(self, address=("127.0.0.1", DEFAULT_FILE_PORT), timeout: float = 30.0):
        started = time.monotonic()
        super().__init__(address, timeout)
        self.sock = with_deadline(self.sock, max(timeout - (time.monotonic() - started), 0.001))
        self.sock.settimeout(timeout)

    def send(self, path, *, name: str | None = None,
             progress: Callable[[int, int], None] | None = None) -> SendResult:
        path = Path(path)
        name = path.name if name is None else name
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            protocol.check_name(name)  # a bad name fails here, before any byte is sent
            header = protocol.build_header(size, name)
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
            raise TransferError("sha-mismatch", _("sent {size} bytes with sha256 {digest}, the server saved {saved} "
                                                  "bytes with sha256 {its}").format(size=size, digest=digest,
                                                                                     saved=ok.size, its=ok.sha256))
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
                    raise TransferError("incomplete", _("the file shrank while being sent: {sent} of {size} bytes").format(
                        sent=sent, size=size))
                sent += n
                if progress:
                    progress(sent, size)
        finally:
            hasher.join()  # reads at most ``size`` bytes of a local file: it always ends
        return hashed[0]

    def _expect(self, kind):
        line = recv_line(self.sock, protocol.MAX_HEADER)
        if not line:
            raise ConnectionError(_(NO_REPLY))
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
        raise FileNotFoundError(_("no such file: {path}").format(path=path))
    if name is None:
        name = path.name
    protocol.check_name(name)  # before connecting
    with FileClient(address, timeout) as client:
        return client.send(path, name=name, progress=progress)
