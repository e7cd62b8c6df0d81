"""The instructor's round trip through the real command: Moodle's zip in, Moodle's files out, regrades,
shards on parallel processes, Ctrl-C, and a student's own check. A tiny course of two notebooks keeps it quick."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from socketlab.instructor.release import release_notebook

ROOT = Path(__file__).resolve().parent.parent
SECRET = "SECRET-HIDDEN-CHECK"
pytestmark = pytest.mark.timeout(600)


def lesson(function: str, factor: int):
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [
        new_markdown_cell(f"# {function.title()}\n\nWrite `{function}`."),
        new_code_cell(f"def {function}(x):\n    ### BEGIN SOLUTION\n    return {factor} * x\n    ### END SOLUTION",
                      metadata={"tags": ["solution"]}),
        new_code_cell(f"assert {function}(2) == {2 * factor}, '{function}(2) should be {2 * factor}'\n"
                      f"### BEGIN HIDDEN TESTS\nassert {function}(10**6) == {factor} * 10**6, '{SECRET}'\n"
                      "### END HIDDEN TESTS", metadata={"tags": ["check"], "points": 2, "name": f"{function} works"}),
        new_code_cell(f"assert {function}(0) == 0, '{function}(0) should be 0'",
                      metadata={"tags": ["check"], "points": 1, "name": f"{function} of zero"}),
    ]
    for i, cell in enumerate(nb.cells):
        cell.id = f"{function}-{i}"
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    folder = tmp_path_factory.mktemp("course")
    nbformat.write(lesson("double", 2), folder / "01_double.ipynb")
    nbformat.write(lesson("triple", 3), folder / "02_triple.ipynb")
    return folder


def answer(course, name, code=None, *, prefix=""):
    """A student's copy of ``name`` with ``code`` (default: the solution) in its solution cell, as bytes."""
    source = nbformat.read(course / name, as_version=4)
    nb = release_notebook(source)
    if code is None:
        code = next(c.source for c in source.cells if "solution" in c.metadata.get("tags", []))
    next(c for c in nb.cells if "solution" in c.metadata.get("tags", [])).source = prefix + code
    return nbformat.writes(nb).encode()


def socketlab(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "socketlab", *map(str, args)], capture_output=True, text=True,
                          timeout=540, **kwargs)


def moodle_zip(course, *, olena_fixed=False) -> bytes:
    wrong = "def double(x):\n    print('<script>alert(1)</script>')\n    return 2 * x if x < 1000 else 0\n"
    right = "def double(x):\n    return x + x\n"
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("lab/02_triple.ipynb", answer(course, "02_triple.ipynb"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Шевченко Тарас_12345_assignsubmission_file_/01_double (1).ipynb", answer(course, "01_double.ipynb"))
        zf.writestr("Шевченко Тарас_12345_assignsubmission_file_/lab.zip", inner.getvalue())
        zf.writestr("Ivanenko Olena_12346_assignsubmission_file_/01_double.ipynb",
                    answer(course, "01_double.ipynb", right if olena_fixed else wrong))
        zf.writestr("Ivanenko Olena_12346_assignsubmission_onlinetext_/onlinetext.html", "<p>see the file</p>")
    return buf.getvalue()


def rows(path):
    return list(csv.DictReader(open(path, encoding="utf-8")))


def test_moodle_zip_in_moodle_files_out_and_a_regrade(course, tmp_path):
    (tmp_path / "download.zip").write_bytes(moodle_zip(course))
    out = tmp_path / "out" / "gradebook.csv"
    done = socketlab("grade", tmp_path / "download.zip", "--source", course, "--out", out, "--jobs", 2,
                     "--no-progress", "--timeout", 120, "--cell-timeout", 20)
    assert done.returncode == 0, done.stderr
    got = rows(out)
    assert {(r["name"], r["participant"]) for r in got} == {("Шевченко Тарас", "12345"), ("Ivanenko Olena", "12346")}
    taras = [r for r in got if r["participant"] == "12345"]
    assert sum(int(r["points"]) for r in taras) == 6
    olena = {(r["notebook"], r["check"]): r for r in got if r["participant"] == "12346"}
    assert olena["01_double.ipynb", "double works"]["message"] == "hidden tests failed"
    assert olena["01_double.ipynb", "double of zero"]["status"] == "passed"
    assert olena["02_triple.ipynb", "triple works"]["status"] == "missing"
    assert "no notebook named 02_" in olena["02_triple.ipynb", "triple works"]["note"]
    assert "Ivanenko Olena_12346: 02_triple.ipynb: no notebook" in done.stderr  # said on the terminal too
    assert SECRET not in out.read_text(encoding="utf-8")

    grades = list(csv.DictReader(io.StringIO((out.parent / "grades.csv").read_bytes().decode("utf-8-sig"))))
    assert {(g["Identifier"], g["Full name"], g["Grade"], g["Maximum Grade"]) for g in grades} == {
        ("Participant 12345", "Шевченко Тарас", "6", "6"), ("Participant 12346", "Ivanenko Olena", "1", "6")}
    with zipfile.ZipFile(out.parent / "feedback.zip") as zf:
        names = set(zf.namelist())
        assert "Шевченко Тарас_12345_assignsubmission_file_/01_double.html" in names
        assert "Ivanenko Olena_12346_assignsubmission_file_/feedback.md" in names
        page = zf.read("Ivanenko Olena_12346_assignsubmission_file_/01_double.html").decode()
    assert "return 2 * x if x &lt; 1000 else 0" in page or "1000" in page  # the student's own code
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page  # its output, escaped
    assert "hidden tests failed" in page and SECRET not in page and "10**6" not in page
    assert "1 of 3 points" in page and "Write <code>double</code>" in page
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".socketlab-unpacked")]  # cleaned up

    before = {(r["student"], r["notebook"], r["check"]): r for r in rows(out)}
    (tmp_path / "download.zip").write_bytes(moodle_zip(course, olena_fixed=True))
    done = socketlab("grade", tmp_path / "download.zip", "--source", course, "--out", out, "--student", "12346",
                     "--no-progress", "--timeout", 120, "--cell-timeout", 20)
    assert done.returncode == 0, done.stderr
    after = {(r["student"], r["notebook"], r["check"]): r for r in rows(out)}
    assert set(after) == set(before)
    assert all(after[k] == before[k] for k in after if k[0] == "Шевченко Тарас_12345")  # untouched
    assert after["Ivanenko Olena_12346", "01_double.ipynb", "double works"]["status"] == "passed"
    grades = (out.parent / "grades.csv").read_bytes().decode("utf-8-sig")
    assert "Participant 12345" in grades and "Participant 12346" in grades  # the whole class, after a regrade


def plain_class(course, folder: Path, students: int) -> None:
    for i in range(students):
        me = folder / f"student{i}"
        me.mkdir(parents=True)
        (me / "01_double.ipynb").write_bytes(answer(course, "01_double.ipynb", None if i % 2 else
                                                    "def double(x):\n    return 4\n"))
        if i % 3:
            (me / "02_triple.ipynb").write_bytes(answer(course, "02_triple.ipynb"))


@pytest.mark.slow  # three graders side by side
def test_shards_on_parallel_processes_merge_into_the_unsharded_gradebook(course, tmp_path):
    plain_class(course, tmp_path / "subs", 4)
    common = ["--source", course, "--no-progress", "--timeout", 120, "--cell-timeout", 20]
    one = socketlab("grade", tmp_path / "subs", "--out", tmp_path / "one" / "gradebook.csv", "--jobs", 2, *common)
    assert one.returncode == 0, one.stderr
    n = 3
    shards = [subprocess.Popen([sys.executable, "-m", "socketlab", "grade", str(tmp_path / "subs"), "--shard", f"{k}/{n}",
                                "--jobs", "1", "--out", str(tmp_path / f"shard{k}" / "gradebook.csv"), *map(str, common)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(n)]
    for proc in shards:
        _, err = proc.communicate(timeout=540)
        assert proc.returncode == 0, err
    counts = [len(rows(tmp_path / f"shard{k}" / "gradebook.csv")) for k in range(n)]
    assert sum(counts) == len(rows(tmp_path / "one" / "gradebook.csv")) and all(counts)
    merged = socketlab("gradebook", "merge", *[tmp_path / f"shard{k}" / "gradebook.csv" for k in range(n)],
                       "--out", tmp_path / "merged" / "gradebook.csv")
    assert merged.returncode == 0, merged.stderr
    assert (tmp_path / "merged" / "gradebook.csv").read_bytes() == (tmp_path / "one" / "gradebook.csv").read_bytes()


@pytest.mark.slow  # a class graded, then interrupted
def test_ctrl_c_keeps_what_is_done_and_leaves_no_process(course, tmp_path):
    plain_class(course, tmp_path / "subs", 1)  # student0: done first
    slow = tmp_path / "subs" / "student9-slow"
    slow.mkdir()
    (slow / "01_double.ipynb").write_bytes(answer(course, "01_double.ipynb", prefix="import time\ntime.sleep(300)\n"))
    out = tmp_path / "out" / "gradebook.csv"
    proc = subprocess.Popen([sys.executable, "-m", "socketlab", "grade", str(tmp_path / "subs"), "--source", str(course),
                             "--out", str(out), "--jobs", "1", "--timeout", "400", "--cell-timeout", "350"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    family = set()
    while time.monotonic() < deadline:
        family |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        if (out.parent / "feedback" / "student0" / "02_triple.html").exists():
            break
        time.sleep(0.5)
    time.sleep(8)  # the slow one is running now
    running = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    assert running, "nothing was running"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    got = rows(out)
    assert {r["student"] for r in got} == {"student0"} and len(got) == 4
    time.sleep(1)
    alive = [pid for pid in family | running if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert not alive, f"left running: {alive}"
    assert "1/2" in stderr or "50%" in stderr  # the progress bar


def test_a_student_checks_their_own_notebook(course, tmp_path):
    (tmp_path / "01_double.ipynb").write_bytes(answer(course, "01_double.ipynb", "def double(x):\n    return 4\n"))
    done = socketlab("check", "01_double.ipynb", "--json", "results.json", cwd=tmp_path)
    assert done.returncode == 1
    assert "✔ 2/2  double works" in done.stdout and "✘ 0/1  double of zero" in done.stdout  # no hidden tests here
    assert "double(0) should be 0" in done.stdout and "2/3 points" in done.stdout
    first = socketlab("check", "--from", "results.json", "--only", "01_double.ipynb#1", cwd=tmp_path)
    second = socketlab("check", "--from", "results.json", "--only", "01_double.ipynb#2", cwd=tmp_path)
    assert (first.returncode, second.returncode) == (0, 1)
    assert json.loads((tmp_path / "results.json").read_text())[0]["points"] == 2


def test_check_runs_the_course_notebook_as_the_grader_does(tmp_path):
    done = socketlab("check", ROOT / "notebooks" / "01_echo.ipynb", "--timeout", 200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sandbox: bwrap" in done.stdout or "sandbox: none" in done.stdout
    total = sum(c.metadata["points"] for c in nbformat.read(ROOT / "notebooks" / "01_echo.ipynb", as_version=4).cells
                if "check" in c.metadata.get("tags", []))
    assert f"{total}/{total} points" in done.stdout
