"""The wrong answers students write for exercises 4-6, and the one line each check gives them.

Every wrong answer must fail its check every time, with a message naming the fix;
the reference answers must pass (50 times in a row in the slow family).
"""

import contextlib
import hashlib
import os
import socket
import threading
import time
from pathlib import Path

import nbformat
import pytest
from conftest import as_student, fails_with

from socketlab import protocol
from socketlab.checks import CheckFailed, files as check
from socketlab.streams import recv_line

# ---- exercise 4: my_recv_exactly ---------------------------------------------------------------------


def my_recv_exactly(sock, n):  # the reference answer
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 65536))
        if not chunk:
            raise EOFError(f"expected {n} bytes, got {len(data)} before the connection closed")
        data += chunk
    return bytes(data)


def single_recv(sock, n):
    return sock.recv(n)


def reads_past_n(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"expected {n} bytes, got {len(data)}")
        data += chunk
    return data


def no_end_test(sock, n):
    data = b""
    while len(data) < n:
        data += sock.recv(n - len(data))  # b'' for ever once the stream ends
    return data


def silent_eof(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def returns_short(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def wrong_exception(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"expected {n} bytes, got {len(data)}")
        data += chunk
    return data


def returns_text(sock, n):
    return my_recv_exactly(sock, n).decode(errors="replace")


def blocks_on_zero(sock, n):
    data = b""
    while True:
        chunk = sock.recv(n - len(data) or 1)
        if not chunk:
            raise EOFError(f"expected {n} bytes, got {len(data)}")
        data += chunk
        if len(data) >= n:
            return data


def stub(*args):
    raise NotImplementedError("your code here")


def hard_coded_eof(sock, n):
    raise EOFError("expected 1000 bytes, got 437")  # the numbers an earlier check always used


WRONG_RECV_EXACTLY = {
    hard_coded_eof: "say how many bytes",
    single_recv: "call it in a loop",
    reads_past_n: "min(n - len(data)",
    no_end_test: "when recv returns b'' the stream has ended for good: raise EOFError",
    silent_eof: "say how many bytes",
    returns_short: "raise EOFError",
    wrong_exception: "raise EOFError",
    returns_text: "return the bytes",
    blocks_on_zero: "n = 0",
    stub: "NotImplementedError",
}


@pytest.mark.parametrize("answer", WRONG_RECV_EXACTLY, ids=lambda f: f.__name__)
def test_every_wrong_recv_exactly_fails_with_its_hint(answer):
    for _ in range(2):  # every time, not once in a while
        messages = []
        for check_function in (check.recv_exactly, check.recv_exactly_eof):
            try:
                check_function(answer)
            except CheckFailed as exc:
                messages.append(str(exc))
        both = "\n".join(messages)
        assert WRONG_RECV_EXACTLY[answer] in both, both
        assert all(line.startswith(("✘", "    ")) for line in both.splitlines()), both


def test_a_spinning_recv_exactly_is_stopped_by_the_check():
    threads = threading.active_count()
    fails_with(check.recv_exactly_eof, no_end_test)
    time.sleep(0.2)
    assert threading.active_count() <= threads
    cpu = time.process_time()
    time.sleep(0.5)
    assert time.process_time() - cpu < 0.2, "something still spins"


def test_the_reference_recv_exactly_passes(capsys):
    check.recv_exactly(my_recv_exactly)
    check.recv_exactly_eof(my_recv_exactly)
    assert capsys.readouterr().out.count("✔") == 2


# ---- exercise 5: safe_name -------------------------------------------------------------------------


def safe_name(name):  # the reference answer
    if not name or name in (".", ".."):
        raise ValueError(f"{name!r} is not a file name")
    if "/" in name or "\\" in name:
        raise ValueError("only a plain file name is allowed, no folders")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValueError("the name contains a control character")
    if len(name.encode("utf-8")) > 255:
        raise ValueError("the name is longer than 255 bytes in UTF-8")
    return name


def slash_only(name):
    if "/" in name:
        raise ValueError("no folders")
    return name


def counts_characters(name):
    if not name or name in (".", "..") or "/" in name or "\\" in name or any(ord(c) < 32 for c in name):
        raise ValueError("bad")
    if len(name) > 255:
        raise ValueError("too long")
    return name


def no_control_characters(name):
    if not name or name in (".", "..") or "/" in name or "\\" in name or len(name.encode()) > 255:
        raise ValueError("bad")
    return name


def cleans_up(name):
    return name.replace("/", "_").replace("\\", "_").strip(".") or "unnamed"


def returns_bool(name):
    try:
        return safe_name(name) == name
    except ValueError:
        return False


def uses_the_course(name):
    return protocol.check_name(name, error=lambda code, why: ValueError(why))


WRONG_SAFE_NAMES = {
    slash_only: "with '\\'",
    counts_characters: "over 255 bytes in UTF-8",
    no_control_characters: "NUL",
    cleans_up: "never 'clean up'",
    returns_bool: "return the name itself",
    stub: "NotImplementedError",
}


@pytest.mark.parametrize("answer", WRONG_SAFE_NAMES, ids=lambda f: f.__name__)
def test_every_wrong_safe_name_fails_with_its_hint(answer):
    with pytest.raises(CheckFailed) as caught:
        check.safe_name(as_student(answer, "safe_name"))
    assert WRONG_SAFE_NAMES[answer] in str(caught.value), str(caught.value)


def test_the_reference_safe_name_passes_and_agrees_with_the_protocol():
    check.safe_name(safe_name)
    for name in check.HOSTILE_NAMES:
        assert protocol.name_problem(name), name
    for name in check.GOOD_NAMES:
        assert protocol.name_problem(name) is None, name


# ---- exercise 5: receive_file ----------------------------------------------------------------------


def receive_file(conn, folder):  # the reference answer
    line = recv_line(conn)
    try:
        kind, size, name = line.decode("utf-8").removesuffix("\n").split(" ", 2)
        if kind != "FILE" or not (size.isascii() and size.isdigit()):
            raise ValueError(line)
    except ValueError:
        conn.sendall(b"ERROR bad-header expected FILE <size> <name>\n")
        return None
    try:
        safe_name(name)
    except ValueError as exc:
        conn.sendall(f"ERROR bad-name {exc}\n".encode())
        return None
    conn.sendall(b"READY\n")
    try:
        body = my_recv_exactly(conn, int(size))
    except EOFError:
        return None
    stem, ext = os.path.splitext(name)
    for n in range(1000):
        target = Path(folder) / (name if n == 0 else f"{stem} ({n}){ext}")
        try:
            with open(target, "xb") as out:
                out.write(body)
            break
        except FileExistsError:
            continue
    conn.sendall(f"OK {len(body)} {hashlib.sha256(body).hexdigest()} {target.name}\n".encode())
    return target


def _header(conn):  # (a helper of its own may not use recv_line: only receive_file may)
    line = b""
    while not line.endswith(b"\n"):
        line += conn.recv(1)
    _, size, name = line.decode().removesuffix("\n").split(" ", 2)
    return int(size), name


def trusts_the_name(conn, folder):
    size, name = _header(conn)
    conn.sendall(b"READY\n")
    body = my_recv_exactly(conn, size)
    target = Path(folder) / name
    target.write_bytes(body)
    conn.sendall(f"OK {size} {hashlib.sha256(body).hexdigest()} {name}\n".encode())
    return target


def overwrites(conn, folder):
    size, name = _header(conn)
    safe_name(name)
    conn.sendall(b"READY\n")
    body = my_recv_exactly(conn, size)
    target = Path(folder) / name
    target.write_bytes(body)
    conn.sendall(f"OK {size} {hashlib.sha256(body).hexdigest()} {name}\n".encode())
    return target


def writes_as_it_goes(conn, folder):
    size, name = _header(conn)
    try:
        safe_name(name)
    except ValueError as exc:
        conn.sendall(f"ERROR bad-name {exc}\n".encode())
        return None
    conn.sendall(b"READY\n")
    target = Path(folder) / name
    sha = hashlib.sha256()
    with open(target, "xb") as out:
        got = 0
        while got < size:
            chunk = conn.recv(min(size - got, 65536))
            if not chunk:
                return None
            out.write(chunk)
            sha.update(chunk)
            got += len(chunk)
    conn.sendall(f"OK {size} {sha.hexdigest()} {name}\n".encode())
    return target


def decodes_the_body(conn, folder):
    size, name = _header(conn)
    conn.sendall(b"READY\n")
    text = my_recv_exactly(conn, size).decode("utf-8", errors="replace")
    target = Path(folder) / name
    for n in range(1, 100):
        if not target.exists():
            break
        target = Path(folder) / f"{Path(name).stem} ({n}){Path(name).suffix}"
    target.write_text(text, encoding="utf-8")
    data = target.read_bytes()
    conn.sendall(f"OK {len(data)} {hashlib.sha256(data).hexdigest()} {target.name}\n".encode())
    return target


def no_ready(conn, folder):
    size, name = _header(conn)
    body = my_recv_exactly(conn, size)
    (Path(folder) / name).write_bytes(body)
    return Path(folder) / name


def returns_nothing(conn, folder):
    receive_file(conn, folder)


def returns_the_name(conn, folder):
    saved = receive_file(conn, folder)
    return saved.name if saved else None


def eof_escapes(conn, folder):
    line = recv_line(conn)
    _, size, name = line.decode().removesuffix("\n").split(" ", 2)
    try:
        safe_name(name)
    except ValueError as exc:
        conn.sendall(f"ERROR bad-name {exc}\n".encode())
        return None
    conn.sendall(b"READY\n")
    body = my_recv_exactly(conn, int(size))  # EOFError escapes
    target = Path(folder) / name
    target.write_bytes(body)
    return target


def wrong_error_code(conn, folder):
    size, name = _header(conn)
    try:
        safe_name(name)
    except ValueError as exc:
        conn.sendall(f"ERROR bad-header {exc}\n".encode())
        return None
    return receive_file_after_header(conn, folder, size, name)


def receive_file_after_header(conn, folder, size, name):
    conn.sendall(b"READY\n")
    body = my_recv_exactly(conn, size)
    target = Path(folder) / name
    with open(target, "xb") as out:
        out.write(body)
    conn.sendall(f"OK {size} {hashlib.sha256(body).hexdigest()} {name}\n".encode())
    return target


def course_parser(conn, folder):  # the parser judges the names: the lesson skipped
    header = protocol.parse_header(recv_line(conn))
    return receive_file_after_header(conn, folder, header.size, header.name)


def reads_to_the_end(conn, folder):  # ignores the size: waits for the end of a stream the client keeps open
    size, name = _header(conn)
    safe_name(name)
    conn.sendall(b"READY\n")
    body = b""
    while chunk := conn.recv(4096):
        body += chunk
    target = Path(folder) / name
    target.write_bytes(body)
    conn.sendall(f"OK {len(body)} {hashlib.sha256(body).hexdigest()} {name}\n".encode())
    return target


def reads_to_the_end_with_its_own_timeout(conn, folder):
    conn.settimeout(1)  # it gives up first: its TimeoutError, with the same hint
    return reads_to_the_end(conn, folder)


WRONG_RECEIVERS = {
    reads_to_the_end: (check.file_server, "read exactly size bytes"),
    reads_to_the_end_with_its_own_timeout: (check.file_server, "read exactly size bytes"),
    trusts_the_name: (check.file_server_refuses, "never trust a name"),
    overwrites: (check.file_server, "never overwrite"),
    writes_as_it_goes: (check.file_server_refuses, "save nothing until all the bytes arrived"),
    decodes_the_body: (check.file_server, "exactly as received"),
    no_ready: (check.file_server, "READY"),
    returns_nothing: (check.file_server, "return the Path"),
    returns_the_name: (check.file_server, "return the Path"),
    eof_escapes: (check.file_server_refuses, "catch the EOFError"),
    wrong_error_code: (check.file_server_refuses, "ERROR bad-name"),
    stub: (check.file_server, "NotImplementedError"),
}


@pytest.mark.parametrize("answer", WRONG_RECEIVERS, ids=lambda f: f.__name__)
def test_every_wrong_file_server_fails_with_its_hint(answer, tmp_path):
    check_function, hint = WRONG_RECEIVERS[answer]
    for i in range(2):
        message = fails_with(check_function, as_student(answer, "receive_file"), tmp_path / str(i))
        assert hint in message, message


def test_a_receive_file_that_trusts_names_writes_nothing_outside_the_check_folder(tmp_path):
    message = fails_with(check.file_server_refuses, as_student(trusts_the_name, "receive_file"), tmp_path / "check")
    assert [p.name for p in tmp_path.iterdir()] == ["check"]
    assert "['a/b/evil.txt']" in message, message  # the file it wrote, named as it is


def test_a_check_without_a_folder_leaves_no_folder(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the check makes its own: counted here
    check.file_server(receive_file)
    check.file_server_refuses(receive_file)
    fails_with(check.file_server, as_student(overwrites, "receive_file"))
    check.file_client(my_send_file)
    assert list(tmp_path.iterdir()) == []


def test_the_stub_fails_both_server_checks(tmp_path):
    assert "NotImplementedError" in fails_with(check.file_server_refuses, stub, tmp_path / "a")


def test_the_reference_file_server_passes(tmp_path, capsys):
    check.file_server(receive_file, tmp_path / "a")
    check.file_server_refuses(receive_file, tmp_path / "b")
    assert capsys.readouterr().out.count("✔") == 2


# ---- exercise 6: my_send_file ----------------------------------------------------------------------


def my_send_file(path, address):  # the reference answer
    data = Path(path).read_bytes()
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(len(data), Path(path).name))
        reply = protocol.parse_reply(recv_line(sock))
        if isinstance(reply, protocol.ErrorReply):
            raise RuntimeError(f"refused: {reply.code} {reply.message}")
        sock.sendall(data)
        reply = protocol.parse_reply(recv_line(sock))
    if isinstance(reply, protocol.ErrorReply):
        raise RuntimeError(f"failed: {reply.code} {reply.message}")
    if reply.sha256 != hashlib.sha256(data).hexdigest():
        raise RuntimeError("the server saved different bytes")
    return reply.saved_name


def counts_text_characters(path, address):
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(f"FILE {len(text)} {Path(path).name}\n".encode())
        recv_line(sock)
        sock.sendall(text.encode())
        reply = protocol.parse_reply(recv_line(sock))
    return reply.saved_name


def reencodes(path, address):
    data = Path(path).read_text(encoding="utf-8", errors="replace").encode("utf-8")
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(os.path.getsize(path), Path(path).name))
        recv_line(sock)
        sock.sendall(data[:os.path.getsize(path)])
        reply = protocol.parse_reply(recv_line(sock))
    return reply.saved_name


def read_text_default(path, address):
    data = Path(path).read_text(encoding="utf-8").encode("utf-8")  # a cp1251 file is not UTF-8
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(len(data), Path(path).name))
        recv_line(sock)
        sock.sendall(data)
        return protocol.parse_reply(recv_line(sock)).saved_name


def no_wait_for_ready(path, address):
    data = Path(path).read_bytes()
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(len(data), Path(path).name) + data)
        first = protocol.parse_reply(recv_line(sock))
        if isinstance(first, protocol.ErrorReply):
            raise RuntimeError(first.code)
        reply = protocol.parse_reply(recv_line(sock))
    if isinstance(reply, protocol.ErrorReply):
        raise RuntimeError(reply.code)
    if reply.sha256 != hashlib.sha256(data).hexdigest():
        raise RuntimeError("the server saved different bytes")
    return reply.saved_name


def ignores_errors(path, address):
    data = Path(path).read_bytes()
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(len(data), Path(path).name))
        recv_line(sock)
        sock.sendall(data)
        recv_line(sock)
    return Path(path).name


def no_sha_check(path, address):
    data = Path(path).read_bytes()
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(len(data), Path(path).name))
        reply = protocol.parse_reply(recv_line(sock))
        if isinstance(reply, protocol.ErrorReply):
            raise RuntimeError(f"refused: {reply.code} {reply.message}")
        sock.sendall(data)
        reply = protocol.parse_reply(recv_line(sock))
    if isinstance(reply, protocol.ErrorReply):
        raise RuntimeError(f"failed: {reply.code} {reply.message}")
    return reply.saved_name


def first_error_only(path, address):
    data = Path(path).read_bytes()
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(len(data), Path(path).name))
        reply = protocol.parse_reply(recv_line(sock))
        if isinstance(reply, protocol.ErrorReply):
            raise RuntimeError(f"refused: {reply.code} {reply.message}")
        sock.sendall(data)
        reply = protocol.parse_reply(recv_line(sock))
    if isinstance(reply, protocol.Ok) and reply.sha256 != hashlib.sha256(data).hexdigest():
        raise RuntimeError("the server saved different bytes")
    return Path(path).name


def returns_own_name(path, address):
    my_send_file(path, address)
    return Path(path).name


def course_client(path, address):
    import socketlab

    return socketlab.send_file(path, address).saved_name


def always_refused(path, address):
    raise ValueError("too-large io-error")  # whatever the server says


def sends_then_raises(path, address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(protocol.build_header(Path(path).stat().st_size, Path(path).name))
    raise ValueError("too-large io-error")


WRONG_CLIENTS = {
    always_refused: (check.file_client_refusals, "raised before it had sent its header"),
    sends_then_raises: (check.file_client_refusals, "send the file, then raise on the reply you read"),
    counts_text_characters: (check.file_client, "number of characters"),
    reencodes: (check.file_client, "as they are"),
    read_text_default: (check.file_client, "a file is bytes, not text"),
    no_wait_for_ready: (check.file_client, "wait for the READY line"),
    ignores_errors: (check.file_client_refusals, "raise with its code and message"),
    no_sha_check: (check.file_client_refusals, "compare the server's SHA-256"),
    first_error_only: (check.file_client_refusals, "reply to the body too"),
    returns_own_name: (check.file_client, "return the saved name"),
    stub: (check.file_client, "NotImplementedError"),
}


@pytest.mark.parametrize("answer", WRONG_CLIENTS, ids=lambda f: f.__name__)
def test_every_wrong_file_client_fails_with_its_hint(answer, tmp_path):
    check_function, hint = WRONG_CLIENTS[answer]
    for i in range(2):
        message = fails_with(check_function, as_student(answer, "my_send_file"), tmp_path / str(i))
        assert hint in message, message


def test_the_stub_fails_the_refusal_check(tmp_path):
    assert "NotImplementedError" in fails_with(check.file_client_refusals, stub, tmp_path)


def test_the_reference_file_client_passes(tmp_path, capsys):
    check.file_client(my_send_file, tmp_path / "a")
    check.file_client_refusals(my_send_file, tmp_path / "b")
    check.file_client(my_send_file, tmp_path / "c", texts=[("empty", b"")])
    assert capsys.readouterr().out.count("✔") == 3


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_reference_answers_pass_50_times_in_a_row(tmp_path):
    for i in range(50):
        check.recv_exactly(my_recv_exactly)
        check.recv_exactly_eof(my_recv_exactly)
        check.safe_name(safe_name)
        check.file_server(receive_file, tmp_path / f"s{i}")
        check.file_server_refuses(receive_file, tmp_path / f"r{i}")
        check.file_client(my_send_file, tmp_path / f"c{i}")
        check.file_client_refusals(my_send_file, tmp_path / f"e{i}")


# ---- the released notebook: everything to see runs before the first exercise stops Run All ----------


def test_a_released_03_runs_every_demo_and_every_other_cell_before_its_first_failing_check():
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from socketlab.instructor.release import release_notebook

    folder = Path(__file__).resolve().parent.parent / "notebooks"
    nb = release_notebook(nbformat.read(folder / "03_file_transfer.ipynb", as_version=4))
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    with pytest.raises(CellExecutionError):
        client.execute()  # Run All: stops at the first error
    code = [c for c in nb.cells if c.cell_type == "code"]
    failed = next(i for i, c in enumerate(code) if any(o.output_type == "error" for o in c.outputs))
    tags = code[failed].metadata.get("tags", [])
    assert "check" in tags, f"Run All stopped at {code[failed].id}, which is not a check"
    before = code[:failed]
    assert all(c.execution_count is not None for c in before), [c.id for c in before if c.execution_count is None]
    demos = [c.id for c in code if "demo" in c.metadata.get("tags", []) and '"lab/' not in c.source]  # not the runs of
    # the student's own programs (lab/server3.py…), which can only come after the student wrote them
    assert demos and all(c.id in {b.id for b in before} for c in code if c.id in demos), \
        f"demo cells after the first exercise's check: {[d for d in demos if d not in {b.id for b in before}]}"
    assert [c for c in code[failed + 1:] if "check" not in c.metadata.get("tags", [])], "the exercises are last"


@pytest.mark.parametrize("check_function, answer, name, used", [
    (check.safe_name, uses_the_course, "safe_name", "socketlab.protocol.check_name"),
    (check.file_server, course_parser, "receive_file", "socketlab.protocol.parse_header"),
    (check.file_client, course_client, "my_send_file", "socketlab.files.send_file"),
], ids=["safe_name", "receive_file", "my_send_file"])
def test_an_answer_on_the_course_code_is_told_it_fails_when_graded(check_function, answer, name, used, tmp_path,
                                                                    capsys):
    """Here the course's code is there, and the check says the grader will fail it (it is not there)."""
    args = () if check_function is check.safe_name else (tmp_path,)
    with contextlib.suppress(CheckFailed):
        check_function(as_student(answer, name), *args)
    said = capsys.readouterr().out.splitlines()[0]
    assert said.startswith(f"⚠ {name} uses") and used in said and "when graded" in said, said
