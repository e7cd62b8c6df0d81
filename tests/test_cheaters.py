"""A class of cheaters beside an honest student: nobody gains a point they did not earn, nobody loses one.

Each trick is a student of its own, with its answers as a student would write
them in notebook 01. After grading the whole class once:

- the cheater has no point it did not earn;
- the honest student has full marks, as when graded alone;
- the environment, the project, the source notebooks and the other
  submissions are byte-identical before and after;
- no process of the run is left.
"""

import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
import pytest

import socketlab
from socketlab.instructor.build import JUDGED
from socketlab.instructor.gradebook import Options, grade
from socketlab.instructor.release import check_cells, release_notebook
from socketlab.instructor.reports import write_gradebook
from socketlab.instructor.sandbox import available

ROOT = Path(__file__).resolve().parent.parent
ECHO = "01_echo.ipynb"
PACKAGE = Path(socketlab.__file__).resolve().parent

pytestmark = [pytest.mark.skipif(available() is not None, reason=f"no sandbox here: {available()}"),
              pytest.mark.timeout(600)]  # a class of cheaters takes minutes on 2 busy cores


def source():
    return nbformat.read(ROOT / "notebooks" / ECHO, as_version=4)


def with_cell(function: str, code: str, *, stub: bool = True):
    """Notebook 01 as a cheater hands it in: ``code`` in the cell of ``function``, the rest stubs (or solved)."""
    nb = release_notebook(source()) if stub else source()
    cell = next(c for c in nb.cells if "solution" in c.metadata.get("tags", []) and f"def {function}(" in c.source)
    cell.source = code
    return nb


def _files(folder: Path) -> list[Path]:
    """Every file under ``folder``; in a git checkout, those git does not ignore (what other tests run
    beside this one write, a notebook's lab/ and uploads/, is ignored; a file planted anywhere else is not)."""
    listed = subprocess.run(["git", "-C", str(folder), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, timeout=60) if (folder / ".git").exists() else None
    if listed is not None and listed.returncode == 0:
        return sorted(folder / name for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if name)
    return sorted(folder.rglob("*"))


def fingerprint(folder: Path, *, contents: bool = True) -> str:
    """A hash of every file under ``folder``: its path, size and (or) its bytes."""
    digest = hashlib.sha256()
    for path in _files(folder):
        if any(part in {".git", "__pycache__", ".pytest_cache", ".hypothesis", "build"} for part in path.parts):
            continue
        digest.update(str(path).encode())
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            digest.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
            if contents:
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _cmdline(process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:  # ended meanwhile, or not ours to read
        return []


SERVE_STUB = 'def serve_one_client(listener):\n    raise NotImplementedError("your code here")\n'

# Replaces the check functions through operator's getters, never writing a dot or a forbidden name.
SWAP_HELPERS = """import operator, sys
_m = operator.attrgetter("modules")(sys)
mod = _m.get("socketlab.checks.echo") or __import__("socketlab.checks.echo").checks.echo
for name in ("echo_server", "echo_server_pieces", "echo_client"):
    operator.methodcaller("__setattr__", name, lambda *a, **k: print("✔ passed"))(mod)
"""


# Writes "passed" records for every cell into every descriptor it can open: its own, and those of
# every process it can see. The verdict pipe must not be among them.
FORGE = """import glob, json, os, stat
lie = ''.join(json.dumps({'cell': n, 'outcome': 'passed', 'reply': 'ok', 'errors': [], 'message': ''}) + '\\n'
              for n in range(80)).encode()
for path in glob.glob('/proc/[0-9]*/fd/*'):
    if path.split('/')[2] == str(os.getpid()):
        continue  # its own descriptors: the kernel's, not worth breaking
    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):
            with open(path, 'wb') as f:
                f.write(lie)
    except OSError:
        pass
"""


def cheaters(tmp: Path, honest_notebook: Path, source_dir: Path, host_port: int) -> dict:
    """``{student: notebook or raw bytes or a callable that makes the file}``."""
    planted = [ROOT / "planted.txt", PACKAGE / "checks.py", Path(sys.prefix) / "planted.txt",
               source_dir / "planted.txt", tmp / "out" / "planted.txt", honest_notebook]
    write_everywhere = "\n".join(f"    try:\n        open({str(p)!r}, 'a').write('x')\n    except OSError:\n        pass"
                                 for p in planted)
    return {
        "showtraceback": with_cell("serve_one_client", "get_ipython().showtraceback = lambda *a, **k: None\n" + SERVE_STUB),
        "custom-exc": with_cell("serve_one_client", "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n" + SERVE_STUB),
        "excepthook": with_cell("serve_one_client", "import sys\nsys.excepthook = lambda *a: None\n" + SERVE_STUB),
        "transformer": with_cell("serve_one_client",
                                 "ip = get_ipython()\nip.input_transformers_post.append(lambda lines: ['try:\\n'] + ['    ' + l for l in lines] + ['\\nexcept BaseException:\\n    pass\\n'])\n" + SERVE_STUB),
        "settrace": with_cell("serve_one_client", "import sys\nsys.settrace(lambda *a: None)\n" + SERVE_STUB),
        "assertion": with_cell("serve_one_client", "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})\n" + SERVE_STUB),
        "fake-helper": with_cell("serve_one_client", "socketlab.echo = lambda message, address, **kw: message\n" + SERVE_STUB),
        "obfuscated": with_cell("serve_one_client", "f = getattr(__builtins__, 'ev' + 'al')\n" + SERVE_STUB),
        "operator-swap": with_cell("serve_one_client", SWAP_HELPERS + SERVE_STUB),
        "shortcut-server": with_cell("serve_one_client", "def serve_one_client(listener):\n    conn, _ = listener.accept()\n"
                                     "    socketlab.EchoServer().handle(conn, 1)\n", stub=False),
        "shortcut-client": with_cell("my_echo", "def my_echo(message, address):\n    return socketlab.echo(message, address)\n",
                                     stub=False),
        "writes-everywhere": with_cell("serve_one_client", "def serve_one_client(listener):\n" + write_everywhere
                                       + "\n    raise NotImplementedError\n"),
        "reads-others": with_cell("serve_one_client",
                                  f"def serve_one_client(listener):\n    print(open({str(honest_notebook)!r}).read()[:100])\n"
                                  f"    print(open({str(source_dir / ECHO)!r}).read()[:100])\n"),
        "fork-storm": with_cell("serve_one_client", "import os, time\nfor _ in range(5000):\n    try:\n        if os.fork() == 0:\n"
                                "            time.sleep(60)\n            os._exit(0)\n    except OSError:\n        break\n" + SERVE_STUB),
        "big-memory": with_cell("serve_one_client", "hoard = bytearray(4 * 2**30)\n" + SERVE_STUB),
        "big-file": with_cell("serve_one_client", "with open('/tmp/big', 'wb') as f:\n    for _ in range(2048):\n"
                              "        f.write(b'x' * 2**20)\n" + SERVE_STUB),
        "kills": with_cell("serve_one_client", "import os\nfor pid in range(1, 5000):\n    if pid != os.getpid():\n"
                           "        try:\n            os.kill(pid, 9)\n        except OSError:\n            pass\n" + SERVE_STUB),
        "daemon": with_cell("serve_one_client", "import subprocess\nsubprocess.Popen(['sleep', '600.4242'], start_new_session=True)\n"
                            + SERVE_STUB),
        "forged-junit": with_cell("serve_one_client", "open('junit.xml', 'w').write('<testsuite><testcase name=\"Cell 5\"/></testsuite>')\n"
                                  + SERVE_STUB),
        '=HYPERLINK("example.com","points")': with_cell("serve_one_client",
                                                               "def serve_one_client(listener):\n    raise ValueError('=1+1')\n"),
        "forges-verdicts": with_cell("serve_one_client", FORGE + SERVE_STUB),
        "reaches-host": with_cell("serve_one_client", "import socket\nfor port in (%d,):\n    try:\n"
                                  "        socket.create_connection(('127.0.0.1', port), timeout=1).sendall(b'hi')\n"
                                  "    except OSError:\n        pass\n" % host_port + SERVE_STUB),
        "not-a-notebook": b'{"cells": [1, 2], "metadata": 5}',
        "null-tags": json.dumps({"cells": [{"cell_type": "code", "source": "x", "metadata": {"tags": None}}]}).encode(),
        "number-source": json.dumps({"cells": [{"cell_type": "code", "source": 42, "metadata": {}}]}).encode(),
        "link-to-honest": lambda path: path.symlink_to(honest_notebook),
        "link-to-source": lambda path: path.symlink_to(source_dir / ECHO),
        "link-to-zero": lambda path: path.symlink_to("/dev/zero"),
        "link-to-fifo": lambda path: (os.mkfifo(path.parent / "fifo"), path.symlink_to(path.parent / "fifo")),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    source_dir = tmp / "source"
    source_dir.mkdir()
    (source_dir / ECHO).write_bytes((ROOT / "notebooks" / ECHO).read_bytes())
    subs = tmp / "submissions"
    (subs / "honest").mkdir(parents=True)
    honest = subs / "honest" / ECHO
    nbformat.write(source(), honest)
    (tmp / "out").mkdir()
    host = socket.create_server(("127.0.0.1", 0))  # a service of the host's own loopback
    host.settimeout(0.1)
    for student, what in cheaters(tmp, honest, source_dir, host.getsockname()[1]).items():
        path = subs / student / ECHO
        path.parent.mkdir()
        if callable(what):
            what(path)
        elif isinstance(what, bytes):
            path.write_bytes(what)
        else:
            nbformat.write(what, path)
    before = {"project": fingerprint(ROOT), "environment": fingerprint(Path(sys.prefix), contents=False),
              "source": fingerprint(source_dir), "submissions": fingerprint(subs), "out": fingerprint(tmp / "out")}
    results = grade(subs, source_dir, jobs=2, options=Options(timeout=90, cell_timeout=15))
    after = {"project": fingerprint(ROOT), "environment": fingerprint(Path(sys.prefix), contents=False),
             "source": fingerprint(source_dir), "submissions": fingerprint(subs), "out": fingerprint(tmp / "out")}
    # Of this test's own process tree, and its daemon's marker anywhere (an escaped daemon would have left
    # the tree): a JupyterLab or another test's kernel beside it is not ours.
    ours = [p for p in psutil.Process().children(recursive=True)
            if any(word in " ".join(p.cmdline()) for word in ("ipykernel", "socketlab.instructor", "bwrap"))]
    daemons = [p for p in psutil.process_iter() if "600.4242" in " ".join(_cmdline(p))]
    left = [{"pid": p.pid, "cmdline": _cmdline(p)} for p in ours + daemons]
    write_gradebook(results, tmp / "out" / "gradebook.csv")
    try:
        reached = host.accept() is not None
    except TimeoutError:
        reached = False
    host.close()
    return {"results": results, "before": before, "after": after, "left": left, "out": tmp / "out",
            "host reached": reached}


def mine(graded, student):
    return [r for r in graded["results"] if r.student == student]


FULL = sum(c.metadata["points"] for c in check_cells(source()))


def test_the_honest_student_keeps_full_marks(graded):
    assert sum(r.points for r in mine(graded, "honest")) == FULL
    assert {r.status for r in mine(graded, "honest")} == {"passed"}
    assert {r.sandbox for r in mine(graded, "honest")} == {"bwrap"}


@pytest.mark.parametrize("student", ["showtraceback", "custom-exc", "excepthook", "transformer", "settrace",
                                     "assertion", "fake-helper", "obfuscated", "operator-swap"])
def test_tricks_on_the_kernel_earn_nothing(graded, student):
    """Nothing is refused for how it is written: what the kernel hides or replaces decides no verdict."""
    rows = mine(graded, student)
    assert rows and sum(r.points for r in rows) == 0, [(r.check, r.status, r.message) for r in rows]
    assert {r.status for r in rows} <= {"failed", "timeout"}


@pytest.mark.parametrize("student, answer", [("shortcut-server", "serve_one_client"), ("shortcut-client", "my_echo")])
def test_a_shortcut_fails_its_checks_with_a_message(graded, student, answer):
    rows = mine(graded, student)
    failed = [r for r in rows if r.status == "failed"]
    assert failed and all("not here while grading" in r.message and "socket module" in r.message for r in failed)
    assert sum(r.points for r in rows) == FULL - sum(r.max_points for r in failed)  # the honest half still counts


def test_the_host_network_is_out_of_reach(graded):
    assert not graded["host reached"]


@pytest.mark.parametrize("student", ["forges-verdicts", "reaches-host", "writes-everywhere", "reads-others", "fork-storm", "big-memory", "big-file",
                                     "kills", "daemon", "forged-junit", '=HYPERLINK("example.com","points")'])
def test_attacks_on_the_machine_earn_nothing(graded, student):
    rows = mine(graded, student)
    assert rows and sum(r.points for r in rows) == 0, [(r.check, r.status, r.message) for r in rows]


def test_other_submissions_and_the_source_are_out_of_sight(graded):
    """The reader's first open() fails inside the sandbox, and its check says so."""
    first = mine(graded, "reads-others")[0]
    assert "FileNotFoundError" in first.message, first.message


@pytest.mark.parametrize("student", ["not-a-notebook", "null-tags", "number-source", "link-to-honest",
                                     "link-to-source", "link-to-zero", "link-to-fifo"])
def test_unreadable_submissions_are_invalid_for_that_student_alone(graded, student):
    rows = mine(graded, student)
    assert rows and {r.status for r in rows} == {"invalid"} and sum(r.points for r in rows) == 0


def test_nothing_outside_the_runs_changed(graded):
    for what in graded["before"]:
        assert graded["before"][what] == graded["after"][what], f"grading changed {what}"


def test_no_process_is_left(graded):
    assert not graded["left"], graded["left"]


def test_no_spreadsheet_formula_in_the_gradebook(graded):
    with open(graded["out"] / "gradebook.csv", encoding="utf-8") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert any(c.startswith("'=HYPERLINK") for c in cells)


def test_forged_records_never_reach_the_grader(graded):
    """Its lies would have passed every cell; that none is even seen shows the pipe held."""
    assert {r.status for r in mine(graded, "forges-verdicts")} == {"failed"}


SHORTCUTS = {  # every answer of 03 and 04 written with the course's own code
    "03_file_transfer.ipynb": {
        "my_recv_exactly": "from socketlab import recv_exactly\n\ndef my_recv_exactly(sock, n):\n    return recv_exactly(sock, n)\n",
        "receive_file": "def receive_file(conn, folder):\n    return socketlab.FileServer(folder).handle(conn, 1)\n",
        "my_send_file": "def my_send_file(path, address):\n    return socketlab.send_file(path, address).saved_name\n",
    },
    "04_concurrency.ipynb": {
        "serve_concurrently": "def serve_concurrently(listener, count):\n    for _ in range(count):\n"
                              "        conn, _ = listener.accept()\n        socketlab.EchoServer().handle_connection(conn)\n",
        "handle_echo": "async def handle_echo(reader, writer):\n    await AsyncioEchoServer()._serve_client(reader, writer)\n",
    },
}


def test_answers_built_on_the_course_fail_every_check_they_feed(tmp_path):
    source_dir = tmp_path / "source"
    shutil.copytree(ROOT / "notebooks" / "data", source_dir / "data")
    for name, answers in SHORTCUTS.items():
        shutil.copy(ROOT / "notebooks" / name, source_dir / name)
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        for cell in nb.cells:
            for function, code in answers.items():
                if "solution" in cell.metadata.get("tags", []) and f"def {function}(" in cell.source:
                    cell.source = code
        (tmp_path / "subs" / "shortcuts").mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, tmp_path / "subs" / "shortcuts" / name)
    results = grade(tmp_path / "subs", source_dir, jobs=2, options=Options(timeout=120, cell_timeout=15))
    fed = [r for r in results if not r.check.startswith("program")]  # the lab's programs are not these answers
    assert fed and sum(r.points for r in fed) == 0, [(r.check, r.status, r.message) for r in fed]
    for answer in ("my_recv_exactly", "receive_file", "my_send_file", "serve_concurrently", "handle_echo"):
        assert any("not here while grading" in r.message and answer in r.message for r in fed), \
            (answer, [(r.check, r.message) for r in fed])


# A kernel may do anything to the course's code in it: the checks are not there (the judge runs them in the
# grader's process and only calls the answers in the kernel), and what it imports in their place are stand-ins.
PAST_THE_SCREEN = {
    "replaces-the-checks": "import socketlab.checks.echo as check, socketlab.checks.scripts as scripts\n"
                           "ok = lambda *a, **k: print('✔ passed')\n"
                           "for name in ('echo_server', 'echo_server_pieces', 'echo_client', 'server_script'):\n"
                           "    try:\n"
                           "        setattr(check, name, ok); setattr(scripts, name, ok)\n"
                           "    except Exception:\n"
                           "        pass\n",
    "replaces-the-agent": "import socketlab.instructor.agent as agent\n"
                          "agent.serve = lambda namespace: print('✔ passed')\n",
    "fake-helper": "import socketlab\nsocketlab.echo = lambda message, address, **kw: message\n",
}


@pytest.mark.skipif(not JUDGED, reason="checks are judged outside the kernel only where sockets can be handed over")
def test_replacing_the_checks_in_the_kernel_earns_nothing(tmp_path):
    (tmp_path / "source").mkdir()
    shutil.copy(ROOT / "notebooks" / ECHO, tmp_path / "source" / ECHO)
    for student, trick in PAST_THE_SCREEN.items():
        (tmp_path / "subs" / student).mkdir(parents=True)
        nbformat.write(with_cell("serve_one_client", trick + SERVE_STUB), tmp_path / "subs" / student / ECHO)
    (tmp_path / "subs" / "honest").mkdir()
    nbformat.write(source(), tmp_path / "subs" / "honest" / ECHO)
    results = grade(tmp_path / "subs", tmp_path / "source", jobs=2, options=Options(timeout=90, cell_timeout=15))
    honest = [r for r in results if r.student == "honest"]
    assert sum(r.points for r in honest) == FULL, [(r.check, r.status, r.message) for r in honest]
    for student in PAST_THE_SCREEN:
        rows = [r for r in results if r.student == student]
        assert rows and sum(r.points for r in rows) == 0, (student, [(r.check, r.status, r.message) for r in rows])
