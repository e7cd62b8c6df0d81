"""The lab's programs as real processes: transcripts, two terminals, no process left behind."""

import socket
import sys
import time

import psutil
import pytest

from socketlab.ossockets import SocketList, tcp_sockets
from socketlab.programs import Program, free_port, run, stop_programs, two_terminals

SERVER = '''import socket, sys
with socket.create_server((sys.argv[1], int(sys.argv[2]))) as listener:
    print("listening", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)
        print("served", flush=True)
'''
CLIENT = '''import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as sock:
    sock.sendall(" ".join(sys.argv[3:]).encode())
    sock.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
print("reply:", reply.decode())
'''


@pytest.fixture
def scripts(tmp_path):
    (tmp_path / "server.py").write_text(SERVER, encoding="utf-8")
    (tmp_path / "client.py").write_text(CLIENT, encoding="utf-8")
    yield tmp_path
    stop_programs()


def test_two_terminals_runs_the_client_several_times_against_one_server(scripts):
    shown = two_terminals(scripts / "server.py", scripts / "client.py", "Привіт!", runs=3)
    assert [line for _, _, line in shown.server.lines].count("served") == 3
    assert all("reply: Привіт!" in t.text() and t.returncode == 0 for t in shown.clients)
    html = shown._repr_html_()
    assert "terminal 1" in html and "reply: Привіт!" in html
    # no table or pre: JupyterLab's own rules for those right-align the cells and break words anywhere
    assert "<table" not in html and "<pre" not in html and html.count('class="sl-screen"') == 2


def test_a_second_program_of_the_same_name_stops_the_first(scripts):
    port = free_port()
    first = Program(scripts / "server.py", "127.0.0.1", port, name="server").start()
    time.sleep(0.3)
    second = Program(scripts / "server.py", "127.0.0.1", port, name="server").start()
    assert first.returncode is not None
    time.sleep(0.3)
    assert second.returncode is None, second.transcript  # the port was free again
    second.stop()


def test_no_program_outlives_its_parent(scripts, tmp_path):
    """A kernel killed with a program running leaves nothing behind (Linux: PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("on other systems programs are stopped when Python exits normally")
    port = free_port()
    parent = (f"from socketlab.programs import Program\n"
              f"Program({str(scripts / 'server.py')!r}, '127.0.0.1', {port}).start()\n"
              "import time; time.sleep(60)\n")
    import subprocess

    kernel = subprocess.Popen([sys.executable, "-c", parent])
    deadline = time.monotonic() + 30
    # Its LISTEN row, not any row: a TIME_WAIT left on the port by another test is no sign of it.
    while not any(r.state == "LISTEN" for r in tcp_sockets([port])) and time.monotonic() < deadline:
        time.sleep(0.1)
    children = psutil.Process(kernel.pid).children()
    assert children, "the program did not start"
    kernel.kill()
    kernel.wait(5)
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive


def test_a_client_before_its_server_is_refused(scripts):
    transcript = run(scripts / "client.py", "127.0.0.1", free_port(), "hi", timeout=10)
    assert transcript.returncode != 0 and "ConnectionRefusedError" in transcript.text()


def test_the_system_view_shows_listen_established_and_time_wait():
    port = free_port()
    with socket.create_server(("127.0.0.1", port)) as listener:
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        conn, _ = listener.accept()
        states = sorted(r.state for r in tcp_sockets([port]))
        assert states == ["ESTABLISHED", "ESTABLISHED", "LISTEN"]
        client.close()  # the client closes first: its end waits in TIME_WAIT
        conn.close()
    time.sleep(0.1)
    rows = tcp_sockets([port])
    assert [r.state for r in rows] == ["TIME_WAIT"] and rows[0].remote.endswith(f":{port}")
    assert "TIME_WAIT" in str(SocketList([port])) and "<table>" in SocketList([port])._repr_html_()
