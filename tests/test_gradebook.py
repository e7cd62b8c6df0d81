"""Grading a mixed class: right grades for everyone, whatever one submission does."""

import csv
import json
import shutil
from pathlib import Path

import nbformat
import psutil
import pytest

from socketlab.instructor.gradebook import Options, grade
from socketlab.instructor.reports import COLUMNS, summary_table, write_feedback, write_gradebook
from socketlab.instructor.sandbox import available
from socketlab.instructor.release import check_cells, release_notebook

SOURCE = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = sorted(p.name for p in SOURCE.glob("*.ipynb"))
ECHO, MANY, FILES = NAMES[:3]


def source(name):
    return nbformat.read(SOURCE / name, as_version=4)


def max_points(name):
    return sum(c.metadata["points"] for c in check_cells(source(name)))


def solution_cell(nb, function):
    return next(c for c in nb.cells if "solution" in c.metadata.get("tags", []) and f"def {function}(" in c.source)


def save(folder, nb, name):
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    subs = tmp_path_factory.mktemp("submissions")
    for name in NAMES:
        save(subs / "solution", source(name), name)
        save(subs / "stub", release_notebook(source(name)), name)

    save(subs / "missing", source(ECHO), ECHO)  # handed in one notebook of three
    (subs / "broken").mkdir()
    (subs / "broken" / ECHO).write_text("{ this is not json")

    nb = source(ECHO)  # an infinite loop in one exercise: only that exercise's check is lost
    cell = solution_cell(nb, "my_echo")
    cell.source = "while True:\n    pass\n" + cell.source
    save(subs / "loop", nb, ECHO)

    nb = source(MANY)  # the kernel dies
    solution_cell(nb, "serve_clients").source += "\nimport os\nos._exit(1)\n"
    save(subs / "dies", nb, MANY)

    nb = source(ECHO)  # leaves a server running, on a fixed port, and a thread that never ends
    solution_cell(nb, "my_echo").source += (
        "\nimport socket, threading\n"
        "left = socket.create_server(('127.0.0.1', 65432))\n"
        "threading.Thread(target=lambda: left.accept()).start()\n"
        "threading.Thread(target=threading.Event().wait).start()\n")
    save(subs / "leaves-server", nb, ECHO)

    for student in ("port-a", "port-b"):  # both hold 127.0.0.1:65000 while their checks run
        nb = source(ECHO)
        cell = solution_cell(nb, "serve_one_client")
        cell.source = "import socket\nhog = socket.create_server(('127.0.0.1', 65000))\n" + cell.source
        save(subs / student, nb, ECHO)

    nb = release_notebook(source(ECHO))  # stubs, with the checks edited to pass and worth more
    for cell in check_cells(nb):
        cell.source = "assert True"
        cell.metadata["points"] = 100
    save(subs / "edits-checks", nb, ECHO)

    nb = source(ECHO)  # a correct notebook whose check cells were deleted
    nb.cells = [c for c in nb.cells if "check" not in c.metadata.get("tags", [])]
    save(subs / "deletes-checks", nb, ECHO)

    nb = release_notebook(source(ECHO))  # stubs, trying to make nbval skip or excuse the checks
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = "# NBVAL_SKIP\n# NBVAL_RAISES_EXCEPTION\n" + cell.source
            cell.metadata["tags"] = cell.metadata.get("tags", []) + ["nbval-skip", "raises-exception"]
    save(subs / "nbval-markers", nb, ECHO)

    nb = source(ECHO)  # correct, with a marker that would skip its own solution if it were kept
    solution_cell(nb, "my_echo").source = "# NBVAL_SKIP\n" + solution_cell(nb, "my_echo").source
    save(subs / "marker-on-solution", nb, ECHO)

    nb = json.loads((SOURCE / ECHO).read_text())  # correct, from an older format with no cell ids
    nb["nbformat_minor"] = 4
    for cell in nb["cells"]:
        cell.pop("id", None)
    (subs / "no-ids").mkdir()
    (subs / "no-ids" / ECHO).write_text(json.dumps(nb))

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    found = grade(subs, SOURCE, jobs=2, options=Options(timeout=120, cell_timeout=4))
    after = {p.pid for p in psutil.Process().children(recursive=True)}
    assert after <= before, "grading left processes running"
    return found


def points(results, student, notebook=None):
    return sum(r.points for r in results if r.student == student and notebook in (None, r.notebook))


def statuses(results, student, notebook):
    return {r.check: r.status for r in results if r.student == student and r.notebook == notebook}


def test_solutions_score_full_points(results):
    total = sum(max_points(n) for n in NAMES)
    assert points(results, "solution") == total
    assert set(statuses(results, "solution", FILES).values()) == {"passed"}


def test_stubs_score_zero_on_every_check(results):
    mine = [r for r in results if r.student == "stub"]
    assert len(mine) == sum(len(check_cells(source(n))) for n in NAMES)
    assert all(r.points == 0 and r.status == "failed" for r in mine)
    assert any("NotImplementedError" in r.message for r in mine)


def test_missing_and_broken_notebooks(results):
    assert points(results, "missing", ECHO) == max_points(ECHO)
    assert set(statuses(results, "missing", MANY).values()) == {"missing"}
    assert set(statuses(results, "broken", ECHO).values()) == {"invalid"}
    assert points(results, "broken") == 0


def test_infinite_loop_costs_only_its_own_check(results):
    got = statuses(results, "loop", ECHO)
    assert got["echo client: gets back exactly what it sent"] != "passed"
    assert got["echo server: short, empty and large messages"] == "passed"
    assert points(results, "loop", ECHO) == max_points(ECHO) - 2


def test_a_dying_kernel_scores_zero_for_what_never_ran(results):
    mine = [r for r in results if r.student == "dies"]
    assert mine and all(r.points == 0 for r in mine if r.notebook == MANY)


def test_a_server_left_running_is_graded_and_stopped(results):
    assert points(results, "leaves-server", ECHO) == max_points(ECHO)


def test_two_students_on_the_same_fixed_port_both_pass(results):
    assert points(results, "port-a", ECHO) == max_points(ECHO)
    assert points(results, "port-b", ECHO) == max_points(ECHO)


def test_checks_and_points_always_come_from_the_source(results):
    assert points(results, "edits-checks") == 0
    assert {r.max_points for r in results if r.student == "edits-checks" and r.notebook == ECHO} <= {1, 2}
    assert points(results, "deletes-checks", ECHO) == max_points(ECHO)
    assert points(results, "nbval-markers") == 0
    assert set(statuses(results, "nbval-markers", ECHO).values()) == {"failed"}


def test_nbval_markers_in_student_code_are_ignored(results):
    assert points(results, "marker-on-solution", ECHO) == max_points(ECHO)


def test_cells_are_matched_by_order_without_ids(results):
    assert points(results, "no-ids", ECHO) == max_points(ECHO)


def test_gradebook_feedback_and_summary(results, tmp_path):
    path = tmp_path / "out" / "gradebook.csv"
    write_gradebook(results, path)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert list(rows[0]) == COLUMNS
    assert len(rows) == len(results)
    solution = [r for r in rows if r["student"] == "solution"]
    assert sum(int(r["points"]) for r in solution) == sum(int(r["max_points"]) for r in solution)
    table = summary_table(results)
    total = sum(max_points(n) for n in NAMES)
    assert any(line.startswith("solution") and line.endswith(f"{total}/{total}") for line in table.splitlines())
    assert any(line.startswith("stub") and line.endswith(f"0/{total}") for line in table.splitlines())
    files = write_feedback(results, tmp_path / "feedback")
    stub = (tmp_path / "feedback" / "stub.md").read_text(encoding="utf-8")
    assert "✘" in stub and "NotImplementedError" in stub and f"0 of {total} points" in stub
    assert len(files) == len({r.student for r in results})


def test_hidden_tests_are_named_but_not_shown(tmp_path):
    """A client that stops reading after 4 MB passes the visible check only."""
    nb = source(ECHO)
    solution_cell(nb, "my_echo").source = (
        "def my_echo(message, address):\n"
        "    with socket.create_connection(address, timeout=5) as sock:\n"
        "        sock.sendall(message.encode())\n"
        "        sock.shutdown(socket.SHUT_WR)\n"
        "        data = b''\n"
        "        while len(data) < 4_000_000 and (chunk := sock.recv(65536)):\n"
        "            data += chunk\n"
        "    return data.decode(errors='replace')\n")
    save(tmp_path / "subs" / "faker", nb, ECHO)
    found = [r for r in grade(tmp_path / "subs", SOURCE, jobs=1, options=Options(timeout=60, cell_timeout=10))
             if r.notebook == ECHO]
    faked = next(r for r in found if r.check == "echo client: gets back exactly what it sent")
    assert faked.points == 0 and faked.hidden
    write_gradebook(found, tmp_path / "gradebook.csv")
    write_feedback(found, tmp_path / "feedback")
    assert "3000000" not in (tmp_path / "gradebook.csv").read_text(encoding="utf-8")
    feedback = (tmp_path / "feedback" / "faker.md").read_text(encoding="utf-8")
    assert "hidden tests failed" in feedback and "3000000" not in feedback


def test_the_sandbox_is_available_here():
    if not shutil.which("bwrap"):
        pytest.skip("bubblewrap is not installed: grading runs one notebook at a time, without a sandbox")
    assert available() is None, f"bwrap is installed but makes no sandbox: {available()}"


@pytest.fixture
def no_sandbox(monkeypatch):
    """Grading as where bubblewrap is missing; the cached answer is dropped before and after."""
    monkeypatch.setenv("SOCKETLAB_NO_SANDBOX", "1")
    available.cache_clear()
    yield
    monkeypatch.delenv("SOCKETLAB_NO_SANDBOX")
    available.cache_clear()


def test_without_a_sandbox_grading_says_so_and_goes_one_at_a_time(tmp_path, no_sandbox):
    save(tmp_path / "subs" / "solution", source(ECHO), ECHO)
    found = [r for r in grade(tmp_path / "subs", SOURCE, jobs=4, options=Options(timeout=60, cell_timeout=10))
             if r.notebook == ECHO]
    assert sum(r.points for r in found) == max_points(ECHO)
    assert all(r.sandbox.startswith("none") for r in found)


def test_where_no_descriptor_reaches_a_child_the_verdicts_come_by_file(tmp_path, monkeypatch, no_sandbox):
    """Windows, simulated: no pass_fds (subprocess refuses it there), no sandbox, no judge (no socket
    passes between processes there): the checks run in the kernel."""
    import functools
    import subprocess

    from socketlab.instructor import gradebook
    from socketlab.instructor.build import build_graded_notebook

    monkeypatch.setattr(gradebook, "build_graded_notebook", functools.partial(build_graded_notebook, judged=False))

    real_popen = subprocess.Popen

    def popen_as_on_windows(*args, pass_fds=(), **kwargs):
        assert not pass_fds, "pass_fds not supported on Windows."  # subprocess's own words there
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(gradebook, "PASSES_FDS", False)
    monkeypatch.setattr(subprocess, "Popen", popen_as_on_windows)
    save(tmp_path / "subs" / "solution", source(ECHO), ECHO)
    found = grade(tmp_path / "subs", SOURCE, jobs=1, options=Options(timeout=60, cell_timeout=10))
    assert sum(r.points for r in found if r.notebook == ECHO) == max_points(ECHO)


@pytest.mark.parametrize("record, verdict", [
    ({"cell": 3, "outcome": "passed", "reply": "ok", "errors": []}, "passed"),
    ({"cell": 3, "outcome": "passed", "reply": "error", "errors": []}, "failed"),  # the reply counts
    ({"cell": 3, "outcome": "passed", "reply": "ok", "errors": [{"ename": "AssertionError", "evalue": "✘"}]},
     "failed"),  # so do errors
    ({"cell": 3, "outcome": "passed"}, "failed"),  # no reply at all: not a pass
], ids=["ok", "reply-error", "error-shown", "no-reply"])
def test_a_cell_passes_only_with_an_ok_reply_and_no_error_shown(record, verdict):
    """Where the kernel judges its checks (Windows, trusted code only)."""
    from socketlab.instructor.gradebook import _cell_verdict

    assert _cell_verdict(record)[0] == verdict


OK_CELL = {"cell": 3, "outcome": "passed", "reply": "ok", "errors": []}


@pytest.mark.parametrize("judged, verdict", [
    ({"passed": True, "message": ""}, ("passed", "")),
    ({"passed": False, "message": "✘ sent 'hi', got back ''"}, ("failed", "✘ sent 'hi', got back ''")),
    (None, ("failed", "the check never reached the grader")),
], ids=["judge-passed", "judge-failed", "judge-never-asked"])
def test_a_judged_cell_passes_only_if_the_judge_passed_it(judged, verdict):
    """The kernel's ok reply and clean output do not outvote the judge (a kernel may lie about both)."""
    from socketlab.instructor.gradebook import _cell_verdict

    record = {**OK_CELL, **({"judged": judged} if judged else {})}
    assert _cell_verdict(record, judged=True) == verdict
    # nor does a kernel that failed the cell, or hid its error, fail a check the judge passed
    for kernel_says in ({"outcome": "failed", "reply": "error"}, {"reply": "error", "errors": []}):
        assert _cell_verdict({**record, **kernel_says}, judged=True) == verdict
    assert _cell_verdict(record)[0] == "passed"  # a cell the kernel judges (Windows) goes by the kernel
