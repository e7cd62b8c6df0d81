import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import read_line
from socketlab import EchoServer, echo

CLI = [sys.executable, "-m", "socketlab"]
NOTEBOOKS = str(Path(__file__).resolve().parent.parent / "notebooks")


def run_cli(*args, timeout=15):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def start_server(*args):
    """Start `socketlab <args>` and return (process, (host, port)) once it listens."""
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = read_line(proc.stdout)
    assert "listening on" in line, line
    host, port = line.split("listening on ")[1].split()[0].rsplit(":", 1)
    return proc, (host, int(port))


def stop(proc, sig=signal.SIGINT):
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def test_echo_server_and_client_commands():
    proc, (host, port) = start_server("echo-server", "--port", "0")
    try:
        assert host == "127.0.0.1" and port > 0
        done = run_cli("echo", "--port", str(port), "Привіт,", "світе!")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "Привіт, світе!\n"
        assert echo("from python", (host, port)) == "from python"
    finally:
        code, log = stop(proc)
    assert code == 0
    assert "Traceback" not in log
    lines = log.splitlines()
    assert any("echo-server #1 accept" in line for line in lines)
    assert any("echo-server #1 recv 25 bytes 'Привіт, світе!'" in line for line in lines)
    assert any("echo-server #2 close" in line for line in lines)
    assert "echo-server stop" in lines[-1]


def test_sigterm_also_exits_cleanly():
    proc, _ = start_server("echo-server", "--port", "0")
    code, log = stop(proc, signal.SIGTERM)
    assert code == 0
    assert "Traceback" not in log


def test_once_serves_one_client_and_exits():
    proc, address = start_server("echo-server", "--port", "0", "--once")
    assert echo("only one", address) == "only one"
    assert proc.wait(timeout=10) == 0


def test_echo_to_a_closed_port_is_one_line_and_status_1():
    with EchoServer() as server:
        port = server.address[1]
    done = run_cli("echo", "--port", str(port), "hello")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"socketlab echo: cannot connect to 127.0.0.1:{port}: connection refused (is the server running?)\n"
    )


def test_echo_timeout_is_one_line_and_status_1():
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        done = run_cli("echo", "--port", str(port), "--timeout", "0.3", "hello")
    assert done.returncode == 1
    assert done.stderr.startswith(f"socketlab echo: no answer from 127.0.0.1:{port}")
    assert len(done.stderr.splitlines()) == 1


def test_unknown_host_is_one_line():
    done = run_cli("echo", "--host", "no-such-host.invalid", "--port", "1", "hi")
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_server_on_a_taken_port_is_one_line_and_status_1():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = run_cli("echo-server", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.startswith(f"socketlab echo-server: cannot listen on 127.0.0.1:{port}")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("bad", ["70000", "-1", "http"])
def test_bad_port_is_a_usage_error(bad):
    done = run_cli("echo", "--port", bad, "hi")
    assert done.returncode == 2
    assert "--port" in done.stderr


def test_console_script_and_help():
    done = run_cli("--help")
    assert done.returncode == 0
    assert "echo-server" in done.stdout and "echo" in done.stdout
    done = run_cli("echo-server", "--help")
    assert "--once" in done.stdout and "127.0.0.1" in done.stdout


def test_file_server_and_send_file_commands(tmp_path):
    folder = tmp_path / "uploads"
    proc = subprocess.Popen([*CLI, "file-server", "--port", "0", "--dir", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert read_line(proc.stdout).startswith("saving uploads in ")
        line = read_line(proc.stdout)
        port = int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])
        report = tmp_path / "звіт.txt"
        report.write_bytes("Привіт".encode("cp1251"))
        done = run_cli("send-file", "--port", str(port), str(report), str(report))
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 2
        assert "saved as 'звіт.txt': 6 bytes" in lines[0] and "matches" in lines[0]
        assert "saved as 'звіт (1).txt'" in lines[1]
        assert (folder / "звіт (1).txt").read_bytes() == "Привіт".encode("cp1251")

        done = run_cli("send-file", "--port", str(port), "--name", "../evil.txt", str(report))
        assert done.returncode == 1
        assert done.stderr.startswith("socketlab send-file: ") and "'/'" in done.stderr
        assert len(done.stderr.splitlines()) == 1

        done = run_cli("send-file", "--port", str(port), str(tmp_path / "missing.txt"))
        assert (done.returncode, done.stderr.strip()) == (
            1, f"socketlab send-file: no such file: {tmp_path / 'missing.txt'}")
    finally:
        code, log = stop(proc)
    assert code == 0
    assert "file-server #1 saved 6 bytes звіт.txt" in log
    assert sorted(p.name for p in folder.iterdir()) == ["звіт (1).txt", "звіт.txt"]


def test_send_file_refused_by_the_server_is_one_line(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2000)
    proc = subprocess.Popen([*CLI, "file-server", "--port", "0", "--dir", str(tmp_path / "up"), "--max-size", "1K"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_line(proc.stdout)
        port = int(read_line(proc.stdout).split("listening on ")[1].split()[0].rsplit(":", 1)[1])
        done = run_cli("send-file", "--port", str(port), str(big))
    finally:
        stop(proc)
    assert done.returncode == 1
    assert done.stderr.startswith(f"socketlab send-file: {big}: refused: too-large: 2000 bytes")
    assert len(done.stderr.splitlines()) == 1


def test_send_file_to_nobody_is_one_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"a")
    with EchoServer() as server:
        port = server.address[1]
    done = run_cli("send-file", "--port", str(port), str(path))
    assert done.returncode == 1
    assert "connection refused" in done.stderr and len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("size, ok", [("1G", True), ("512M", True), ("100k", True), ("10", True),
                                      ("1.5G", False), ("G", False), ("-1", False), ("1X", False)])
def test_max_size_option(size, ok):
    from socketlab.cli import build_parser

    parser = build_parser()
    if ok:
        assert parser.parse_args(["file-server", "--max-size", size]).max_size > 0
    else:
        with pytest.raises(SystemExit):
            parser.parse_args(["file-server", "--max-size", size])


def test_release_command(tmp_path):
    done = run_cli("release", NOTEBOOKS, str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    released = sorted(p.name for p in (tmp_path / "out").glob("*.ipynb"))
    assert released == sorted(p.name for p in Path(NOTEBOOKS).glob("*.ipynb")) and len(released) >= 3
    assert (tmp_path / "out" / "data" / "lab_report_uk.txt").exists()
    for path in (tmp_path / "out").glob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        assert "your code here" in text


def test_release_refuses_to_overwrite_the_source():
    done = run_cli("release", NOTEBOOKS, NOTEBOOKS)
    assert done.returncode == 1 and "overwrite the solutions" in done.stderr


def test_grade_command(tmp_path):
    student = tmp_path / "subs" / "ada"
    student.mkdir(parents=True)
    (student / "01_echo.ipynb").write_bytes((Path(NOTEBOOKS) / "01_echo.ipynb").read_bytes())
    done = run_cli("grade", str(tmp_path / "subs"), "--source", NOTEBOOKS, "--out", str(tmp_path / "gb" / "gradebook.csv"), timeout=120)
    assert done.returncode == 0, done.stderr
    ada = next(line for line in done.stdout.splitlines() if line.startswith("ada "))
    full = sum(c["metadata"]["points"] for c in json.loads((Path(NOTEBOOKS) / "01_echo.ipynb").read_text(encoding="utf-8"))["cells"]
               if "check" in c["metadata"].get("tags", []))
    assert ada.split()[1] == f"{full}/{full}" and ada.split()[-1].startswith(f"{full}/")  # 01 full marks, the rest missing
    assert (tmp_path / "gb" / "gradebook.csv").exists()
    assert (tmp_path / "gb" / "feedback" / "ada.md").exists()


def test_grade_a_missing_folder_is_one_line():
    done = run_cli("grade", "no/such/folder")
    assert (done.returncode, done.stderr) == (1, "socketlab grade: no such folder or zip: no/such/folder\n")


@pytest.mark.parametrize("kind, role", [("threads", "threading-server"), ("selectors", "selector-server"),
                                        ("asyncio", "asyncio-server")])
def test_echo_server_kinds(kind, role):
    proc, address = start_server("echo-server", "--port", "0", "--kind", kind)
    try:
        assert echo(f"to {kind}", address) == f"to {kind}"
    finally:
        code, log = stop(proc)
    assert code == 0 and f"{role} #1 accept" in log and f"{role} stop" in log


def test_once_is_for_the_sequential_server():
    done = run_cli("echo-server", "--kind", "threads", "--once")
    assert done.returncode == 1 and "--once is for the sequential server" in done.stderr


@pytest.mark.parametrize("command", [["echo-server", "--idle-timeout"], ["file-server", "--idle-timeout"],
                                     ["echo-server", "--deadline"], ["echo", "--timeout"],
                                     ["send-file", "--timeout"]])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "soon"])
def test_seconds_must_be_positive_and_finite(command, value):
    from socketlab.cli import build_parser

    tail = {"echo": ["hi"], "send-file": ["x.txt"]}.get(command[0], [])
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*command, value, *tail])
    assert info.value.code == 2


def test_nan_timeout_is_a_one_line_usage_error():
    done = run_cli("echo", "--timeout", "nan", "hi")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'nan' is not a positive, finite number of seconds" in done.stderr.splitlines()[-1]


def serve_once_in_thread(behave):
    """A TCP peer for one connection; returns (port, thread)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def run():
        with listener:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    behave(conn)
                except OSError:
                    pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def test_echo_timeout_bounds_the_whole_command():
    def trickle(conn):
        conn.recv(100)
        for _ in range(60):  # a byte every 0.1 s for 6 s
            conn.sendall(b".")
            time.sleep(0.1)

    port, thread = serve_once_in_thread(trickle)
    started = time.monotonic()
    done = run_cli("echo", "--port", str(port), "--timeout", "1", "hello")
    took = time.monotonic() - started
    thread.join(10)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "no answer from" in done.stderr and took < 4.0


@pytest.mark.parametrize("stall", ["ready", "ok"])
def test_send_file_timeout_bounds_the_whole_command(tmp_path, stall):
    """A server that trickles its READY (or its OK) a byte at a time cannot hold send-file past --timeout."""
    def trickle(conn):
        header = conn.recv(1024)
        size = int(header.split()[1])
        reply = b"READY\n"
        if stall == "ok":
            conn.sendall(reply)
            got = 0
            while got < size:
                got += len(conn.recv(65536))
            reply = b"OK 5 " + b"0" * 64 + b" x.txt\n"
        for byte in reply[:-1]:  # never the end of the line: a byte every 0.2 s for as long as it takes
            conn.sendall(bytes([byte]))
            time.sleep(0.2)
        time.sleep(10)

    sample = tmp_path / "x.txt"
    sample.write_text("hello")
    port, thread = serve_once_in_thread(trickle)
    started = time.monotonic()
    done = run_cli("send-file", "--port", str(port), "--timeout", "2", str(sample))
    took = time.monotonic() - started
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert took < 4.5, took


def test_echo_keeps_a_bounded_reply():
    def endless(conn):
        conn.recv(100)
        block = b"z" * 65536
        for _ in range(2000):  # 128 MiB unless the client stops reading first
            conn.sendall(block)

    port, thread = serve_once_in_thread(endless)
    done = run_cli("echo", "--port", str(port), "hello")
    thread.join(15)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "the reply is longer than" in done.stderr and done.stdout == ""


def test_a_server_reachable_from_other_machines_gets_a_warning():
    # 192.0.2.1 (TEST-NET-1) is on no interface here: the warning comes, then binding fails.
    done = run_cli("echo-server", "--host", "192.0.2.1", "--port", "0")
    lines = done.stderr.splitlines()
    assert lines[0].startswith("socketlab echo-server: warning: listening on 192.0.2.1: other machines")
    assert done.returncode == 1 and len(lines) == 2
    proc, _ = start_server("echo-server", "--port", "0")  # loopback: no warning
    code, log = stop(proc)
    assert code == 0 and "warning" not in log


@pytest.mark.parametrize("reply", [b"HELLO\n", b"x" * 2000, b"OK 1 2 3\n"])
def test_send_file_to_a_peer_that_does_not_speak_the_protocol_is_one_line(tmp_path, reply):
    path = tmp_path / "a.txt"
    path.write_bytes(b"a")
    port, thread = serve_once_in_thread(lambda conn: (conn.recv(100), conn.sendall(reply)))
    done = run_cli("send-file", "--port", str(port), str(path))
    thread.join(10)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"socketlab send-file: 127.0.0.1:{port} does not speak the file protocol: ")
    assert len(done.stderr.splitlines()) == 1


def test_server_kinds_are_listed_once():
    from socketlab.cli import build_parser
    from socketlab.concurrency import SERVER_KINDS
    from socketlab.concurrency import FILE_SERVER_KINDS

    commands = build_parser()._subparsers._group_actions[0].choices
    kinds = {name: next(a for a in p._actions if a.dest == "kind").choices for name, p in commands.items()
             if name in ("echo-server", "file-server")}
    assert list(kinds["echo-server"]) == list(SERVER_KINDS)
    assert list(kinds["file-server"]) == list(FILE_SERVER_KINDS)
    source = Path(__file__).resolve().parent.parent.joinpath("socketlab", "cli.py").read_text(encoding="utf-8")
    assert '"selectors", "asyncio"' not in source


def test_file_server_threads_and_deadline_options(tmp_path):
    proc = subprocess.Popen([*CLI, "file-server", "--port", "0", "--dir", str(tmp_path / "up"), "--kind", "threads",
                             "--deadline", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_line(proc.stdout)
        line = read_line(proc.stdout)
        assert "threading-file-server listening on" in line
        port = int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])
        path = tmp_path / "t.txt"
        path.write_bytes(b"t")
        assert run_cli("send-file", "--port", str(port), str(path)).returncode == 0
    finally:
        code, log = stop(proc)
    assert code == 0 and "threading-file-server #1 saved 1 byte t.txt" in log
    done = run_cli("echo-server", "--kind", "selectors", "--deadline", "5", "--port", "0")
    assert done.returncode == 1 and "deadline belongs to servers that serve one client at a time" in done.stderr


def test_read_line_sees_a_line_that_came_together_with_the_one_before():
    """Two lines in the pipe at once: the second is read at once, not after the helper's timeout
    (a server's "saving uploads in" and "listening on" come so when the tests are busy)."""
    proc = subprocess.Popen([sys.executable, "-c", "print('one'); print('two', flush=True); import time; "
                             "time.sleep(5)"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # both lines are in the pipe by now
        started = time.monotonic()
        assert (read_line(proc.stdout, 3), read_line(proc.stdout, 3)) == ("one\n", "two\n")
        assert time.monotonic() - started < 2
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_udp_server_and_ping_report_the_loss():
    proc, address = start_server("udp-server", "--port", "0", "--drop", "1")
    try:
        done = run_cli("ping", "--port", str(address[1]), "--count", "3", "--timeout", "0.2")
        assert done.returncode == 0, done.stderr
        assert "ping 3: no reply within 0.2 s" in done.stdout and "3 sent, 0 received, 100% lost" in done.stdout
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    bad = run_cli("udp-server", "--drop", "30")
    assert bad.returncode != 0 and "fraction from 0 to 1" in bad.stderr
