"""What is not there cannot be used: the routes around a grader that inspects, closed by one that isolates.

One class of notebook 01, graded once in the sandbox: beside an honest student,
each cheater takes a route that earned points when the grader read the syntax tree
instead (the course's code started in a child interpreter, ``-m socketlab`` from the
lab's programs, the package found by its path, a relay in the agent's place, the
hidden tests read from the graded notebook or seen by the student's function, the
sandbox's memory and writable places). Each must earn nothing by it and read nothing,
while the honest student, graded beside them, keeps every point.
"""

import shutil
import sys
from pathlib import Path

import nbformat
import psutil
import pytest

from test_cheaters import fingerprint
from socketlab.instructor.gradebook import Options, grade
from socketlab.instructor.pages import write_page
from socketlab.instructor.release import check_cells, hidden_tests
from socketlab.instructor.sandbox import available

ROOT = Path(__file__).resolve().parent.parent
ECHO = "01_echo.ipynb"

pytestmark = [pytest.mark.skipif(available() is not None, reason=f"no sandbox here: {available()}"),
              pytest.mark.timeout(600)]


def source():
    return nbformat.read(ROOT / "notebooks" / ECHO, as_version=4)


def answered(**cells):
    """Notebook 01 solved, with ``{function or lab program: code}`` in place of those answers."""
    nb = source()
    for key, code in cells.items():
        mark = f"%%writefile lab/{key}.py" if key in ("server", "client") else f"def {key}("
        cell = next(c for c in nb.cells if "solution" in c.metadata.get("tags", []) and mark in c.source)
        cell.source = code
    return nb


HONEST_ECHO = '''import socket

def my_echo(message, address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode())
        sock.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: sock.recv(65536), b"")).decode()
'''
HONEST_SERVER = '''def serve_one_client(listener):
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(5)
        while data := conn.recv(4096):
            conn.sendall(data)

'''
SPAWNED = '''import os, subprocess, sys

def my_echo(message, address):
    code = "import socketlab, sys; sys.stdout.write(socketlab." + "echo(sys.argv[1], (sys.argv[2], int(sys.argv[3]))))"
    with subprocess.Popen([sys.executable, "-c", code, message, address[0], str(address[1])],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as child:
        return child.communicate(timeout=8)[0]
'''
EXECV = '''%%writefile lab/{name}.py
import os, sys
os.execv(sys.executable, [sys.executable, "-m", "socketlab", "{command}", *sys.argv[1:]])
'''
# Looks for the course's echo.py wherever a path could lead, and runs what it finds.
BY_PATH = '''import glob, os, sys

def my_echo(message, address):
    places = [*sys.path, "/proc/1/root", "/proc/self/root", *glob.glob("/proc/[0-9]*/cwd"), *glob.glob("/proc/*/fd/*")]
    for place in places:
        for found in glob.glob(os.path.join(place, "socketlab", "echo.py")) + glob.glob(os.path.join(place, "echo.py")):
            try:
                text = open(found, encoding="utf-8").read()
            except OSError:
                continue
            if "class EchoServer" in text:
                scope = {"__name__": "socketlab.echo"}
                exec(compile(text, found, "exec"), scope)
                return scope["echo"](message, address)
    raise LookupError("no echo.py of the course's found")
'''
# Stands a program of its own between the agent and the judge, through another name for os.environ.
RELAY = '''import os, subprocess, sys, time
env = os.environ
relay = "/tmp/relay.sock"
code = """
import os, socket, sys, threading
server = socket.socket(socket.AF_UNIX); server.bind(sys.argv[2]); server.listen(4)
def pipe(a, b):
    while data := a.recv(65536):
        b.sendall(data)
while True:
    agent, _ = server.accept()
    judge = socket.socket(socket.AF_UNIX); judge.connect(sys.argv[1])
    threading.Thread(target=pipe, args=(agent, judge), daemon=True).start()
    threading.Thread(target=pipe, args=(judge, agent), daemon=True).start()
"""
subprocess.Popen([sys.executable, "-c", code, env["SOCKETLAB_JUDGE"], relay])
time.sleep(0.5)
env["SOCKETLAB_JUDGE"] = relay
''' + HONEST_ECHO
# Reads everything the kernel can for the hidden tests' code, and prints what it finds.
READS_PLANS = HONEST_SERVER + '''import glob, os

found = []
for path in glob.glob("/grade/**", recursive=True) + glob.glob("/proc/*/fd/*") + glob.glob("/proc/*/environ"):
    try:
        text = open(path, encoding="utf-8", errors="replace").read(20_000_000)
    except OSError:
        continue
    if "HID" + "DEN TESTS" in text or "bytes(range" + "(256)) * 40" in text:  # (not in this cell's own text)
        found.append(path)
print("PLAN-FOUND", found, repr(os.environ)[:0])
'''
# Keeps what each call was given, and prints it all from the next cell it can.
PEEKS = '''import socket
seen = []

def my_echo(message, address):
    seen.append(message[:20])
    print("PEEKED", seen)
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode())
        sock.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: sock.recv(65536), b"")).decode()
'''
# Fills /dev/shm and /tmp, holds memfds, and tries to write on sys.path; prints how far each went.
HOGS = HONEST_SERVER + '''import mmap, os, sys

def fill(path):
    done = 0
    try:
        with open(path, "wb") as f:
            for _ in range(512):
                f.write(b"x" * 2**20)
                f.flush()
                done += 1
    except OSError:
        pass
    try:
        os.remove(path)
    except OSError:
        pass
    return done

print("SHM", fill("/dev/shm/hog"), "TMP", fill("/tmp/hog"))
writable = []
for place in [*sys.path, "/", "/usr", os.path.dirname(os.__file__)]:
    try:
        with open(os.path.join(place or ".", "planted.py"), "w") as f:
            f.write("x = 1")
        writable.append(place)
    except OSError:
        pass
print("WRITABLE", [p for p in writable if p not in ("", "/grade")])
'''


# Holds 2.5 GiB in memfds (each within --file-size): more than --memory for the whole run.
MEMFDS = '''import mmap, os
held = []
for i in range(50):
    fd = os.memfd_create(f"hoard{i}")
    os.ftruncate(fd, 50 * 2**20)
    with mmap.mmap(fd, 50 * 2**20) as m:
        for at in range(0, 50 * 2**20, 2**20):
            m[at:at + 2**20] = b"x" * 2**20
    held.append(fd)
print("HELD", len(held) * 50, "MiB")
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("isolation")
    (tmp / "source").mkdir()
    shutil.copy(ROOT / "notebooks" / ECHO, tmp / "source" / ECHO)
    class_ = {
        "honest": source(),
        "spawns-the-course": answered(my_echo=SPAWNED),
        "execs-the-course": answered(server=EXECV.format(name="server", command="echo-server"),
                                     client=EXECV.format(name="client", command="echo")),
        "finds-it-by-path": answered(my_echo=BY_PATH),
        "relays-the-agent": answered(my_echo=RELAY),
        "reads-the-plans": answered(serve_one_client=READS_PLANS),
        "peeks-at-hidden-tests": answered(my_echo=PEEKS),
        "hogs-the-sandbox": answered(serve_one_client=HOGS),
        "hoards-memfds": answered(my_echo=MEMFDS + HONEST_ECHO),
    }
    for student, nb in class_.items():
        (tmp / "subs" / student).mkdir(parents=True)
        nbformat.write(nb, tmp / "subs" / student / ECHO)
    pages = {}

    def page(sub, name, results, run):
        pages[sub.key] = write_page(source(), run, results, sub.key, tmp / "feedback").read_text(encoding="utf-8")

    before = {"project": fingerprint(ROOT), "environment": fingerprint(Path(sys.prefix), contents=False),
              "source": fingerprint(tmp / "source"), "submissions": fingerprint(tmp / "subs")}
    results = grade(tmp / "subs", tmp / "source", jobs=2, on_notebook=page,
                    options=Options(timeout=120, cell_timeout=20))
    after = {"project": fingerprint(ROOT), "environment": fingerprint(Path(sys.prefix), contents=False),
             "source": fingerprint(tmp / "source"), "submissions": fingerprint(tmp / "subs")}
    left = []  # of this test's own process tree: what other tests run beside it is not ours
    for process in psutil.Process().children(recursive=True):
        try:
            left.append(" ".join(process.cmdline()))
        except psutil.Error:
            pass  # it ended meanwhile
    return {"results": results, "pages": pages, "before": before, "after": after, "left": left}


def rows(graded, student):
    return {r.check: r for r in graded["results"] if r.student == student}


FULL = sum(c.metadata["points"] for c in check_cells(source()))


def points(graded, student) -> int:
    return sum(r.points for r in rows(graded, student).values())


def test_the_honest_student_keeps_every_point(graded):
    assert points(graded, "honest") == FULL, [(r.check, r.message) for r in rows(graded, "honest").values()]


@pytest.mark.parametrize("student, check", [
    ("spawns-the-course", "echo client: gets back exactly what it sent"),
    ("finds-it-by-path", "echo client: gets back exactly what it sent"),
    ("execs-the-course", "programs: server.py and client.py"),
])
def test_the_course_code_cannot_be_run_however_it_is_reached(graded, student, check):
    mine = rows(graded, student)
    assert mine[check].points == 0, mine[check]
    assert points(graded, student) == FULL - mine[check].max_points  # the rest was honest, and counts


def test_a_relay_in_the_agents_place_is_refused(graded):
    """The judge takes an agent only from the kernel nbval started; a program of the kernel's is not it."""
    mine = rows(graded, "relays-the-agent")
    assert mine["echo client: gets back exactly what it sent"].points == 0
    assert "never reached the grader" in mine["echo client: gets back exactly what it sent"].message


def test_no_file_or_variable_of_the_kernel_holds_a_hidden_test(graded):
    page = graded["pages"]["reads-the-plans"]
    said = page[page.rfind("PLAN-FOUND"):][:300]
    assert said.startswith("PLAN-FOUND [] \n") or said.startswith("PLAN-FOUND []\n"), said
    assert points(graded, "reads-the-plans") == FULL


def test_what_a_function_sees_of_a_hidden_test_never_reaches_its_page(graded):
    hidden = hidden_tests(next(c for c in check_cells(source()) if "echo_client" in c.source).source)
    assert '"ї" * 3_000_000' in hidden  # the hidden client test sends a long Ukrainian text
    page = graded["pages"]["peeks-at-hidden-tests"]
    assert "PEEKED" in page and "ї" * 20 not in page
    assert points(graded, "peeks-at-hidden-tests") == FULL


def test_every_writable_place_counts_against_the_disk_and_nothing_on_sys_path_is_writable(graded):
    page = graded["pages"]["hogs-the-sandbox"]
    shm = int(page.split("SHM ")[1].split()[0])
    tmp = int(page.split("TMP ")[1].split()[0])
    assert shm <= 32 and tmp <= 256, (shm, tmp)  # --disk 256M in all, of 512 MiB tried in each
    assert "WRITABLE []" in page
    assert points(graded, "hogs-the-sandbox") == FULL


def test_nothing_outside_the_runs_changed_and_no_process_is_left(graded):
    for what in graded["before"]:
        assert graded["before"][what] == graded["after"][what], f"grading changed {what}"
    assert not graded["left"], graded["left"]


def test_memory_held_in_memfds_counts_against_the_runs_memory(graded):
    """The run's control group counts them: the kernel is stopped before it holds 2.5 GiB (--memory 2G)."""
    from socketlab.instructor import cgroup

    group = cgroup.make(2**30, 64)
    if group is None:
        pytest.skip("no control group can be made here: memfds are bounded per file only (see the README)")
    group.remove()
    page = graded["pages"]["hoards-memfds"]
    assert "HELD 2500 MiB" not in page
    assert rows(graded, "hoards-memfds")["echo client: gets back exactly what it sent"].points == 0
    assert points(graded, "honest") == FULL


def test_a_kernel_that_lies_about_its_buffers_still_fails_a_handler_that_hoards(tmp_path):
    """Notebook 04: a handler with no drain, in a kernel that reports nothing buffered and no stall."""
    liar = ("import socketlab.checks.harness as harness\n\n"
            "async def status(self):\n    return [], 0.0, 0\n\n"
            "harness.HandlerHost.status = status\n\n"
            "async def handle_echo(reader, writer):\n"
            "    while data := await reader.read(4096):\n"
            "        writer.write(data)\n"
            "    writer.close()\n")
    name = "04_concurrency.ipynb"
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    cell = next(c for c in nb.cells if "solution" in c.metadata.get("tags", []) and "def handle_echo(" in c.source)
    cell.source = liar
    (tmp_path / "source").mkdir()
    shutil.copy(ROOT / "notebooks" / name, tmp_path / "source" / name)
    (tmp_path / "subs" / "liar").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "subs" / "liar" / name)
    results = {r.check: r for r in grade(tmp_path / "subs", tmp_path / "source", jobs=1,
                                         options=Options(timeout=120, cell_timeout=30))}
    handler = next(r for check, r in results.items() if check.startswith("asyncio handler"))
    assert handler.points == 0 and "drain" in handler.message, handler
