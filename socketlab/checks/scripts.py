"""The checks of the lab's own programs: ``server.py``, ``client.py``, ``server2.py`` run as real processes.

Each script runs as ``python SCRIPT HOST PORT [MESSAGE…]`` on a free port,
against the course's own client or server, and against the student's other
script. They run as when graded: the package they find is its student side
(:mod:`socketlab.studentside`), so a program built on the course's own servers
fails here as it will there.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import tempfile
import time
from pathlib import Path

from ..programs import Program, _listening, free_port, run
from ..i18n import _, ngettext
from . import fail, preview, send_and_reset, stops_cleanly
from .files import HINT_EXACTLY, NO_REPLY, SILENT, _upload, release_held
from .echo import HINT_LOOP, _echo_once, _EchoJudge, _paced_exchange, _split

__all__ = ["server_script", "client_script", "scripts_together", "restarts_at_once", "file_server_script",
           "file_client_script", "file_scripts_together"]

HOST = "127.0.0.1"


def _readable(path) -> Path:
    """The program at ``path``, which must exist and compile (a syntax error is named in one line)."""
    shown, path = path, Path(path)
    if not path.is_file():
        fail(_("there is no {path}: run the %%writefile cell above first").format(path=shown))
    try:
        compile(path.read_bytes(), str(shown), "exec")
    except SyntaxError as error:
        fail(_("{path} does not compile: line {line}: {error}: fix it in its %%writefile cell and run "
               "that cell again").format(path=shown, line=error.lineno, error=error.msg))
    except ValueError as error:  # a NUL byte in the source
        fail(_("{path} does not compile: {error}").format(path=shown, error=error))
    return path


def _keyboard(transcript) -> bool:
    """Did the program wait for the keyboard (``input()``) and find none? (A check types nothing.)"""
    return "EOFError" in _last_error(transcript)


def _last_error(program_or_transcript) -> str:
    lines = [text for _, kind, text in getattr(program_or_transcript, "transcript", program_or_transcript).lines
             if kind == "err" and text.strip()]
    return lines[-1].strip() if lines else _("no error message")


def _start_server(path: Path, port: int) -> Program:
    server = Program(path, HOST, port, name=f"check-{path.name}").start()
    for _attempt in range(100):  # at most 5 s
        if _listening(port) or server.returncode is not None:
            break
        server.wait(0.05)
    command = f"`python {path.name} {HOST} {port}`"
    if server.returncode is not None:
        fail(_("{command} ended at once: {error}").format(command=command, error=_last_error(server)))
    if not _listening(port):
        server.stop()
        fail(_("{command} does not listen on port {port}: take the host and the port "
               "from the command line (sys.argv[1], int(sys.argv[2]))").format(command=command, port=port))
    return server


def _echoes(path: Path, server: Program, port: int, i: int, *, served: int) -> None:
    """Client ``i``: a message in pieces, each sent after the echo of the one before; it must come back whole."""
    message = f"клієнт {i}: Привіт!"
    data = message.encode()
    pieces = _split(data, 3)
    try:
        reply, how = _paced_exchange((HOST, port), pieces, timeout=5)
    except OSError:  # refused: no server (any more)
        reply, how = b"", "refused"
    if reply == data and how == "end":
        return
    sent = ngettext("client {i} sent {message} in {n} piece", "client {i} sent {message} in {n} pieces",
                    len(pieces)).format(i=i, message=preview(message), n=len(pieces))
    if server.wait(0.2) is not None and not reply:
        if served:
            _ended_after(path, server, served)
        fail(_("{sent} to {name}, which ended before it replied{said}").format(
            sent=sent, name=path.name, said=_said(server)))
    if not reply:
        fail(_("{sent} to {name} and got no reply within 5 s").format(sent=sent, name=path.name))
    if data.startswith(reply) and len(reply) in {sum(map(len, pieces[:k])) for k in range(len(pieces) + 1)}:
        fail(_("{sent} to {name}, got back only {reply}: {hint}").format(
            sent=sent, name=path.name, reply=preview(reply), hint=_(HINT_LOOP)))
    if reply == data:
        fail(_("{sent} to {name}, got back all of it, but the connection never ended: close conn when recv "
               "returns b''").format(sent=sent, name=path.name))
    fail(_("{sent} to {name}, got back {reply}: send back exactly the bytes you receive, with sendall").format(
        sent=sent, name=path.name, reply=preview(reply)))


def _said(program) -> str:
    """`` (it said: ConnectionResetError: …)`` if the program's last words were an error, else nothing."""
    lines = [text for _, kind, text in program.transcript.lines if kind == "err" and text.strip()]
    return _(" (it said: {error})").format(error=lines[-1].strip()) if lines else ""


def _ended_after(path: Path, server: Program, served: int) -> None:
    fail(ngettext("{name} served {count} client and ended{said}: a permanent server loops over accept for ever "
                  "(while True: …)",
                  "{name} served {count} clients and ended{said}: a permanent server loops over accept for ever "
                  "(while True: …)", served).format(name=path.name, count=served, said=_said(server)))


_SILENCE_BOUND = 12.0  # how long a silent client may hold up a permanent server's next one (the notebook: 10 s at most)


def _survives(path: Path, server: Program, port: int) -> None:
    """A client that crashes, then one that stays silent: a permanent server goes on to the next client."""
    if server.wait(0.2) is not None:
        _ended_after(path, server, 1)
    with contextlib.suppress(OSError):
        send_and_reset((HOST, port), b"half a messa")
    if server.wait(0.3) is not None:
        fail(_("{name} ended when a client crashed{said}: catch OSError around each client "
               "(try: … except OSError:) and serve the next one").format(name=path.name, said=_said(server)))
    silent = socket.create_connection((HOST, port), timeout=5)
    try:
        started = time.monotonic()
        reply = _echo_once((HOST, port), "наступний", timeout=_SILENCE_BOUND)
        waited = time.monotonic() - started
    finally:
        silent.close()
    if server.wait(0.3) is not None:
        fail(_("{name} ended when a silent client timed out{said}: catch the TimeoutError too "
               "(except OSError: covers it) and serve the next client").format(name=path.name, said=_said(server)))
    if reply != "наступний":
        fail(_("a silent client kept {name} from serving the next one for {seconds:.0f} s: give each connection "
               "a timeout of a few seconds, at most 10 (conn.settimeout(2)), and catch the TimeoutError").format(
            name=path.name, seconds=waited))


@stops_cleanly
def server_script(path, *, forever: bool = False, clients: int = 3) -> None:
    """``server.py`` serves one client and ends; ``server2.py`` (``forever``) serves ``clients``, survives one
    that crashes and one that stays silent, and keeps running."""
    path = _readable(path)
    port = free_port()
    server = _start_server(path, port)
    try:
        _echoes(path, server, port, 1, served=0)
        if forever:
            _survives(path, server, port)
            for i in range(2, clients + 1):
                _echoes(path, server, port, i, served=i - 1)
            if server.wait(0.5) is not None:
                fail(ngettext("{name} ended after {count} client: a permanent server loops over accept for ever",
                              "{name} ended after {count} clients: a permanent server loops over accept for ever",
                              clients).format(name=path.name, count=clients))
        elif server.wait(3) is None:
            fail(_("{name} was still running after its client left: task 1's server serves one client, "
                   "then ends").format(name=path.name))
    finally:
        server.stop()
    if forever:
        print("✔ " + ngettext("{name} served {count} client one after another, survived a crashed and a silent "
                              "one, and keeps running",
                              "{name} served {count} clients one after another, survived a crashed and a silent "
                              "one, and keeps running", clients).format(name=path.name, count=clients))
    else:
        print("✔ " + _("{name} served one client and ended").format(name=path.name))


@stops_cleanly
def client_script(path) -> None:
    """``client.py HOST PORT MESSAGE`` sends the message, says it is done, and prints the whole reply."""
    path = _readable(path)
    message = "Привіт, світе! " * 3000  # 45 KB: more than one recv()
    judge = _EchoJudge()
    try:
        transcript = run(path, *judge.address, message, timeout=10)
    finally:
        judge.close()
    if _keyboard(transcript):
        fail(_("{name} waited for the keyboard (input()), where nobody types: take the message from the "
               "command line (sys.argv[3:])").format(name=path.name))
    if not judge.connected:
        fail(_("{name} did not connect to {host} {port}: {error}").format(
            name=path.name, host=judge.address[0], port=judge.address[1], error=_last_error(transcript)))
    if judge.received != message.encode():
        fail(_("{command} should send MESSAGE; the server received {received}").format(
            command=f"`python {path.name} HOST PORT MESSAGE`", received=preview(judge.received)))
    if judge.ended == "silence":
        fail(_("{name} never said it was done sending: call sock.shutdown(socket.SHUT_WR) after sendall").format(
            name=path.name))
    if message.strip() not in transcript.text():
        fail(_("{name} did not print the whole reply ({length} characters): read until recv returns "
               "b'', then print the decoded text; it printed {printed}").format(
            name=path.name, length=len(message), printed=preview(transcript.text())))
    if judge.unread:
        fail(_("{name} printed the message, but closed its connection before reading the whole reply: print "
               "what you received, not what you sent").format(name=path.name))
    if transcript.returncode != 0:
        fail(_("{name} ended with exit status {status}: {error}").format(
            name=path.name, status=transcript.returncode, error=_last_error(transcript)))
    print("✔ " + _("{name} sends its message, half-closes and prints the whole reply").format(name=path.name))


@stops_cleanly
def scripts_together(server_path, client_path, *, runs: int = 1) -> None:
    """The student's client against the student's server, ``runs`` times (task 2: several)."""
    server_path, client_path = _readable(server_path), _readable(client_path)
    port = free_port()
    server = _start_server(server_path, port)
    try:
        for i in range(1, runs + 1):
            message = f"запуск {i}"
            transcript = run(client_path, HOST, port, message, timeout=10)
            if _keyboard(transcript):
                fail(_("{name} waited for the keyboard (input()), where nobody types: take the message from the "
                       "command line (sys.argv[3:])").format(name=client_path.name))
            if message not in transcript.text() or transcript.returncode != 0:
                fail(_("run {i} of {client} against {server} printed {printed} (exit status {status}): "
                       "{error}").format(i=i, client=client_path.name, server=server_path.name,
                                         printed=preview(transcript.text()), status=transcript.returncode,
                                         error=_last_error(transcript)))
    finally:
        server.stop()
    if runs > 1:
        print("✔ " + ngettext("{client} and {server} work together, {runs} run in a row",
                              "{client} and {server} work together, {runs} runs in a row",
                              runs).format(client=client_path.name, server=server_path.name, runs=runs))
    else:
        print("✔ " + _("{client} and {server} work together").format(client=client_path.name,
                                                                     server=server_path.name))


@stops_cleanly
def restarts_at_once(path) -> None:
    """A permanent server stopped with a client connected starts again at once on the same port."""
    path = _readable(path)
    port = free_port()
    server = _start_server(path, port)
    client = socket.create_connection((HOST, port), timeout=5)
    try:
        client.sendall(b"hi")
        client.recv(16)
        server.stop()  # Ctrl-C while a client is connected: the server's end closes first...
    finally:
        client.close()  # ...and waits in TIME_WAIT once the client has closed too
    again = Program(path, HOST, port, name=f"check-{path.name}").start()
    try:
        for _attempt in range(60):
            if _listening(port) or again.returncode is not None:
                break
            again.wait(0.05)
        if not _listening(port):
            fail(_("{name} could not start again on port {port} at once ({error}): the old "
                   "connection waits in TIME_WAIT; create the listener with socket.create_server, or set "
                   "SO_REUSEADDR before bind").format(name=path.name, port=port, error=_last_error(again)))
    finally:
        again.stop()
    print("✔ " + _("{name} starts again at once on the same port").format(name=path.name))


# ---- task 3: the file server and client -----------------------------------------------------------

SAMPLE = "Звіт з лабораторної роботи: передача файлу.\nРядок 2 — кирилиця, ґ, є, ї.\n"


def _sample_files(folder: Path) -> list[Path]:
    """The same text in UTF-8 and in cp1251: both must arrive byte for byte."""
    files = []
    for encoding in ("utf-8", "cp1251"):
        path = folder / f"звіт-{encoding}.txt"
        path.write_text(SAMPLE * 50, encoding=encoding)
        files.append(path)
    return files


def _start_file_server(path: Path, port: int, folder: Path) -> Program:
    server = Program(path, HOST, port, folder, name=f"check-{path.name}").start()
    for _attempt in range(100):
        if _listening(port) or server.returncode is not None:
            break
        server.wait(0.05)
    if not _listening(port):
        server.stop()
        fail(_("{command} does not listen on port {port}: {error}").format(
            command=f"`python {path.name} {HOST} {port} FOLDER`", port=port, error=_last_error(server)))
    return server


@contextlib.contextmanager
def _file_server_script(path: Path):
    """``server3.py`` running on a free port, saving into ``WORK/uploads``: yields ``(WORK, port)``."""
    with tempfile.TemporaryDirectory(prefix="check-server3-") as work:
        work = Path(work)
        (work / "uploads").mkdir()
        port = free_port()
        server = _start_file_server(path, port, work / "uploads")
        try:
            yield work, port
        finally:
            server.stop()


def _upload_to(path: Path, port: int, work: Path, name: str, body: bytes) -> str:
    """Upload ``body`` as ``name`` to the running ``server3.py`` by hand; the name it saved it under."""
    header = f"FILE {len(body)} {name}"
    replies = _upload((HOST, port), f"{header}\n".encode(), body)
    if replies[0] == SILENT:
        fail(_("{name} did not answer the header {header} within 2 s: send b'READY\\n' as soon as the header "
               "line came (the client waits for it before it sends the file)").format(name=path.name, header=header))
    if replies[0] != b"READY\n":
        fail(_("{name} answered the header {header} with {reply}: a good header gets b'READY\\n'").format(
            name=path.name, header=header, reply=preview(replies[0])))
    if replies[1] == NO_REPLY:
        fail(_("sent {header} and its {n} bytes; {name} did not reply within 3 s: it is still waiting for "
               "more: {hint}").format(header=header, n=len(body), name=path.name, hint=_(HINT_EXACTLY)))
    parts = replies[1].decode("utf-8", "replace").rstrip("\n").split(" ", 3)
    digest = hashlib.sha256(body).hexdigest()
    if len(parts) != 4 or parts[0] != "OK" or parts[1] != str(len(body)) or parts[2] != digest:
        fail(_("sent {header} and its {n} bytes; {name} replied {reply}, expected {ok}").format(
            header=header, n=len(body), name=path.name, reply=preview(replies[1]),
            ok=repr(f"OK {len(body)} {digest[:12]}… {name}")))
    saved = work / "uploads" / parts[3]
    if parts[3] in ("", ".", "..") or "/" in parts[3] or not saved.is_file() or saved.read_bytes() != body:
        fail(_("{name} said it saved {saved}, but {path} is not the file that was sent: "
               "save the bytes exactly as they came").format(name=path.name, saved=repr(parts[3]),
                                                             path=f"FOLDER/{parts[3]}"))
    return parts[3]


@stops_cleanly
@release_held()
def file_server_script(path) -> None:
    """``server3.py HOST PORT FOLDER`` saves what a client sends, byte for byte, never overwrites, and refuses
    bad names."""
    from ..streams import recv_line

    path = _readable(path)
    with _file_server_script(path) as (work, port):
        samples = _sample_files(work)
        for sample in samples:
            _upload_to(path, port, work, sample.name, sample.read_bytes())
        again = _upload_to(path, port, work, samples[0].name, samples[0].read_bytes())
        if again == samples[0].name:
            fail(_("{file} came a second time and {name} saved it under the same name: never overwrite a "
                   "file: save the second as {other}").format(file=repr(samples[0].name), name=path.name,
                                                              other=repr(f"{samples[0].stem} (1).txt")))
        with socket.create_connection((HOST, port), timeout=5) as sock:
            sock.sendall(b"FILE 4 ../evil.txt\n")
            try:
                reply = recv_line(sock)
            except OSError:
                reply = b""
        if not reply.startswith(b"ERROR bad-name") or (work / "evil.txt").exists():
            fail(_("the name {bad} must be refused with ERROR bad-name, {name} answered {reply}").format(
                bad="'../evil.txt'", name=path.name, reply=repr(reply)))
    print("✔ " + _("{name} saves UTF-8 and cp1251 files byte for byte, never overwrites one, and refuses a "
                   "hostile name").format(name=path.name))


@stops_cleanly
def file_client_script(path) -> None:
    """``client3.py HOST PORT FILE`` sends any text file to the course's server, which gets it byte for byte."""
    from ..files import FileServer

    path = _readable(path)
    with tempfile.TemporaryDirectory(prefix="check-client3-") as work:
        work = Path(work)
        with FileServer(work / "uploads", name="check-client3") as reference:
            for sample in _sample_files(work):
                transcript = run(path, *reference.address, sample, timeout=15)
                saved = work / "uploads" / sample.name
                if transcript.returncode != 0 or not saved.is_file():
                    fail(_("{command} did not deliver the file (exit status {status}): {error}").format(
                        command=f"`python {path.name} HOST PORT {sample.name}`", status=transcript.returncode,
                        error=_last_error(transcript)))
                if saved.read_bytes() != sample.read_bytes():
                    fail(_("{file} arrived changed: send the file's bytes (read_bytes), and their number "
                           "in the header, not the number of characters").format(file=sample.name))
        with FileServer(work / "small", name="check-client3-small", max_size=100) as small:
            refused = run(path, *small.address, _sample_files(work)[0], timeout=15)
    if refused.returncode == 0:
        fail(_("the server refused a file over its limit (ERROR too-large), but {name} ended with status 0: "
               "print the error and exit with sys.exit(1)").format(name=path.name))
    print("✔ " + _("{name} sends UTF-8 and cp1251 files byte for byte and reports a refusal").format(
        name=path.name))


@stops_cleanly
def file_scripts_together(server_path, client_path) -> None:
    """The student's ``client3.py`` sends each sample file to the student's ``server3.py``: it arrives byte for byte."""
    server_path, client_path = _readable(server_path), _readable(client_path)
    with _file_server_script(server_path) as (work, port):
        for sample in _sample_files(work):
            transcript = run(client_path, HOST, port, sample, timeout=15)
            saved = work / "uploads" / sample.name
            if transcript.returncode != 0 or not saved.is_file() or saved.read_bytes() != sample.read_bytes():
                fail(_("{client} sent {file} to {server}, which did not save it byte for byte (exit status "
                       "{status}): {error}").format(client=client_path.name, file=sample.name, server=server_path.name,
                                                    status=transcript.returncode, error=_last_error(transcript)))
    print("✔ " + _("{client} and {server} work together: UTF-8 and cp1251 files arrive byte for byte").format(
        client=client_path.name, server=server_path.name))
