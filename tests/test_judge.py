"""The judge runs a check in its own process; the kernel, here a plain Python process, only runs the answers.

Each test starts the kernel's side as a process of its own, as a graded
notebook's kernel is: its answers, then the agent. What the kernel's code does
to the course's checks, clients or servers changes nothing the judge decides.
"""

import inspect
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_checks_files import my_recv_exactly

from socketlab.instructor.agent import ENV
from socketlab.instructor.build import JUDGED

pytestmark = [pytest.mark.skipif(not JUDGED, reason="no passing of sockets between processes here"),
              pytest.mark.timeout(120)]

ECHO_SERVER = """
def serve_one_client(listener):
    conn, _ = listener.accept()
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)
"""
STUB = """
def serve_one_client(listener):
    raise NotImplementedError("your code here")
"""
SERVE = "import socketlab.instructor.agent as _agent\n_agent.serve(globals())\n"


def plan(module: str, source: str, answer: str) -> dict:
    """A check cell's plan, as the build writes it: ``source`` with ``check`` the checks of ``module``."""
    return {"preamble": f"from socketlab.checks import {module} as check", "source": source, "answers": [answer]}


ECHO_PLAN = plan("echo", "check.echo_server(serve_one_client)", "serve_one_client")


@pytest.fixture
def judge(monkeypatch):
    from socketlab.instructor.judge import Judge

    monkeypatch.delenv(ENV, raising=False)
    made = Judge()
    yield made
    made.close()
    os.environ.pop(ENV, None)


def kernel_cell(judge, plan: dict | None, code: str, *, cell: int = 3) -> tuple[dict | None, subprocess.CompletedProcess]:
    """Run ``code`` as a kernel would run a check cell while the judge holds ``plan`` for it."""
    script = Path(judge.folder) / f"cell{cell}.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    judge.begin(plan)
    done = subprocess.run([sys.executable, str(script)], env={**os.environ, ENV: judge.path},
                          capture_output=True, text=True, timeout=90)
    return judge.finish(), done


def test_an_honest_answer_passes_and_the_kernel_shows_the_checks_line(judge):
    verdict, done = kernel_cell(judge, ECHO_PLAN, ECHO_SERVER + SERVE)
    assert verdict == {"passed": True, "message": ""}, (verdict, done.stderr[-2000:])
    assert "✔" in done.stdout and done.returncode == 0


def test_a_wrong_answer_fails_with_the_checks_own_line(judge):
    wrong = ECHO_SERVER.replace("conn.sendall(data)", "conn.sendall(data + b'!')")
    verdict, done = kernel_cell(judge, ECHO_PLAN, wrong + SERVE)
    assert not verdict["passed"] and "send back exactly the bytes" in verdict["message"]
    assert verdict["message"] in done.stderr and done.returncode != 0  # the kernel shows the same line


def test_the_students_error_comes_with_the_students_own_lines(judge):
    verdict, _ = kernel_cell(judge, ECHO_PLAN, STUB + SERVE)
    assert not verdict["passed"]
    assert "NotImplementedError: your code here" in verdict["message"]
    assert 'raise NotImplementedError("your code here")' in verdict["message"]


REPLACES_THE_CHECKS = """
import socketlab, socketlab.checks, socketlab.checks.echo as check
passed = lambda *a, **k: print("✔ your server echoes empty, short and large messages")
check.echo_server = check.echo_server_pieces = check.echo_client = passed
check._judge_echo = lambda *a, **k: None
socketlab.checks.student_server = socketlab.checks.call_student = passed
socketlab.echo = lambda message, address, **kw: message
"""


def test_replacing_the_checks_and_their_helpers_in_the_kernel_changes_nothing(judge):
    verdict, done = kernel_cell(judge, ECHO_PLAN, STUB + REPLACES_THE_CHECKS + SERVE)
    assert not verdict["passed"] and "NotImplementedError" in verdict["message"]


def test_a_kernel_that_never_asks_the_judge_fails_the_check(judge):
    fake = "import socketlab.instructor.agent as _agent\n_agent.serve = lambda namespace: print('✔ passed')\n"
    verdict, done = kernel_cell(judge, ECHO_PLAN, STUB + fake + SERVE)
    assert done.returncode == 0 and "✔" in done.stdout  # the kernel says it passed
    assert verdict == {"passed": False, "message": "✘ the check never reached the grader"}


LYING_AGENT = """
import json, os, socket, struct
sock = socket.socket(socket.AF_UNIX)
sock.connect(os.environ["SOCKETLAB_JUDGE"])
def read():
    head = sock.recv(4, socket.MSG_WAITALL)
    if len(head) < 4:
        return None
    return json.loads(sock.recv(struct.unpack("!I", head)[0], socket.MSG_WAITALL))
while (message := read()) is not None and message.get("op") != "end":
    if "id" in message:  # whatever it asks: "done, and it went well"
        reply = json.dumps({"id": message["id"], "outcome": "ok", "value": None,
                            "functions": {"serve_one_client": {"is_async": False}}, "used": []}).encode()
        sock.sendall(struct.pack("!I", len(reply)) + reply)
print("✔ passed")
"""


def test_an_agent_that_lies_about_every_call_cannot_fake_the_wire(judge):
    verdict, _ = kernel_cell(judge, ECHO_PLAN, LYING_AGENT)
    assert not verdict["passed"] and "never accepted" in verdict["message"], verdict


def test_a_cell_that_ends_before_its_check_fails_it(judge):
    walks_away = ("import os, socket\ns = socket.socket(socket.AF_UNIX)\ns.connect(os.environ['SOCKETLAB_JUDGE'])\n"
                  "s.close()\n")
    verdict, _ = kernel_cell(judge, ECHO_PLAN, walks_away)
    assert not verdict["passed"]


def test_only_a_planned_cell_is_judged_and_only_once(judge):
    assert kernel_cell(judge, None, ECHO_SERVER + "print('a cell with no check')\n")[0] is None
    twice = ECHO_SERVER + SERVE + "import socketlab.instructor.agent as a\ntry:\n    a.serve(globals())\n" \
                                  "except Exception as exc:\n    print('second:', type(exc).__name__)\n"
    verdict, done = kernel_cell(judge, ECHO_PLAN, twice)
    assert verdict["passed"] and "second:" in done.stdout  # the second agent was turned away


def test_a_listener_the_kernel_accepts_on_is_counted_by_the_judge(judge):
    """The hint "never accepted" needs the kernel's accepts: a server that accepts and closes at once is told
    its reply was cut short, not that it never accepted."""
    closes = "def serve_one_client(listener):\n    conn, _ = listener.accept()\n    conn.close()\n"
    verdict, _ = kernel_cell(judge, ECHO_PLAN, closes + SERVE)
    assert not verdict["passed"] and "never accepted" not in verdict["message"], verdict


FILE_PLAN = plan("files", "check.recv_exactly(my_recv_exactly)\ncheck.recv_exactly_eof(my_recv_exactly)",
                 "my_recv_exactly")
RECV_EXACTLY = inspect.getsource(my_recv_exactly)  # the reference answer of the checks' own tests


def test_a_socket_handed_to_the_kernel_is_the_judges_connection(judge):
    verdict, done = kernel_cell(judge, FILE_PLAN, RECV_EXACTLY + SERVE)
    assert verdict["passed"], (verdict, done.stderr[-2000:])
    spins = RECV_EXACTLY.replace('raise EOFError(f"expected {n} bytes, got {len(data)} before the connection closed")',
                                 "continue")
    verdict, _ = kernel_cell(judge, FILE_PLAN, spins + SERVE, cell=4)
    assert not verdict["passed"] and "EOFError" in verdict["message"], verdict


CONCURRENCY_PLAN = plan("concurrency", "check.thread_per_client(serve_concurrently)", "serve_concurrently")
THREADS_THAT_DIE = """
import threading
def serve_concurrently(listener, count):
    def echo(conn):
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)
    threads = []
    for _ in range(count):
        conn, _ = listener.accept()
        conn.settimeout(5)
        threads.append(threading.Thread(target=echo, args=(conn,)))
        threads[-1].start()
    for t in threads:
        t.join(10)
"""


def test_a_thread_that_dies_in_the_kernel_is_named_by_the_judge(judge):
    verdict, done = kernel_cell(judge, CONCURRENCY_PLAN, THREADS_THAT_DIE + SERVE)
    assert not verdict["passed"] and "a thread of your serve_concurrently" in verdict["message"], verdict
    assert "ConnectionResetError" in verdict["message"]


ASYNC_PLAN = plan("concurrency", "await check.asyncio_handler(handle_echo)", "handle_echo")
HANDLER = """
import asyncio
async def handle_echo(reader, writer):
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()
"""
SERVE_ASYNC = ("import asyncio, socketlab.instructor.agent as _agent\n"
               "asyncio.run(_agent.serve_async(globals()))\n")


def test_an_asyncio_handler_runs_in_the_kernels_loop_and_is_judged_here(judge):
    verdict, done = kernel_cell(judge, ASYNC_PLAN, HANDLER + SERVE_ASYNC)
    assert verdict["passed"], (verdict, done.stderr[-2000:])
    blocks = HANDLER.replace("writer.write(data)", "import time; time.sleep(0.3); writer.write(data)")
    verdict, _ = kernel_cell(judge, ASYNC_PLAN, blocks + SERVE_ASYNC, cell=4)
    assert not verdict["passed"] and "stopped the event loop" in verdict["message"], verdict


# A kernel that serves the judge's listener itself, behind the agent's back: it says "returned" at once,
# then echoes, holding the last bytes until the test lets go, so the check passes long after its cell.
EARLY_END = """
import json, os, socket, struct, threading, time
sock = socket.socket(socket.AF_UNIX)
sock.connect(os.environ["SOCKETLAB_JUDGE"])
def send(message):
    body = json.dumps(message).encode()
    sock.sendall(struct.pack("!I", len(body)) + body)
def serve(listener, call_id):
    listener.setblocking(True)  # the judge's end has a timeout: the descriptor came non-blocking
    while True:
        conn, _ = listener.accept()
        send({"event": "accepted", "id": call_id})
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        while not os.path.exists(RELEASE):
            time.sleep(0.05)
        conn.sendall(data)
        conn.close()
while True:
    head, fds, _flags, _addr = socket.recv_fds(sock, 4, 4)
    if len(head) < 4:
        break
    message = json.loads(sock.recv(struct.unpack("!I", head)[0], socket.MSG_WAITALL))
    if message.get("op") == "describe":
        send({"id": message["id"], "functions": {"serve_one_client": {"is_async": False}}})
    elif message.get("op") == "shortcuts":
        send({"id": message["id"], "used": []})
    elif message.get("op") == "call":
        threading.Thread(target=serve, args=(socket.socket(fileno=fds[0]), message["id"])).start()
        send({"id": message["id"], "outcome": "ok", "value": None})
        open(RELEASE + ".started", "w").close()
        break  # and the cell ends: its check is still running
time.sleep(60)
"""


def test_a_check_that_outlives_its_cell_decides_nothing_for_the_next(judge, monkeypatch, tmp_path):
    import socketlab.instructor.judge as judging

    monkeypatch.setattr(judging, "_FINISH_WAIT", 0.5)
    release = tmp_path / "release"
    script = tmp_path / "early.py"
    script.write_text(f"RELEASE = {str(release)!r}\n" + EARLY_END, encoding="utf-8")
    judge.begin({**ECHO_PLAN, "source": "check.echo_server(serve_one_client, messages=[b'hi'])"})
    kernel = subprocess.Popen([sys.executable, str(script)], env={**os.environ, ENV: judge.path})
    try:
        deadline = time.monotonic() + 30
        while not Path(f"{release}.started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        first = judge.finish()  # the cell "ended": its check is still waiting for its echo
        still_running, its_session = judge.worker, judge.session
        assert first["passed"] is False and still_running.is_alive(), (first, its_session.verdict)
        judge.begin(ECHO_PLAN)
        subprocess.run([sys.executable, "-c", "import os, socket\ns = socket.socket(socket.AF_UNIX)\n"
                        "s.connect(os.environ['SOCKETLAB_JUDGE'])\ns.close()\n"], env={**os.environ, ENV: judge.path},
                       timeout=60)
        deadline = time.monotonic() + 10  # the judge takes the connection in a thread of its own
        while judge.worker is None and time.monotonic() < deadline:
            time.sleep(0.01)
        judge.worker.join(10)  # the next cell's check failed at once...
        release.touch()
        still_running.join(20)  # ...and then the first one passed
        assert its_session.verdict == {"passed": True, "message": ""}
        assert judge.finish()["passed"] is False
    finally:
        release.touch()
        kernel.kill()
        kernel.wait(10)
