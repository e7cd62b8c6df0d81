"""The checks of notebook 03: receiving exactly n bytes, a file server, a file client.

Each check is built to fail the common wrong answers every time, not in most runs:

- bytes arrive in pieces a moment apart, so one ``recv`` gets only the first;
- more bytes than asked for wait in the socket at once, so ``recv(65536)``
  without ``min`` reads past ``n``;
- a stream that ends early ends for good: a loop with no test for ``b''``
  spins, and the check ends it by closing its socket;
- the file server meets hostile names, a second upload of one name and a
  truncated body; the client meets a server that waits before READY, refuses,
  and lies about the SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import socket
import threading
import time
from pathlib import Path

from ..i18n import N_, _
from . import (CheckFailed, call_student, close_listener, fail, not_here, preview, raised, ready_to_check, scratch_folder,
               stops_cleanly, student_server)
from ..streams import recv_line

__all__ = ["recv_exactly", "recv_exactly_eof", "safe_name", "file_server", "file_server_refuses", "file_client",
           "file_client_refusals", "HOSTILE_NAMES", "GOOD_NAMES"]

HINT_EOF = N_("when recv returns b'' the stream has ended for good: raise EOFError saying how many bytes "
               "you expected and how many came")  # _(HINT_EOF) where used
HINT_EXACTLY = N_("read exactly size bytes (my_recv_exactly(conn, size)), not until the end of the stream: the "
                  "client waits for your reply")  # _(HINT_EXACTLY) where used
TEXT = ("Звіт з лабораторної роботи №3.\nСокети: TCP, порт 65433, «файл» і ґанок.\n" * 20)


def _pair(timeout: float = 5.0) -> tuple[socket.socket, socket.socket]:
    """A connected TCP pair on 127.0.0.1: (the course's end, the end the student's code reads)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(timeout)
        ours = socket.create_connection(listener.getsockname()[:2], timeout=timeout)
        theirs, _peer = listener.accept()
    ours.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    theirs.settimeout(timeout)
    return ours, theirs


def _run(function, args, sock: socket.socket, *, timeout: float):
    """``function(*args)`` in a thread: ``("ok", value)``, ``("raised", exc)`` or ``("running", None)``.

    If it overruns, ``sock`` is closed under it, so a loop spinning on it ends.
    """
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(("ok", function(*args)))
        except BaseException as exc:  # judged by the caller, never printed here
            outcome.append(("raised", exc))

    thread = threading.Thread(target=run, name="student-code", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        thread.join(2)
        return "running", None
    return outcome[0]


# ---- exercise 4: my_recv_exactly ------------------------------------------------------------------


@stops_cleanly
def recv_exactly(my_recv_exactly) -> None:
    """Exercise 4: pieces a moment apart, bytes past n, 0 bytes, a stream that ends early."""
    ready_to_check(my_recv_exactly)
    data = "Привіт, файле!".encode()
    # 1. in three pieces, 0.1 s apart: a single recv gets only the first
    ours, theirs = _pair()
    with ours, theirs:
        def feed() -> None:
            try:
                for i in range(0, len(data), 10):
                    ours.sendall(data[i:i + 10])
                    time.sleep(0.1)
                ours.sendall(b"rest")
            except OSError:
                pass

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        kind, value = _run(my_recv_exactly, (theirs, len(data)), theirs, timeout=5)
        feeder.join(3)
        _judge(kind, value, data, _("sent {data} in 3 pieces 0.1 s apart").format(data=preview(data)))
    # 2. everything at once, and more behind it: reading past n takes the next message's bytes
    ours, theirs = _pair()
    with ours, theirs:
        ours.sendall(data + b"NEXT MESSAGE")
        time.sleep(0.05)
        kind, value = _run(my_recv_exactly, (theirs, len(data)), theirs, timeout=5)
        _judge(kind, value, data, _("sent {data} and {more} more bytes at once").format(data=preview(data), more=12))
        theirs.settimeout(1)
        try:
            rest = theirs.recv(100)
        except OSError:
            rest = b""
        if rest != b"NEXT MESSAGE":
            fail(_("asked for {n} bytes, my_recv_exactly took some of the bytes after them too "
                   "(left {rest} of b'NEXT MESSAGE'): never ask recv for more than is missing: "
                   "sock.recv(min(n - len(data), 65536))").format(n=len(data), rest=preview(rest)))
    # 3. zero bytes: nothing to wait for
    ours, theirs = _pair()
    with ours, theirs:
        kind, value = _run(my_recv_exactly, (theirs, 0), theirs, timeout=2)
        if kind == "running":
            fail(_("my_recv_exactly(sock, 0) waited for bytes: with n = 0 there is nothing to receive, return b''"))
        _judge(kind, value, b"", _("asked for 0 bytes"))
    print("✔ " + _("my_recv_exactly gathers bytes that arrive in pieces, and stops at n"))


@stops_cleanly
def recv_exactly_eof(my_recv_exactly) -> None:
    """Exercise 4: a stream that ends after some of the n bytes asked for: EOFError, saying so.

    The numbers are drawn afresh each time: only code that counts what came can name them.
    """
    ready_to_check(my_recv_exactly)
    n = random.randint(900, 1100)
    came = random.randint(300, 600)
    ours, theirs = _pair()
    with ours, theirs:
        ours.sendall(b"x" * came)
        ours.shutdown(socket.SHUT_WR)
        kind, value = _run(my_recv_exactly, (theirs, n), theirs, timeout=3)
    sent = _("sent {came} of {n} bytes and closed").format(came=came, n=n)
    if kind == "running":
        fail(_("{sent}; my_recv_exactly was still running 3 s later (its socket was closed to stop it): "
               "{hint}").format(sent=sent, hint=_(HINT_EOF)))
    if kind == "ok":
        got = f"{preview(value)}" if isinstance(value, (bytes, bytearray)) else repr(value)
        fail(_("{sent}; my_recv_exactly returned {got}: {hint}").format(sent=sent, got=got, hint=_(HINT_EOF)))
    if not isinstance(value, EOFError):
        raise raised("my_recv_exactly", value, f"{sent}: {_(HINT_EOF)}") from None
    if str(n) not in str(value) or str(came) not in str(value):
        fail(_("{sent}; my_recv_exactly raised {error}: say how many bytes were expected and how many came, "
               "e.g. {example}").format(sent=sent, error=f"EOFError({str(value)!r})",
                                        example="EOFError(f'expected {n} bytes, got {len(data)}')"))
    print("✔ " + _("my_recv_exactly says clearly when the stream ended early"))


def _judge(kind: str, value, data: bytes, what: str) -> None:
    if kind == "running":
        fail(_("{what}, my_recv_exactly did not return within {seconds} s: stop as soon as you have n bytes").format(
            what=what, seconds=5))
    if kind == "raised":
        raise raised("my_recv_exactly", value) from None
    if not isinstance(value, (bytes, bytearray)):
        fail(_("{what}, my_recv_exactly returned a {type}: return the bytes (b''.join(…))").format(
            what=what, type=type(value).__name__))
    if bytes(value) == data:
        return
    if len(value) < len(data) and data.startswith(value):
        fail(_("{what}, my_recv_exactly returned only {got}: recv returns what has arrived so far; "
               "call it in a loop until you have n bytes").format(what=what, got=preview(value)))
    if len(value) > len(data) and bytes(value).startswith(data):
        fail(_("{what}, asked for {n}, my_recv_exactly returned {got}: it read past n, taking "
               "the next message's bytes: never ask recv for more than is missing: "
               "sock.recv(min(n - len(data), 65536))").format(what=what, n=len(data), got=preview(value)))
    fail(_("{what}, my_recv_exactly returned {got}: return exactly the n bytes received").format(
        what=what, got=preview(value)))


# ---- exercise 5: safe_name and receive_file --------------------------------------------------------

HOSTILE_NAMES = {
    "../evil.txt": "'/'", "/etc/passwd": "'/'", "..\\evil.txt": "'\\'", "sub/report.txt": "'/'",
    "..": "'..'", ".": "'.'", "": N_("an empty name"), "a\x00b.txt": "NUL", "a\nb.txt": N_("a control character"),
    "\x1b[31mred.txt": N_("a control character"), "tab\there.txt": N_("a control character"),
    "x" * 256: N_("over 255 bytes"), "я" * 128 + ".txt": N_("over 255 bytes in UTF-8 (a Ukrainian letter is 2 bytes)"),
}  # why each is refused: _(why) where shown
GOOD_NAMES = ["звіт.txt", "report (1).txt", "my notes.txt", "я" * 125 + ".txt", "x" * 255]


@stops_cleanly
def safe_name(my_safe_name) -> None:
    """Exercise 5: ``safe_name(name)`` returns a plain name and raises ValueError for every other one."""
    ready_to_check(my_safe_name)
    for name in GOOD_NAMES:
        try:
            result = my_safe_name(name)
        except ValueError as exc:
            fail(_("{call} raised {error}, but it is a plain file name: "
                   "refuse only '/', '\\\\', '.', '..', empty names, control characters and over 255 bytes").format(
                call=f"safe_name({_short(name)})", error=f"ValueError({str(exc)!r})"))
        except Exception as exc:
            raise raised("safe_name", exc) from None
        if result != name:
            fail(_("{call} returned {result}: return the name itself when it is safe "
                   "(never 'clean up' a name into another one)").format(call=f"safe_name({_short(name)})",
                                                                        result=repr(result)))
    for name, why in HOSTILE_NAMES.items():
        try:
            result = my_safe_name(name)
        except ValueError:
            continue
        except NotImplementedError as exc:
            raise raised("safe_name", exc) from None
        except Exception as exc:
            raise raised("safe_name", exc, _("for {name}: raise ValueError saying why").format(
                name=_short(name))) from None
        if isinstance(result, str) and result != name:
            fail(_("{call} returned {result}: a name with {why} must be refused (raise "
                   "ValueError saying why), never 'clean up' a name into another one").format(
                call=f"safe_name({_short(name)})", result=repr(result), why=_(why)))
        fail(_("{call} returned {result}: a name with {why} must be refused: raise ValueError saying why").format(
            call=f"safe_name({_short(name)})", result=repr(result), why=_(why)))
    print("✔ " + _("safe_name refuses {hostile} hostile names and keeps {plain} plain ones").format(
        hostile=len(HOSTILE_NAMES), plain=len(GOOD_NAMES)))


def _short(name: str) -> str:
    if len(name) <= 30:
        return repr(name)
    return _("{start}… ({n} characters, {size} bytes)").format(start=repr(name[:12]), n=len(name),
                                                              size=len(name.encode()))


SILENT = b"nothing within 2 s"  # what _upload notes when the server said nothing to a header
NO_REPLY = b"no reply"  # ...and when it said nothing to the whole body
# Those connections, held open until the check's end (release_held) closes them: a server waiting for
# the body would take our closing for a broken upload and raise, and one reading to the end of the
# stream would take it for the end of the file and save it, so the check could not tell what it did.
_held: list[socket.socket] = []


def _hold(sock: socket.socket) -> None:
    _held[:] = [s for s in _held if s.fileno() != -1]
    _held.append(sock)


@contextlib.contextmanager
def release_held():
    """Close the connections ``_upload`` held open when the block ends."""
    try:
        yield
    finally:
        for sock in _held:
            sock.close()
        _held.clear()


def _upload(address, header: bytes, body: bytes = b"", *, close_after: int | None = None,
            timeout: float = 5.0) -> list[bytes]:
    """Speak the protocol by hand: header, READY?, body (or ``close_after`` bytes of it), reply lines.

    A server that says nothing to the header keeps its connection open (the
    check closes it), so it does not take our closing for a broken upload.
    """
    replies = []
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.sendall(header)
        sock.settimeout(2)  # a server answers a header at once
        try:
            replies.append(recv_line(sock, 1024))
        except TimeoutError:
            _hold(sock)
            replies.append(SILENT)
            return replies
        except OSError:
            replies.append(b"")
        if replies[0] != b"READY\n":
            sock.close()
            return replies
        sock.settimeout(timeout)
        try:
            if close_after is not None:
                sock.sendall(body[:close_after])
                sock.shutdown(socket.SHUT_WR)
            else:
                for i in range(0, len(body), 1000):  # in pieces: one recv gets only the first
                    sock.sendall(body[i:i + 1000])
            sock.settimeout(3)  # a server replies as soon as the size's last byte came
            replies.append(recv_line(sock, 1024))
        except TimeoutError:
            _hold(sock)
            replies.append(NO_REPLY)
            return replies
        except OSError:
            replies.append(b"")
        sock.close()
    except BaseException:
        sock.close()
        raise
    return replies


def _serve_one(receive_file, folder: Path, results: list):
    def serve(listener):
        conn, _peer = listener.accept()
        with conn:
            conn.settimeout(5)
            results.append(receive_file(conn, folder))
    serve.__name__ = "receive_file"
    return serve


def _everything(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _folder(folder) -> Path:
    return Path(folder) if folder is not None else scratch_folder()


@stops_cleanly
@release_held()
def file_server(receive_file, folder=None) -> None:
    """Exercise 5: UTF-8 and cp1251 files byte for byte, the reply, the return value, no overwriting."""
    folder = _folder(folder)
    root = folder / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    expected = ["звіт.txt", "звіт (1).txt"]
    for encoding, wanted in zip(("utf-8", "cp1251"), expected):
        body = TEXT.encode(encoding)
        results: list = []
        with student_server(_serve_one(receive_file, root, results), conn_timeout=5,
                            timeout_hint=_(HINT_EXACTLY)) as session:
            replies = _upload(session.address, f"FILE {len(body)} звіт.txt\n".encode(), body)
            if replies[1:] == [NO_REPLY] and not (root / wanted).exists():
                fail(_("sent {header} and its {n} bytes, and got no reply within 3 s: your server is still waiting "
                       "for more: {hint}").format(header=f"FILE {len(body)} звіт.txt", n=len(body),
                                                   hint=_(HINT_EXACTLY)))
            if replies[0] not in (b"READY\n", SILENT):
                session.done.wait(0.5)  # a server that raised: its error says more
            if replies[0] == SILENT or (replies[0] != b"READY\n" and session.failure is None):
                got = _("nothing within {seconds} s").format(seconds=2) if replies[0] == SILENT else preview(replies[0])
                fail(_("sent the header {header}, got back {got}: a good header gets "
                       "b'READY\\n' before the client sends the body: the client waits for it").format(
                    header=f"FILE {len(body)} звіт.txt", got=got))
        sent = _("sent {header} and {n} bytes of {encoding} text").format(header=f"FILE {len(body)} звіт.txt",
                                                                         n=len(body), encoding=encoding)
        saved = root / wanted
        if wanted == "звіт (1).txt" and (root / "звіт.txt").exists() and \
                (root / "звіт.txt").read_bytes() != TEXT.encode("utf-8"):
            fail(_("the second upload of звіт.txt overwrote the first: never overwrite a file: open(path, 'xb') "
                   "raises FileExistsError, then try 'звіт (1).txt', 'звіт (2).txt', …"))
        if not saved.exists():
            if wanted != expected[0]:
                fail(_("{sent}, and {wanted} is not in the folder (it holds {files}): save the file in folder under "
                       "the name from the header, and never overwrite: try 'звіт (1).txt' when 'звіт.txt' "
                       "exists").format(sent=sent, wanted=repr(wanted), files=_everything(root)))
            fail(_("{sent}, and {wanted} is not in the folder (it holds {files}): save the file in folder under "
                   "the name from the header").format(sent=sent, wanted=repr(wanted), files=_everything(root)))
        if saved.read_bytes() != body:
            fail(_("{sent}, saved {saved}: save the bytes exactly as received (open(path, 'xb'), no decoding)").format(
                sent=sent, saved=preview(saved.read_bytes())))
        digest = hashlib.sha256(body).hexdigest()
        ok = f"OK {len(body)} {digest} {wanted}\n".encode()
        if replies[1:] != [ok]:
            fail(_("{sent}, the reply was {reply}, expected {ok}: send {example}").format(
                sent=sent, reply=preview(replies[1] if len(replies) > 1 else b''), ok=preview(ok),
                example="f'OK {size} {sha256 hex} {saved name}\\n'"))
        if not results or not isinstance(results[0], Path) or Path(results[0]).resolve() != saved.resolve():
            fail(_("{sent}, receive_file returned {result}: return the Path it saved ({path})").format(
                sent=sent, result=repr(results[0] if results else None), path=f"folder / {wanted!r}"))
    print("✔ " + _("your server saves files byte for byte, replies with their SHA-256 and never overwrites one"))


@stops_cleanly
@release_held()
def file_server_refuses(receive_file, folder=None, names=None) -> None:
    """Exercise 5: hostile names get ERROR bad-name and nothing written; a truncated body leaves nothing."""
    folder = _folder(folder)
    root = folder / "a" / "b" / "uploads"  # deep enough that ../../ stays inside the check's folder
    root.mkdir(parents=True, exist_ok=True)
    for name in names or [n for n in HOSTILE_NAMES if n and "\n" not in n]:
        results: list = []
        header = f"FILE 4 {name}\n".encode()
        with student_server(_serve_one(receive_file, root, results), conn_timeout=5) as session:
            replies = _upload(session.address, header, b"evil")
        written = [path for path in _everything(folder) if path not in ("a", "a/b", "a/b/uploads")]
        if written:
            fail(_("sent {header}; your server wrote {written}: never trust a name from "
                   "the network: check it with safe_name before saving, and refuse it").format(
                header=f"FILE 4 {_short(name)}", written=written))
        if not replies[0].startswith(b"ERROR bad-name"):
            fail(_("sent {header}, got back {reply}: refuse a name safe_name rejects "
                   "with b'ERROR bad-name <why>\\n', before READY").format(header=f"FILE 4 {_short(name)}",
                                                                           reply=preview(replies[0])))
        if results != [None]:
            fail(_("sent {header}; receive_file returned {result}: return None when it refused").format(
                header=f"FILE 4 {_short(name)}", result=repr(results[0] if results else None)))
    results = []
    try:
        with student_server(_serve_one(receive_file, root, results), conn_timeout=5) as session:
            replies = _upload(session.address, b"FILE 1000 half.txt\n", b"x" * 1000, close_after=500)
    except CheckFailed as exc:
        if not isinstance(exc.error, EOFError):
            raise
        raise CheckFailed(f"{exc}\n    " + _("fix: a client promised 1000 bytes, sent 500 and closed: catch the "
                                             "EOFError of my_recv_exactly, save nothing and return None")) from None
    if replies[0] != b"READY\n":
        fail(_("sent the header {header}, got back {reply}: a good header gets b'READY\\n'").format(
            header="FILE 1000 half.txt", reply=preview(replies[0])))
    if _everything(root):
        fail(_("a client promised 1000 bytes, sent 500 and closed; your server left {files}: "
               "save nothing until all the bytes arrived (my_recv_exactly raises EOFError: return None)").format(
            files=_everything(root)))
    if results != [None]:
        fail(_("a client promised 1000 bytes, sent 500 and closed; receive_file returned "
               "{result}: return None for an upload that was not saved").format(
            result=repr(results[0] if results else None)))
    print("✔ " + _("your server refuses hostile names and keeps truncated uploads out"))


# ---- exercise 6: my_send_file ---------------------------------------------------------------------


class _FileJudge:
    """The course's side of the client check: one connection, recorded; READY late; a chosen reply."""

    def __init__(self, *, first: bytes = b"READY\n", reply=None, delay: float = 0.05):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(8)
        self.address = self.listener.getsockname()[:2]
        self.first, self.reply, self.delay = first, reply, delay
        self.header = b""
        self.early = b""  # body bytes that came before READY was sent
        self.body = b""
        self.connected = False
        self.thread = threading.Thread(target=self._serve, name="file-judge", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _peer = self.listener.accept()
        except OSError:
            return
        self.connected = True
        with conn:
            conn.settimeout(3)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.header = recv_line(conn, 1024)
                parts = self.header.decode("utf-8", "replace").rstrip("\n").split(" ", 2)
                size = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 0
                time.sleep(self.delay)  # a server that takes a moment to say READY
                conn.setblocking(False)
                try:
                    self.early = conn.recv(1 << 20)
                except BlockingIOError:
                    pass
                conn.settimeout(3)
                conn.sendall(self.first)
                if self.first != b"READY\n":
                    conn.shutdown(socket.SHUT_WR)
                    time.sleep(0.1)
                    return
                body = bytearray(self.early)
                while len(body) < size:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.body = bytes(body)
                name = parts[2] if len(parts) == 3 else "?"
                digest = hashlib.sha256(self.body).hexdigest()
                reply = self.reply(self.body, name, digest) if self.reply else f"OK {len(body)} {digest} {name}\n"
                conn.sendall(reply.encode())
                conn.shutdown(socket.SHUT_WR)
                conn.settimeout(1)
                while conn.recv(65536):
                    pass
            except OSError:
                pass

    def close(self) -> None:
        close_listener(self.listener)
        self.thread.join(10)


def _send(my_send_file, path: Path, judge: _FileJudge):
    try:
        return call_student(my_send_file, path, judge.address, timeout=8,
                            on_timeout=_("{call} did not return within {seconds} s: read one reply line "
                                         "after the header and one after the body (recv_line), then return").format(
                                call=f"my_send_file({path.name!r})", seconds=8))
    except CheckFailed as exc:
        if isinstance(exc.error, UnicodeError) or "UnicodeDecodeError" in str(exc) or "UnicodeEncodeError" in str(exc):
            raise CheckFailed(f"{exc}\n    " + _("fix: a file is bytes, not text: send Path(path).read_bytes() as "
                                                 "they are (a cp1251 file is not UTF-8)")) from None
        raise
    finally:
        judge.close()


@stops_cleanly
def file_client(my_send_file, folder=None, texts=None) -> None:
    """Exercise 6: any text file byte for byte, a size in bytes, READY awaited, the saved name returned."""
    folder = _folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for encoding, content in texts or [("utf-8", TEXT.encode()), ("cp1251", TEXT.encode("cp1251"))]:
        path = folder / f"лист-{encoding}.txt"
        path.write_bytes(content)
        data = path.read_bytes()
        judge = _FileJudge(reply=lambda body, name, digest: f"OK {len(body)} {digest} {name[:-4]} (1).txt\n",
                           delay=0.3 if encoding == "utf-8" else 0.05)  # a server that takes a moment to say READY
        returned = _send(my_send_file, path, judge)
        if not judge.connected:
            fail(_("my_send_file returned {returned} without connecting to the server: connect to address").format(
                returned=repr(returned)))
        declared = f"{judge.header.decode('utf-8', 'replace')!r}"
        want = f"FILE {len(data)} {path.name}\n".encode()
        if judge.header != want:
            parts = judge.header.split(b" ", 2)
            if len(parts) == 3 and parts[1] == str(len(data.decode(encoding, "replace"))).encode() != \
                    str(len(data)).encode():
                fail(_("for a {n}-byte {encoding} file your header was {declared}: that is its number of "
                       "characters; the size counts bytes: len(Path(path).read_bytes()) (a Ukrainian letter is "
                       "2 bytes in UTF-8)").format(n=len(data), encoding=encoding, declared=declared))
            fail(_("for the {n}-byte file {name} your header was {declared}, expected {want}: send {example}").format(
                n=len(data), name=repr(path.name), declared=declared, want=repr(want),
                example="f'FILE {len(data)} {Path(path).name}\\n'.encode('utf-8')"))
        if judge.early:
            fail(_("your client sent {n} bytes of the body before the server said READY: wait for "
                   "the READY line (recv_line(sock)) before sending the body: the server may refuse the file").format(
                n=len(judge.early)))
        if judge.body != data:
            fail(_("the {n}-byte {encoding} file arrived as {got}: send the file's bytes "
                   "as they are (Path(path).read_bytes()), with sendall").format(n=len(data), encoding=encoding,
                                                                                got=preview(judge.body)))
        saved = f"{path.stem} (1).txt"
        if returned != saved:
            fail(_("the server saved the file as {saved}, my_send_file returned {returned}: return the saved "
                   "name from the OK reply (reply.saved_name)").format(saved=repr(saved), returned=repr(returned)))
    print("✔ " + _("your client sends any text file byte for byte, waits for READY and returns the saved name"))


@stops_cleanly
def file_client_refusals(my_send_file, folder=None) -> None:
    """Exercise 6: an ERROR before or after the body, and a wrong SHA-256, all raise with the reason."""
    folder = _folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "звіт.txt"
    path.write_bytes(TEXT.encode())
    cases = [
        (_("refused the header with ERROR too-large"), dict(first=b"ERROR too-large 2590 bytes is over this "
                                                         b"server's limit of 1000\n"), "too-large",
         _("read the reply to the header (protocol.parse_reply(recv_line(sock))) and, if it is an ErrorReply, "
           "raise with its code and message")),
        (_("answered the body with ERROR io-error"), dict(reply=lambda body, name, digest: "ERROR io-error the disk "
                                                       "is full\n"), "io-error",
         _("read the reply to the body too and raise when it is an ErrorReply")),
        (_("answered with OK but a different SHA-256"), dict(reply=lambda body, name, digest: f"OK {len(body)} "
                                                          f"{'0' * 64} {name}\n"), None,
         _("compare the server's SHA-256 with hashlib.sha256(data).hexdigest() and raise if they differ")),
    ]
    for what, options, code, fix in cases:
        judge = _FileJudge(**options)
        try:
            returned = _send(my_send_file, path, judge)
        except CheckFailed as exc:
            text = str(exc)
            if isinstance(exc.error, NotImplementedError) or exc.timed_out or not_here(exc.error):
                raise  # the stub, a hang, the course's code when graded: what it raised says it all
            # An error counts only after the exchange it answers: the header, or the whole body, came.
            came = judge.header.startswith(b"FILE ") if "first" in options else judge.body == TEXT.encode()
            if not came:
                fail(_("the server {what}, but my_send_file raised before it had sent {part}: send the file, "
                       "then raise on the reply you read").format(
                    what=what, part=_("its header") if "first" in options else _("the whole file")))
            if code is not None and code in text:
                continue
            if code is None and exc.error is not None:
                continue  # any error for a wrong hash: the client noticed
            raise CheckFailed("✘ " + _("the server {what}; {failure}").format(what=what, failure=text.removeprefix("✘ "))
                              + "\n    " + _("fix: {fix}").format(fix=fix)) from None
        fail(_("the server {what}, and my_send_file returned {returned} as if all went well: {fix}").format(
            what=what, returned=repr(returned), fix=fix))
    print("✔ " + _("your client raises when the server refuses or saves different bytes"))
