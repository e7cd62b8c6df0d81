import errno
import hashlib
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ChunkingProxy, live_threads, open_fds, read_line, reset
from socketlab import files, protocol
from socketlab.files import FileClient, FileServer, TransferError, send_file
from socketlab.streams import recv_line, recv_to_end

UKRAINIAN = "Звіт з лабораторної роботи №4\nВикористання Socket API — ґудзик, їжак, єнот.\n" * 20


@pytest.fixture
def sandbox(tmp_path):
    """A folder whose only child is the upload folder: anything else in it escaped."""
    root = tmp_path / "sandbox"
    (root / "uploads").mkdir(parents=True)
    return root


@pytest.fixture
def server(sandbox):
    with FileServer(sandbox / "uploads", idle_timeout=5) as srv:
        yield srv


def saved_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def assert_nothing_escaped(sandbox: Path) -> None:
    assert [p.name for p in sandbox.iterdir()] == ["uploads"]
    for p in (sandbox / "uploads").iterdir():
        assert p.is_file() and not p.is_symlink(), p
        assert not p.name.endswith(".part"), f"temporary file left behind: {p.name}"


def raw_upload(address, header: bytes, body: bytes = b"", timeout=5.0) -> list[bytes]:
    """Speak the protocol by hand; returns every reply line the server sent."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(header)
        first = recv_line(sock)
        if first.startswith(b"READY"):
            sock.sendall(body)
            sock.shutdown(socket.SHUT_WR)
        rest = recv_to_end(sock)
    return [first, *rest.splitlines(keepends=True)]


@pytest.mark.parametrize(
    "content",
    [b"", b"x", bytes(range(256)) * 1000, UKRAINIAN.encode("utf-8"), UKRAINIAN.encode("cp1251")],
    ids=["empty", "1-byte", "binary", "utf-8", "cp1251"],
)
def test_round_trip_is_byte_identical(server, tmp_path, content):
    path = tmp_path / "звіт.txt"
    path.write_bytes(content)
    result = send_file(path, server.address)
    assert result.saved_name == "звіт.txt"
    assert result.size == len(content)
    assert result.sha256 == hashlib.sha256(content).hexdigest()
    assert (server.folder / "звіт.txt").read_bytes() == content
    assert any(e.kind == "saved" for e in server.events)


def test_cp1251_and_utf8_differ_on_the_wire_but_both_arrive_intact(server, tmp_path):
    for encoding in ("utf-8", "cp1251"):
        path = tmp_path / f"{encoding}.txt"
        path.write_text(UKRAINIAN, encoding=encoding)
        send_file(path, server.address)
        assert (server.folder / path.name).read_text(encoding=encoding) == UKRAINIAN


def test_100_mb_file_with_flat_memory(server, tmp_path):
    path = tmp_path / "big.bin"
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(100):
            f.write(chunk[i:] + chunk[:i])
    seen = []
    tracemalloc.start()
    try:
        result = send_file(path, server.address, progress=lambda sent, total: seen.append(sent))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size == 100 << 20
    assert peak < 16 << 20, f"peak Python memory {peak / 2**20:.1f} MiB while moving 100 MiB"
    saved = hashlib.sha256((server.folder / "big.bin").read_bytes()).hexdigest()
    assert saved == result.sha256
    assert seen[0] == 0 and seen[-1] == 100 << 20 and seen == sorted(seen)
    assert [e.nbytes for e in server.events if e.kind == "progress"], "no progress events"
    assert result.rate > 0


HOSTILE_NAMES = [
    "../x", "../../../../tmp/evil", "/etc/passwd", "/tmp/evil", "a/b", "a/../../b", "..", ".", "./x",
    "x/", "/", "//", "a\\b", "..\\..\\evil", "C:\\evil", "\\\\server\\share", "a\x00b", "\x00",
    "a\rb", "\t", "\x1b[31mred", "del\x7f", "nel\x85", "line\u2028sep", "", " ", "   ",
    "x" * 300, "я" * 200, "~/evil", "$HOME", "file:///etc/passwd", ".bashrc", "...",
    "CON", "nul.txt", "COM1", "C:evil", "x\u202etxt.exe", "%2e%2e%2fx",
]


def test_hostile_names_are_refused_or_saved_strictly_inside(server, sandbox):
    assert len(HOSTILE_NAMES) >= 30
    passwd = Path("/etc/passwd").read_bytes()
    outcomes = {}
    for name in HOSTILE_NAMES:
        header = b"FILE 4 " + name.encode("utf-8") + b"\n"
        replies = raw_upload(server.address, header, b"evil")
        reply = protocol.parse_reply(replies[-1])
        if isinstance(reply, protocol.Ok):
            assert protocol.name_problem(name) is None, f"{name!r} was saved"
            assert (server.folder / reply.saved_name).read_bytes() == b"evil"
            outcomes[name] = "saved"
        else:
            assert isinstance(reply, protocol.ErrorReply), (name, replies)
            assert reply.code in ("bad-name", "bad-header"), (name, reply)
            outcomes[name] = "refused"
    assert_nothing_escaped(sandbox)
    assert Path("/etc/passwd").read_bytes() == passwd
    assert not Path("/tmp/evil").exists()
    assert sum(v == "refused" for v in outcomes.values()) >= 28
    assert outcomes["../x"] == outcomes["/etc/passwd"] == outcomes[".."] == "refused"
    assert server.running


def test_a_newline_in_a_name_just_ends_the_header(server, sandbox):
    # "a\nb": the header is "FILE 4 a" and "b\n.." is the start of the body.
    replies = raw_upload(server.address, b"FILE 4 a\nb", b"xyz")
    assert replies[0] == b"READY\n"
    assert protocol.parse_reply(replies[1]).saved_name == "a"
    assert (server.folder / "a").read_bytes() == b"bxyz"
    assert_nothing_escaped(sandbox)


def test_symlink_in_the_folder_is_never_followed(server, sandbox, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    (server.folder / "link.txt").symlink_to(outside)
    path = tmp_path / "link.txt"
    path.write_bytes(b"overwrite?")
    result = send_file(path, server.address)
    assert result.saved_name == "link (1).txt"
    assert outside.read_bytes() == b"keep me"


def test_send_file_refuses_a_bad_name_before_connecting(tmp_path):
    path = tmp_path / "ok.txt"
    path.write_bytes(b"x")
    with socket.create_server(("127.0.0.1", 0)) as nobody:  # would accept, never answers
        with pytest.raises(protocol.LocalProtocolError, match="bad-name"):
            send_file(path, nobody.getsockname(), name="../x", timeout=0.5)


def test_send_file_needs_an_existing_file(server, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        send_file(tmp_path / "missing.txt", server.address)


def test_too_large_is_refused_before_the_body(sandbox, tmp_path):
    with FileServer(sandbox / "uploads", max_size=100) as srv:
        with socket.create_connection(srv.address, timeout=5) as sock:
            sock.sendall(b"FILE 101 big.txt\n")  # no body sent: the reply must come anyway
            assert recv_line(sock).startswith(b"ERROR too-large ")
            assert sock.recv(10) == b""
        path = tmp_path / "big.txt"
        path.write_bytes(b"x" * 101)
        with pytest.raises(TransferError) as info:
            send_file(path, srv.address)
        assert info.value.code == "too-large"
    assert saved_files(sandbox / "uploads") == {}


def small_disk_allowed() -> bool:
    """Whether this machine lets us mount a tmpfs in a mount namespace of our own."""
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run(
        [unshare, "-Urm", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tempfile.gettempdir()],
        capture_output=True, timeout=10).returncode == 0


@pytest.mark.skipif(not small_disk_allowed(), reason="cannot mount a small tmpfs here (unshare -Urm)")
def test_no_room_on_disk_is_refused_before_the_body(sandbox, tmp_path):
    """The server saves into a 1 MiB tmpfs of its own: a real, nearly full disk."""
    folder = sandbox / "uploads"
    mount_and_serve = 'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$1" -m socketlab file-server --port 0 --dir "$0"'
    proc = subprocess.Popen(["unshare", "-Urm", "sh", "-c", mount_and_serve, str(folder), sys.executable],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        read_line(proc.stdout)  # saving uploads in …
        address = ("127.0.0.1", int(read_line(proc.stdout).split(":")[1].split()[0]))
        with socket.create_connection(address, timeout=5) as sock:
            sock.sendall(b"FILE 2000000 big.bin\n")  # no body: the reply must come first
            reply = recv_line(sock)
            assert reply.startswith(b"ERROR io-error cannot save the file: no room for 2000000 bytes, "), reply
            assert sock.recv(10) == b""
        small = tmp_path / "small.txt"
        small.write_bytes(b"s" * 500_000)
        assert send_file(small, address).saved_name == "small.txt"  # saved, and its hash checked
    finally:
        proc.terminate()
        proc.wait(10)
    assert saved_files(folder) == {}  # all of it went to the server's own tmpfs, gone with it


def test_half_a_body_then_disconnect_leaves_nothing(server, sandbox, tmp_path):
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"FILE 1000 half.txt\n")
        assert recv_line(sock) == b"READY\n"
        sock.sendall(b"x" * 500)
    path = tmp_path / "next.txt"
    path.write_bytes(b"next client")
    assert send_file(path, server.address).saved_name == "next.txt"  # served right after
    assert saved_files(sandbox / "uploads") == {"next.txt": b"next client"}
    errors = [e for e in server.events if e.kind == "error"]
    assert errors and "incomplete: expected 1000 bytes, got 500" in errors[0].detail
    assert_nothing_escaped(sandbox)


def test_reset_mid_body_leaves_nothing(server, sandbox):
    sock = socket.create_connection(server.address, timeout=5)
    sock.sendall(b"FILE 100000 reset.txt\n")
    assert recv_line(sock) == b"READY\n"
    sock.sendall(b"y" * 5000)
    reset(sock)
    assert raw_upload(server.address, b"FILE 2 ok.txt\n", b"ok")[-1].startswith(b"OK 2 ")
    assert saved_files(sandbox / "uploads") == {"ok.txt": b"ok"}


def test_idle_client_is_dropped_after_the_timeout(sandbox):
    with FileServer(sandbox / "uploads", idle_timeout=0.3) as srv:
        with socket.create_connection(srv.address, timeout=5) as sock:
            sock.sendall(b"FILE 10 slow.txt\n")
            assert recv_line(sock) == b"READY\n"
            sock.sendall(b"12345")
            assert recv_line(sock).startswith(b"ERROR timeout ")
            assert sock.recv(10) == b""
        with socket.create_connection(srv.address, timeout=5) as sock:  # silent from the start
            assert recv_line(sock).startswith(b"ERROR timeout ")
        assert [e.client_id for e in srv.events if e.kind == "timeout"] == [1, 2]
    assert saved_files(sandbox / "uploads") == {}


def test_two_files_on_one_connection_and_a_name_collision(server, tmp_path):
    a = tmp_path / "report.txt"
    a.write_bytes(b"first")
    b = tmp_path / "b.txt"
    b.write_bytes(b"second")
    with FileClient(server.address) as client:
        assert client.send(a).saved_name == "report.txt"
        assert client.send(b, name="report.txt").saved_name == "report (1).txt"
        assert client.send(a).saved_name == "report (2).txt"
    assert saved_files(server.folder) == {
        "report.txt": b"first", "report (1).txt": b"second", "report (2).txt": b"first"}
    assert server.served == 1


def test_one_byte_at_a_time_through_a_chunking_proxy(server, tmp_path):
    path = tmp_path / "slow.txt"
    path.write_text(UKRAINIAN[:300], encoding="utf-8")
    with ChunkingProxy(server.address, step=1) as proxy:
        result = send_file(path, proxy.address)
    assert (server.folder / result.saved_name).read_bytes() == path.read_bytes()


def test_bad_header_gets_an_error_and_the_connection_ends(server):
    assert raw_upload(server.address, b"HELLO\n")[0].startswith(b"ERROR bad-header ")
    assert raw_upload(server.address, b"x" * 2000)[0].startswith(b"ERROR bad-header no newline")
    assert server.running


def test_many_uploads_leak_nothing(server, tmp_path):
    path = tmp_path / "n.txt"
    path.write_bytes(b"n")
    send_file(path, server.address)
    fds, threads = open_fds(), live_threads()
    for _ in range(100):
        send_file(path, server.address)
    assert open_fds() <= fds + 2 and live_threads() == threads
    assert len(list(server.folder.iterdir())) == 101


def test_sha_mismatch_is_reported(tmp_path):
    """A server that saves the wrong bytes is caught by the client's hash."""
    listener = socket.create_server(("127.0.0.1", 0))

    def liar():
        conn, _ = listener.accept()
        with conn:
            header = protocol.parse_header(recv_line(conn))
            conn.sendall(protocol.build_ready())
            conn.recv(header.size)
            conn.sendall(protocol.build_ok(header.size, "0" * 64, header.name))

    thread = threading.Thread(target=liar, daemon=True)
    thread.start()
    path = tmp_path / "x.txt"
    path.write_bytes(b"abc")
    with pytest.raises(TransferError) as info:
        send_file(path, listener.getsockname())
    assert info.value.code == "sha-mismatch"
    thread.join(5)
    listener.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=300))
def test_fuzzed_headers_over_a_socket_never_hang_the_server(server, junk):
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(junk)
        sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        recv_to_end(sock)  # the server answers and closes, whatever it got
    assert time.monotonic() - started < 5
    assert server.running


NC = shutil.which("nc")


@pytest.mark.skipif(NC is None, reason="nc (netcat-openbsd) is not installed")
def test_upload_by_hand_with_netcat(server):
    host, port = server.address
    done = subprocess.run([NC, "-N", "-w", "5", host, str(port)], input=b"FILE 5 hi.txt\nhello",
                          capture_output=True, timeout=10)
    sha = hashlib.sha256(b"hello").hexdigest()
    assert done.stdout == f"READY\nOK 5 {sha} hi.txt\n".encode()
    assert (server.folder / "hi.txt").read_bytes() == b"hello"


# ---- faults and edge cases ------------------------------------------------------------


def test_a_stalled_disk_is_an_io_error_and_the_server_goes_on(sandbox, tmp_path, monkeypatch):
    release = threading.Event()
    real_write = files._HashingWriter._write

    def stalled_write(self, chunk):
        release.wait(20)  # the disk hangs until the test lets it go
        real_write(self, chunk)

    printed = []
    monkeypatch.setattr(threading, "excepthook", lambda args: printed.append(args))
    monkeypatch.setattr(files._HashingWriter, "_write", stalled_write)
    with FileServer(sandbox / "uploads", idle_timeout=0.5) as srv:
        body = b"s" * (8 * files.BUFFER)  # more than the writer's buffers hold
        started = time.monotonic()
        replies = raw_upload(srv.address, b"FILE %d stalled.bin\n" % len(body), body, timeout=10)
        assert replies[0] == b"READY\n"
        assert replies[-1].startswith(b"ERROR io-error cannot save the file: the disk wrote nothing for 0.5 s")
        assert time.monotonic() - started < 4.0
        monkeypatch.setattr(files._HashingWriter, "_write", real_write)
        started = time.monotonic()
        assert raw_upload(srv.address, b"FILE 2 next.txt\n", b"ok")[-1].startswith(b"OK 2 ")
        assert time.monotonic() - started < 2.0, "the serving thread waited for the stalled writer"
        release.set()
        for thread in threading.enumerate():
            if thread.name == "hashing-writer":
                thread.join(5)
    assert printed == []
    assert saved_files(sandbox / "uploads") == {"next.txt": b"ok"}


def test_a_header_without_its_newline_then_end_of_stream_is_a_bad_header(server):
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"FILE 3 a")
        sock.shutdown(socket.SHUT_WR)
        reply = recv_to_end(sock)
    assert reply.startswith(b"ERROR bad-header the header must end with a newline: got 8 bytes"), reply
    assert server.running


@pytest.mark.parametrize("header, code", [
    (b"FILE +5 a.txt\n", "bad-header"), (b"FILE 05 a.txt\n", "bad-header"), (b"FILE  5 a.txt\n", "bad-header"),
    (b"FILE 1e3 a.txt\n", "bad-header"), (b"FILE %d a.txt\n" % 10**30, "too-large"),
    (b"FILE 1 CON\n", "bad-name"), (b"FILE 1 nul.txt\n", "bad-name"), (b"FILE 1 COM1.log\n", "bad-name"),
    (b"FILE 1 LPT1\n", "bad-name"), (b"FILE 1 report.\n", "bad-name"), (b"FILE 1 report \n", "bad-name"),
    (b"FILE 1  report\n", "bad-name"), ("FILE 1 x\u202etxt.exe\n".encode(), "bad-name"),
    ("FILE 1 a\u2067b\n".encode(), "bad-name"), ("FILE 1 zero\u200bwidth\n".encode(), "bad-name"),
    ("FILE 1 \ufeffbom.txt\n".encode(), "bad-name"), (b"FILE 1 a.txt\r\r\n", "bad-name"),
])
def test_header_edge_cases_get_their_error_line(server, sandbox, header, code):
    replies = raw_upload(server.address, header, b"x")
    assert replies[0].startswith(f"ERROR {code} ".encode()), replies
    assert saved_files(sandbox / "uploads") == {}


def test_crlf_headers_from_windows_tools_are_accepted_without_the_cr(server):
    replies = raw_upload(server.address, b"FILE 2 crlf.txt\r\n", b"ok")
    assert replies[0] == b"READY\n" and protocol.parse_reply(replies[1]).saved_name == "crlf.txt"
    assert saved_files(server.folder) == {"crlf.txt": b"ok"}


def test_a_client_sending_its_header_slowly_holds_the_others_one_idle_timeout(sandbox, tmp_path):
    with FileServer(sandbox / "uploads", idle_timeout=1.0) as srv:  # the connection's deadline: 30 s
        slow = socket.create_connection(srv.address, timeout=5)
        slow.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stop = threading.Event()

        def trickle():
            for byte in b"FILE 1 slow.txt":  # one byte every 0.3 s: never idle for 1 s
                if stop.wait(0.3):
                    return
                try:
                    slow.send(bytes([byte]))
                except OSError:
                    return

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        time.sleep(0.2)  # the slow client is first in line
        path = tmp_path / "fast.txt"
        path.write_bytes(b"fast")
        started = time.monotonic()
        assert send_file(path, srv.address, timeout=10).saved_name == "fast.txt"
        assert time.monotonic() - started < 3.0
        assert recv_line(slow).startswith(b"ERROR timeout no whole header within 1 s")
        stop.set()
        thread.join(5)
        slow.close()


def test_silent_clients_cost_their_idle_timeout_and_no_closing_delay(sandbox, tmp_path):
    with FileServer(sandbox / "uploads", idle_timeout=0.3) as srv:
        silent = [socket.create_connection(srv.address, timeout=10) for _ in range(5)]
        path = tmp_path / "after.txt"
        path.write_bytes(b"after")
        started = time.monotonic()
        assert send_file(path, srv.address, timeout=20).saved_name == "after.txt"
        waited = time.monotonic() - started
        for sock in silent:
            assert recv_line(sock).startswith(b"ERROR timeout ")
            sock.close()
    assert waited < 4.0, f"5 silent clients of 0.3 s held the next one {waited:.1f} s"


CONCURRENT = ["threads", "selectors"]


def file_server_kind(kind):
    from socketlab.concurrency import FILE_SERVER_KINDS

    return FILE_SERVER_KINDS[kind]


@pytest.mark.parametrize("kind", CONCURRENT)
def test_concurrent_file_servers_serve_uploads_side_by_side(sandbox, tmp_path, kind):
    with file_server_kind(kind)(sandbox / "uploads", idle_timeout=10) as srv:
        with socket.create_connection(srv.address, timeout=5) as slow:
            slow.sendall(b"FILE 10 slow.txt\n12345")  # half a body, then it thinks
            assert recv_line(slow) == b"READY\n"
            path = tmp_path / "quick.txt"
            path.write_bytes(b"quick")
            started = time.monotonic()
            assert send_file(path, srv.address).saved_name == "quick.txt"
            assert time.monotonic() - started < 2.0
            slow.sendall(b"67890")
            assert recv_line(slow).startswith(b"OK 10 ")
    assert saved_files(sandbox / "uploads") == {"slow.txt": b"1234567890", "quick.txt": b"quick"}


@pytest.mark.parametrize("kind", CONCURRENT)
def test_concurrent_file_servers_keep_the_protocol(sandbox, tmp_path, kind):
    with file_server_kind(kind)(sandbox / "uploads", idle_timeout=0.5, max_size=1 << 24) as srv:
        for content in (b"", b"x", os.urandom(3 << 20), UKRAINIAN.encode("cp1251")):
            path = tmp_path / "f.bin"
            path.write_bytes(content)
            result = send_file(path, srv.address)
            assert (srv.folder / result.saved_name).read_bytes() == content
        with FileClient(srv.address) as client:  # many files on one connection, numbered names
            assert [client.send(path, name="r.txt").saved_name for _ in range(3)] == [
                "r.txt", "r (1).txt", "r (2).txt"]
        with ChunkingProxy(srv.address, step=7) as proxy:  # header and body in small pieces
            assert send_file(path, proxy.address, name="chunked.txt").saved_name == "chunked.txt"
        assert raw_upload(srv.address, b"FILE 3 ../x\n", b"abc")[0].startswith(b"ERROR bad-name ")
        assert raw_upload(srv.address, b"FILE 99999999 big\n")[0].startswith(b"ERROR too-large ")
        assert raw_upload(srv.address, b"x" * 2000)[0].startswith(b"ERROR bad-header no newline")
        with socket.create_connection(srv.address, timeout=5) as sock:
            sock.sendall(b"FILE 3 a")
            sock.shutdown(socket.SHUT_WR)
            assert recv_to_end(sock).startswith(b"ERROR bad-header the header must end with a newline")
        with socket.create_connection(srv.address, timeout=5) as sock:
            sock.sendall(b"FILE 1000 half.txt\n" + b"h" * 500)
            assert recv_line(sock) == b"READY\n"
            sock.shutdown(socket.SHUT_WR)
            assert recv_line(sock).startswith(b"ERROR incomplete expected 1000 bytes, got 500")
        with socket.create_connection(srv.address, timeout=5) as sock:
            started = time.monotonic()
            assert recv_line(sock).startswith(b"ERROR timeout no header for 0.5 s")
            assert sock.recv(10) == b""
            assert time.monotonic() - started < 1.4, "a silent client lingered"
        with socket.create_connection(srv.address, timeout=5) as sock:
            sock.sendall(b"FILE 10 stalls.txt\n12345")
            assert recv_line(sock) == b"READY\n"
            assert recv_line(sock).startswith(b"ERROR timeout no data for 0.5 s")
        assert srv.running
    assert_nothing_escaped(sandbox)
    assert "half.txt" not in saved_files(sandbox / "uploads")


@pytest.mark.parametrize("name", ["n" * 254, "n" * 255, "n" * 251 + ".txt"])
def test_a_second_upload_of_a_longest_name_gets_a_shortened_numbered_name(server, name):
    first = raw_upload(server.address, f"FILE 1 {name}\n".encode(), b"1")
    second = raw_upload(server.address, f"FILE 1 {name}\n".encode(), b"2")
    saved = protocol.parse_reply(second[-1]).saved_name
    assert protocol.parse_reply(first[-1]).saved_name == name
    assert saved.endswith(" (1)" + os.path.splitext(name)[1]) and len(saved.encode()) <= 255
    assert (server.folder / saved).read_bytes() == b"2"


def test_with_every_numbered_name_taken_the_upload_is_refused_before_ready(sandbox, monkeypatch):
    monkeypatch.setattr(FileServer, "name_attempts", 3)
    with FileServer(sandbox / "uploads") as srv:
        for _ in range(3):
            assert raw_upload(srv.address, b"FILE 1 a.txt\n", b"x")[-1].startswith(b"OK 1 ")
        with socket.create_connection(srv.address, timeout=5) as sock:
            sock.sendall(b"FILE 1 a.txt\n")  # no body: the refusal must come first
            assert recv_line(sock).startswith(b"ERROR io-error cannot save the file: no free name for 'a.txt'")


@pytest.mark.skipif(not hasattr(os, "O_DIRECTORY"), reason="no dir_fd here: paths are looked up per file")
def test_an_upload_folder_swapped_for_a_symlink_is_not_followed(sandbox, tmp_path):
    folder = sandbox / "uploads"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with FileServer(folder) as srv:
        moved = sandbox / "moved"
        folder.rename(moved)
        folder.symlink_to(elsewhere, target_is_directory=True)
        assert raw_upload(srv.address, b"FILE 2 a.txt\n", b"ok")[-1].startswith(b"OK 2 ")
    assert list(elsewhere.iterdir()) == []
    assert saved_files(moved) == {"a.txt": b"ok"}


def test_leftover_temporary_files_are_removed_at_start(sandbox):
    folder = sandbox / "uploads"
    dead_pid = 2**22 + 1  # above Linux's largest pid
    (folder / f".incoming-{dead_pid}-0123abcd.part").write_bytes(b"half")
    (folder / ".incoming-k2j4h5.part").write_bytes(b"from an older version")
    (folder / f".incoming-{os.getpid()}-feedbeef.part").write_bytes(b"ours: may be in flight")
    (folder / "keep.part").write_bytes(b"not ours")
    with FileServer(folder) as srv:
        cleanup = [e for e in srv.events if e.kind == "cleanup"]
    assert sorted(saved_files(folder)) == [f".incoming-{os.getpid()}-feedbeef.part", "keep.part"]
    assert len(cleanup) == 1 and "removed 2 temporary files left" in cleanup[0].detail


def test_an_empty_upload_is_quick(server, tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with FileClient(server.address) as client:
        times = []
        for _ in range(10):
            started = time.perf_counter()
            client.send(path)
            times.append(time.perf_counter() - started)
    times.sort()
    assert times[5] < 0.020, f"median {times[5] * 1000:.0f} ms for an empty upload"


def test_many_uploads_of_one_name_do_not_slow_down(server, tmp_path, monkeypatch):
    path = tmp_path / "data.csv"
    path.write_bytes(b"d")
    with FileClient(server.address) as client:
        for _ in range(300):
            client.send(path)
        calls = []
        real_exists, real_link = FileServer._exists, os.link
        monkeypatch.setattr(FileServer, "_exists", lambda self, name: calls.append(name) or real_exists(self, name))
        monkeypatch.setattr(os, "link", lambda *a, **k: calls.append(a[1]) or real_link(*a, **k))
        assert client.send(path).saved_name == "data (300).csv"
    assert len(calls) <= 6, f"one upload tried {len(calls)} names"
    monkeypatch.undo()
    (server.folder / "data (5).csv").unlink()
    (server.folder / "data.csv").unlink()
    assert send_file(path, server.address).saved_name == "data.csv"  # the name itself is tried first
    assert send_file(path, server.address).saved_name == "data (301).csv"


@pytest.mark.parametrize("kind", ["sequential", *CONCURRENT])
def test_every_file_server_kind_stops_promptly_and_drops_unfinished_uploads(sandbox, kind):
    server = file_server_kind(kind)(sandbox / "uploads", idle_timeout=30).start()
    mid = socket.create_connection(server.address, timeout=5)
    mid.sendall(b"FILE 100 mid.txt\n" + b"m" * 10)
    assert recv_line(mid) == b"READY\n"
    idle = [socket.create_connection(server.address, timeout=5) for _ in range(3)]
    time.sleep(0.1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    for sock in [mid, *idle]:
        sock.close()
    assert saved_files(sandbox / "uploads") == {}  # no final name, no temporary file
    with file_server_kind(kind)(sandbox / "uploads", port=server.address[1]):
        pass  # the port is free at once


def test_sizes_timeouts_and_the_deadline_mid_body(sandbox, tmp_path):
    with FileServer(sandbox / "uploads", idle_timeout=0.5, deadline=3.0) as srv:
        with FileClient(srv.address) as client:
            for size in (0, 1, 65537, 3 * files.BUFFER + 1, 10 * files.BUFFER):
                path = tmp_path / f"{size}.bin"
                path.write_bytes(os.urandom(size))
                result = client.send(path)
                assert (srv.folder / result.saved_name).read_bytes() == path.read_bytes()
        with socket.create_connection(srv.address, timeout=5) as sock:
            sock.sendall(b"FILE 1000 half.txt\n" + b"h" * 500)
            assert recv_line(sock) == b"READY\n"
            sock.shutdown(socket.SHUT_WR)
            assert recv_line(sock).startswith(b"ERROR incomplete expected 1000 bytes, got 500")
        with socket.create_connection(srv.address, timeout=5) as sock:
            sock.sendall(b"FILE 10 stalls.txt\n12345")
            assert recv_line(sock) == b"READY\n"
            assert recv_line(sock).startswith(b"ERROR timeout no data for 0.5 s")
        with socket.create_connection(srv.address, timeout=5) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(b"FILE 100 trickle.txt\n")
            assert recv_line(sock) == b"READY\n"
            for _ in range(40):  # a byte every 0.2 s: never idle, but over the deadline
                sock.sendall(b"t")
                if select.select([sock], [], [], 0.2)[0]:
                    break
            assert recv_line(sock).startswith(b"ERROR timeout connection open for over 3 s")
    assert_nothing_escaped(sandbox)
    assert not any(name.startswith(("half", "stalls", "trickle")) for name in saved_files(sandbox / "uploads"))


# ---- where hard links fail (FAT/exFAT, network drives), simulated ----------------------


def links_fail_with(monkeypatch, code):
    calls = []

    def no_links(*args, **kwargs):
        calls.append(args[1])
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", no_links)
    return calls


@pytest.mark.parametrize("code", [errno.EPERM, errno.EXDEV, errno.EOPNOTSUPP], ids=errno.errorcode.get)
@pytest.mark.parametrize("dir_fd", [True, False], ids=["dir-fd", "paths-as-on-windows"])
def test_without_hard_links_uploads_are_saved_by_exclusive_create_and_replace(
        sandbox, tmp_path, monkeypatch, code, dir_fd):
    monkeypatch.setattr(files, "_DIR_FD", dir_fd and files._DIR_FD)
    calls = links_fail_with(monkeypatch, code)
    path = tmp_path / "звіт.txt"
    path.write_bytes(UKRAINIAN.encode("cp1251"))
    with FileServer(sandbox / "uploads", idle_timeout=5) as server:
        (server.folder / "звіт.txt").write_bytes(b"a student's own file")
        (server.folder / "звіт (1).txt").symlink_to(tmp_path / "nowhere")  # dangling: still taken
        results = [send_file(path, server.address) for _ in range(3)]
    assert [r.saved_name for r in results] == ["звіт (2).txt", "звіт (3).txt", "звіт (4).txt"]
    assert len(calls) == 1, "after the first failure the server stops trying os.link"
    saved = {p.name: p.read_bytes() for p in server.folder.iterdir() if not p.is_symlink()}
    assert saved["звіт.txt"] == b"a student's own file"  # never overwritten
    assert not (tmp_path / "nowhere").exists()  # the dangling link was never followed
    for r in results:
        assert saved[r.saved_name] == path.read_bytes()
    assert not [name for name in saved if name.endswith(".part")]


def test_without_hard_links_a_failed_replace_leaves_nothing_under_the_name(server, tmp_path, monkeypatch):
    links_fail_with(monkeypatch, errno.EPERM)

    def no_replace(*args, **kwargs):
        raise PermissionError(errno.EACCES, "the file is open in another program")

    monkeypatch.setattr(os, "replace", no_replace)
    replies = raw_upload(server.address, b"FILE 5 report.txt\n", b"hello")
    assert replies[0] == b"READY\n" and replies[1].startswith(b"ERROR io-error cannot save the file")
    assert saved_files(server.folder) == {}  # neither the placeholder nor the temporary file, by the reply


def test_the_temporary_file_is_gone_when_the_client_hears_the_error(server):
    """The client reads ERROR and looks at once, while the server still waits for it to close."""
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"FILE 1000 half.txt\n")
        assert recv_line(sock) == b"READY\n"
        sock.sendall(b"h" * 500)
        sock.shutdown(socket.SHUT_WR)
        assert recv_line(sock).startswith(b"ERROR incomplete")
        assert saved_files(server.folder) == {}  # a full disk's room is free again by now


def test_without_hard_links_racing_uploads_of_one_name_get_different_names(server, tmp_path, monkeypatch):
    links_fail_with(monkeypatch, errno.EPERM)
    path = tmp_path / "same.txt"
    path.write_bytes(b"x" * 100_000)
    results, errors = [], []

    def upload():
        try:
            results.append(send_file(path, server.address, timeout=20).saved_name)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(set(results)) == 4
    assert all(data == path.read_bytes() for data in saved_files(server.folder).values())


@pytest.mark.parametrize("kind", CONCURRENT)
def test_without_hard_links_every_file_server_kind_saves_and_never_overwrites(sandbox, tmp_path, monkeypatch, kind):
    links_fail_with(monkeypatch, errno.EXDEV)
    path = tmp_path / "notes.txt"
    path.write_bytes(b"n" * 3000)
    with file_server_kind(kind)(sandbox / "uploads", idle_timeout=5) as server:
        (server.folder / "notes.txt").write_bytes(b"mine")
        assert send_file(path, server.address).saved_name == "notes (1).txt"
    assert (server.folder / "notes.txt").read_bytes() == b"mine"
    assert (server.folder / "notes (1).txt").read_bytes() == path.read_bytes()
    assert_nothing_escaped(sandbox)


# ---- what the server records: READY, the body's pieces, the reply --------------------------------


def wait_for(server, kind, count=1, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len([e for e in server.events if e.kind == kind]) >= count:
            return
        time.sleep(0.01)


def test_ready_each_body_piece_and_the_ok_line_are_recorded_in_order(server):
    body = "Привіт, файле!".encode() * 10
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(f"FILE {len(body)} звіт.txt\n".encode())
        assert recv_line(sock) == b"READY\n"
        for piece in (body[:50], body[50:100], body[100:]):
            sock.sendall(piece)
            time.sleep(0.05)  # three pieces, three recvs
        reply = recv_line(sock)
    wait_for(server, "close")
    kinds = [e.kind for e in server.events if e.client_id == 1]
    assert kinds == ["accept", "header", "ready", "body", "body", "body", "saved", "send", "close"], kinds
    pieces = [e.nbytes for e in server.events if e.kind == "body"]
    assert pieces == [50, 50, len(body) - 100]
    send = next(e for e in server.events if e.kind == "send")
    digest = hashlib.sha256(body).hexdigest()
    assert reply == f"OK {len(body)} {digest} звіт.txt\n".encode()
    assert send.nbytes == len(reply) and send.detail == f"OK {len(body)} {digest[:12]}… звіт.txt"


def test_a_body_in_many_pieces_records_the_first_20_and_one_summary(server):
    body = b"x" * 3000
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"FILE 3000 many.txt\n")
        recv_line(sock)
        for i in range(0, 3000, 100):
            sock.sendall(body[i:i + 100])
            time.sleep(0.005)
        assert recv_line(sock).startswith(b"OK 3000 ")
    wait_for(server, "close")
    pieces = [e for e in server.events if e.kind == "body"]
    assert len(pieces) <= 21 and sum(e.nbytes for e in pieces) == 3000
    if len(pieces) == 21:
        assert pieces[-1].detail.endswith("more pieces")


def test_a_truncated_body_still_accounts_for_what_came_and_records_no_ok(server):
    replies = raw_upload(server.address, b"FILE 1000 half.txt\n", b"x" * 400)
    assert replies[0] == b"READY\n" and replies[1].startswith(b"ERROR incomplete")
    wait_for(server, "close")
    assert sum(e.nbytes for e in server.events if e.kind == "body") == 400
    assert not [e for e in server.events if e.kind == "send"]  # the error event is the reply's record
