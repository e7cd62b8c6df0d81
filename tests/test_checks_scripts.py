"""The wrong programs students write for the lab's scripts, and the one line each check gives them."""

import pytest

from socketlab.checks import CheckFailed, scripts as check
from socketlab.programs import stop_programs

ARGS = "import socket, sys\nHOST, PORT = sys.argv[1], int(sys.argv[2])\n"
SERVER = ARGS + """with socket.create_server((HOST, PORT)) as listener:
    conn, _ = listener.accept()
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)
"""
SERVER2 = ARGS + """with socket.create_server((HOST, PORT)) as listener:
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(2)
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass
"""
CLIENT = ARGS + """MESSAGE = " ".join(sys.argv[3:]) or "Привіт"
with socket.create_connection((HOST, PORT), timeout=5) as sock:
    sock.sendall(MESSAGE.encode())
    sock.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
print(reply.decode())
"""

WRONG = {
    "fixed port": (check.server_script, SERVER.replace("(HOST, PORT)", "('127.0.0.1', 50123)"), "from the command line"),
    "never ends": (check.server_script, SERVER2, "serves one client"),
    "one recv": (check.server_script, ARGS + "with socket.create_server((HOST, PORT)) as l:\n    c, _ = l.accept()\n"
                 "    c.sendall(c.recv(3))\n", "got back"),
    "crashes": (check.server_script, ARGS + "raise NotImplementedError('your code here')\n", "NotImplementedError"),
    # The programs find the package's student side, as when graded: its servers are stand-ins there.
    "uses the course": (check.server_script, ARGS + "import socketlab\n"
                        "socketlab.EchoServer(host=HOST, port=PORT, max_clients=1).start().wait(30)\n",
                        "not here while grading"),
    "imports the course unseen": (check.server_script, ARGS + "lab = __import__('socket' + 'lab.echo').echo\n"
                                  "lab.EchoServer(host=HOST, port=PORT).start()\n", "not here while grading"),
    "runs the course's program": (check.server_script, "import os, sys\nos.execv(sys.executable, [sys.executable, "
                                  "'-m', 'socketlab', 'echo-server', '--once', '--host', sys.argv[1], '--port', "
                                  "sys.argv[2]])\n", "write your own with the socket module"),
    "imports socketlab and writes its own": (None, "import socketlab\n" + SERVER, ""),  # nothing wrong with that
    "no half-close": (check.client_script, CLIENT.replace("    sock.shutdown(socket.SHUT_WR)\n", ""), "SHUT_WR"),
    "first recv only": (check.client_script, ARGS + "MESSAGE = ' '.join(sys.argv[3:])\n"
                        "with socket.create_connection((HOST, PORT), timeout=5) as s:\n    s.sendall(MESSAGE.encode())\n"
                        "    s.shutdown(socket.SHUT_WR)\n    print(s.recv(1000).decode(errors='replace'))\n", "whole reply"),
    "never reads": (check.client_script, ARGS + "MESSAGE = ' '.join(sys.argv[3:])\n"
                    "s = socket.create_connection((HOST, PORT), timeout=5)\ns.sendall(MESSAGE.encode())\n"
                    "s.shutdown(socket.SHUT_WR)\nprint(MESSAGE)\n", "before reading the whole reply"),
    "one recv, as in the lab's report": (check.server_script, SERVER.replace(
        "        while data := conn.recv(4096):\n            conn.sendall(data)\n",
        "        data = conn.recv(1024)\n        conn.sendall(data)\n"), "recv in a loop"),
    "permanent with no except": (check.server_script, SERVER2.replace("            try:\n", "            if True:\n")
                                 .replace("            except OSError:\n                pass\n", ""), "catch OSError"),
    "permanent with no timeout": (check.server_script, SERVER2.replace("            conn.settimeout(2)\n", ""),
                                  "a timeout of a few seconds"),
    "does not compile": (check.server_script, SERVER.replace("conn.sendall(data)", "conn.sendall(data"),
                         "does not compile: line 7"),
    "client asks the keyboard": (check.client_script, CLIENT.replace('" ".join(sys.argv[3:]) or "Привіт"',
                                                                     'input("message: ")'), "command line"),
    "own message": (check.client_script, CLIENT.replace('" ".join(sys.argv[3:]) or "Привіт"', '"hello"'), "should send MESSAGE"),
}


@pytest.mark.parametrize("case", [case for case, (check_function, _, _) in WRONG.items() if check_function])
def test_every_wrong_program_fails_with_its_hint(tmp_path, case, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as a notebook's folder: no checkout's socketlab/ beside it for -m to find
    check_function, source, hint = WRONG[case]
    (tmp_path / "prog.py").write_text(source, encoding="utf-8")
    forever = {"forever": True} if case.startswith("permanent") else {}
    try:
        with pytest.raises(CheckFailed) as caught:
            check_function(tmp_path / "prog.py", **forever)
    finally:
        stop_programs()
    assert hint in str(caught.value) and str(caught.value).startswith("✘"), str(caught.value)
    assert "\n" not in str(caught.value), "one line"


def test_a_program_that_only_imports_the_course_passes(tmp_path):
    (tmp_path / "prog.py").write_text(WRONG["imports socketlab and writes its own"][1], encoding="utf-8")
    try:
        check.server_script(tmp_path / "prog.py")
    finally:
        stop_programs()


def test_a_permanent_server_that_ends_fails(tmp_path):
    (tmp_path / "server2.py").write_text(SERVER, encoding="utf-8")
    with pytest.raises(CheckFailed, match="served 1 client and ended"):
        check.server_script(tmp_path / "server2.py", forever=True)


def test_a_missing_program_says_which_cell_to_run(tmp_path):
    with pytest.raises(CheckFailed, match="%%writefile"):
        check.server_script(tmp_path / "server.py")


def test_the_reference_programs_pass(tmp_path, capsys):
    for name, source in (("server.py", SERVER), ("server2.py", SERVER2), ("client.py", CLIENT)):
        (tmp_path / name).write_text(source, encoding="utf-8")
    check.server_script(tmp_path / "server.py")
    check.server_script(tmp_path / "server2.py", forever=True)
    check.client_script(tmp_path / "client.py")
    check.scripts_together(tmp_path / "server.py", tmp_path / "client.py")
    check.scripts_together(tmp_path / "server2.py", tmp_path / "client.py", runs=5)
    assert capsys.readouterr().out.count("✔") == 5


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_reference_programs_pass_50_times_in_a_row(tmp_path):
    for name, source in (("server.py", SERVER), ("server2.py", SERVER2), ("client.py", CLIENT)):
        (tmp_path / name).write_text(source, encoding="utf-8")
    for name in ("server3.py", "client3.py"):
        (tmp_path / name).write_text(notebook_program(name), encoding="utf-8")
    for _ in range(50):
        check.server_script(tmp_path / "server.py")
        check.server_script(tmp_path / "server2.py", forever=True)
        check.client_script(tmp_path / "client.py")
        check.file_server_script(tmp_path / "server3.py")
        check.file_client_script(tmp_path / "client3.py")


CLASSIC = ARGS + """listener = socket.socket()
listener.bind((HOST, PORT))      # as in the lab's report: no SO_REUSEADDR
listener.listen()
while True:
    conn, _ = listener.accept()
    with conn:
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass
"""


def test_a_server_without_reuseaddr_cannot_restart_at_once(tmp_path):
    import sys

    if not sys.platform.startswith(("linux", "darwin")):
        pytest.skip("TIME_WAIT blocks a new bind without SO_REUSEADDR on Linux and macOS")
    (tmp_path / "classic.py").write_text(CLASSIC, encoding="utf-8")
    (tmp_path / "server2.py").write_text(SERVER2, encoding="utf-8")
    try:
        with pytest.raises(CheckFailed, match="TIME_WAIT.*SO_REUSEADDR"):
            check.restarts_at_once(tmp_path / "classic.py")
        check.restarts_at_once(tmp_path / "server2.py")
    finally:
        stop_programs()


def notebook_program(name):
    """A program as notebook 03 writes it (its %%writefile cell), answer included."""
    import json
    from pathlib import Path

    cells = json.loads((Path(__file__).resolve().parent.parent / "notebooks" / "03_file_transfer.ipynb")
                       .read_text(encoding="utf-8"))["cells"]
    source = next("".join(c["source"]) for c in cells if "".join(c["source"]).startswith(f"%%writefile lab/{name}"))
    return source.split("\n", 1)[1]


WRONG_FILE_PROGRAMS = {
    "client counts characters": ("client3.py", check.file_client_script,
                                 lambda s: s.replace("data = FILE.read_bytes()", "text = FILE.read_text(encoding='utf-8', errors='replace')\ndata = text.encode('utf-8', errors='replace')")
                                 .replace('f"FILE {len(data)} {FILE.name}', 'f"FILE {len(text)} {FILE.name}'), "arrived changed|did not deliver"),
    "client ignores refusals": ("client3.py", check.file_client_script,
                                lambda s: s.replace('sys.exit(f"client: refused: {reply}")', 'print(reply) or sys.exit(0)'),
                                "exit with sys.exit"),
    "server trusts the name": ("server3.py", check.file_server_script,
                               lambda s: s.replace("if not safe_name(name):", "if False:"), "bad-name"),
    "server overwrites": ("server3.py", check.file_server_script,
                          lambda s: s.replace('open(FOLDER / candidate, "xb")', 'open(FOLDER / candidate, "wb")'),
                          "never overwrite"),
    "server never says READY": ("server3.py", check.file_server_script,
                                lambda s: s.replace('conn.sendall(b"READY\\n")', 'pass'), "READY"),
    "server reads to the end": ("server3.py", check.file_server_script,
                                lambda s: s.replace("body = recv_exactly(conn, int(size))",
                                                    "body = b''\n                    while chunk := conn.recv(4096):\n"
                                                    "                        body += chunk"), "read exactly size bytes"),
    "server saves text": ("server3.py", check.file_server_script,
                          lambda s: s.replace("out.write(body)", "out.write(body.decode('utf-8', 'replace').encode('utf-8'))"),
                          "not the file that was sent|SHA-256"),
}


@pytest.mark.parametrize("case", WRONG_FILE_PROGRAMS)
def test_every_wrong_file_program_fails_with_its_hint(tmp_path, case):
    name, check_function, spoil, hint = WRONG_FILE_PROGRAMS[case]
    source = notebook_program(name)
    wrong = spoil(source)
    assert wrong != source, "the wrong answer must differ from the reference"
    (tmp_path / name).write_text(wrong, encoding="utf-8")
    try:
        with pytest.raises(CheckFailed, match=hint):
            check_function(tmp_path / name)
    finally:
        stop_programs()


def test_the_reference_file_programs_pass(tmp_path, capsys):
    for name in ("server3.py", "client3.py"):
        (tmp_path / name).write_text(notebook_program(name), encoding="utf-8")
    check.file_server_script(tmp_path / "server3.py")
    check.file_client_script(tmp_path / "client3.py")
    check.file_scripts_together(tmp_path / "server3.py", tmp_path / "client3.py")
    assert capsys.readouterr().out.count("✔") == 3


def test_file_programs_that_disagree_fail_together(tmp_path):
    """A client that counts characters, against a server that trusts the header: the file arrives cut."""
    (tmp_path / "server3.py").write_text(notebook_program("server3.py"), encoding="utf-8")
    client = notebook_program("client3.py")
    wrong = client.replace("{len(data)} {FILE.name}", "{len(data.decode('utf-8', 'replace'))} {FILE.name}")
    assert wrong != client
    (tmp_path / "client3.py").write_text(wrong, encoding="utf-8")
    try:
        with pytest.raises(CheckFailed, match="byte for byte"):
            check.file_scripts_together(tmp_path / "server3.py", tmp_path / "client3.py")
    finally:
        stop_programs()
