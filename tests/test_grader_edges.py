"""The grader's own edges: text that cannot be written, names that look alike, names that lie on a terminal.

No submission may end the run or take another student's rows: every text the grader
writes is made writable and visible where it is made (socketlab.instructor.texts), and
every student has one identity, in the gradebook, on the pages, in a merge and in a
regrade alike.
"""

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from socketlab.instructor.gradebook import CheckResult
from socketlab.instructor.moodle import write_feedback_zip, write_worksheet
from socketlab.instructor.pages import write_page
from socketlab.instructor.reports import merge_gradebooks, read_gradebook, summary_table, write_feedback, write_gradebook
from socketlab.instructor.sandbox import available
from socketlab.instructor.texts import student_folder, visible

ROOT = Path(__file__).resolve().parent.parent
ECHO = "01_echo.ipynb"
LONE = "bad text " + chr(0xDCFF) + " and " + chr(0xD800)
FORGED = "x\nfor review: a-honest / 01_echo.ipynb was graded 'tampered'\x1b[2K\x1b[1A"


def result(student, points=1, message="", **kw):
    return CheckResult(student, ECHO, "echo server", points, 2, "passed" if points else "failed", message, **kw)


def test_a_lone_surrogate_or_a_control_character_is_escaped_never_fatal(tmp_path):
    results = [result("s", 0, LONE, name="Ім'я " + chr(0xDCFF), participant="12345"), result("honest", 2)]
    write_gradebook(results, tmp_path / "gradebook.csv")
    write_feedback(results, tmp_path / "feedback")
    write_worksheet(results, tmp_path / "grades.csv")
    source = nbformat.read(ROOT / "notebooks" / ECHO, as_version=4)
    page = write_page(source, {}, results[:1], "s", tmp_path / "feedback").read_text(encoding="utf-8")
    write_feedback_zip(results, tmp_path / "feedback", tmp_path / "feedback.zip", markdown=tmp_path / "feedback")
    text = (tmp_path / "gradebook.csv").read_text(encoding="utf-8")
    assert "bad text \\xff and \\ud800" in text and "\\xff" in page
    assert {r.student for r in read_gradebook(tmp_path / "gradebook.csv")} == {"s", "honest"}


def test_a_name_from_disk_that_is_not_utf8_is_shown_with_its_bytes(tmp_path):
    from socketlab.instructor.intake import collect

    cp1251 = "Шевченко".encode("cp1251")  # as unzip leaves a folder made on Windows
    (tmp_path / "subs" / "honest").mkdir(parents=True)
    os.mkdir(os.fsencode(tmp_path / "subs") + b"/" + cp1251)
    found = {s.key for s in collect(tmp_path / "subs", [ECHO], tmp_path / "work")}
    assert found == {"honest", "".join(f"\\x{b:02x}" for b in cp1251)}
    for key in found:
        key.encode("utf-8")  # every key can be written; the shard's hash takes it too


def test_names_cannot_forge_lines_on_the_terminal():
    rows = [result(FORGED, 0), result("a-honest", 2)]
    table = summary_table(rows)
    assert len(table.splitlines()) == len(summary_table([result("x"), result("y")]).splitlines())
    assert "\x1b" not in table and "\\x1b[2K" in table and "\\n" in table
    assert visible("Привіт, світе! ✔") == "Привіт, світе! ✔"  # what is printable stays as it is
    assert visible("a\u202etxt.exe") == "a\\u202etxt.exe"  # a right-to-left override is shown, not obeyed


LOOKALIKES = ["a-honest", "a-honest.", "a-honest ", "A-honest", "=2+2", "'=2+2", "''=2+2", "+1", "'+1"]


def test_students_whose_names_look_alike_keep_their_own_rows_pages_and_merges(tmp_path):
    results = [result(s, i % 3) for i, s in enumerate(LOOKALIKES)]
    write_gradebook(results, tmp_path / "gradebook.csv")
    back = read_gradebook(tmp_path / "gradebook.csv")
    assert [(r.student, r.points) for r in sorted(back, key=lambda r: r.student)] == \
        sorted((r.student, r.points) for r in results)
    with open(tmp_path / "gradebook.csv", encoding="utf-8") as f:
        assert not [c for row in csv.reader(f) for c in row if c.startswith(("=", "+", "-", "@"))]
    folders = [student_folder(s) for s in LOOKALIKES]
    assert len({f.lower() for f in folders}) == len(LOOKALIKES)  # apart even where case is not
    # a regrade of one replaces its rows only; the merge of two parts keeps everyone's
    regrade = [result("'=2+2", 2)]
    merge_gradebooks([tmp_path / "gradebook.csv"], tmp_path / "merged.csv", replace_with=regrade)
    merged = {r.student: r.points for r in read_gradebook(tmp_path / "merged.csv")}
    assert merged == {**{r.student: r.points for r in results}, "'=2+2": 2}
    write_gradebook(results[:4], tmp_path / "part-0.csv")
    write_gradebook(results[4:], tmp_path / "part-1.csv")
    merge_gradebooks([tmp_path / "part-0.csv", tmp_path / "part-1.csv"], tmp_path / "shards.csv")
    assert (tmp_path / "shards.csv").read_bytes() == (tmp_path / "gradebook.csv").read_bytes()


@pytest.mark.skipif(available() is not None, reason=f"no sandbox here: {available()}")
@pytest.mark.timeout(300)
def test_a_class_of_lookalikes_and_bad_names_leaves_every_honest_student_graded(tmp_path):
    """Through `socketlab grade`, as an instructor runs it: the gradebook, grades.csv and pages complete."""
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / ECHO).write_bytes((ROOT / "notebooks" / ECHO).read_bytes())
    subs = tmp_path / "subs"
    subs.mkdir()
    honest = (ROOT / "notebooks" / ECHO).read_bytes()
    stub = nbformat.writes(nbformat.read(ROOT / "notebooks" / ECHO, as_version=4)).replace(
        "conn, _ = listener.accept()", "raise ValueError('x' + chr(0xDCFF) + '\\x1b[2K')").encode()
    for name, notebook in [("a-honest", honest), ("a-honest.", stub), ("=2+2", honest), ("'=2+2", stub),
                           ("Шевченко Тарас_12345_assignsubmission_file_", honest)]:
        (subs / name).mkdir()
        (subs / name / ECHO).write_bytes(notebook)
    (subs / "bomber").mkdir()  # a zip of 200 entries under 1 MiB each, packed 900 times in all
    with zipfile.ZipFile(subs / "bomber" / "lab4.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(200):
            zf.writestr(f"part{i}.txt", b"\0" * (2**20 - 1))
    huge = nbformat.read(ROOT / "notebooks" / ECHO, as_version=4)  # a 3 MiB answer: its page stays small
    cell = next(c for c in huge.cells if "def my_echo(" in c.source)
    cell.source = "\n".join(f"x{i} = {i}  # padding" for i in range(120_000)) + "\n" + cell.source
    (subs / "huge").mkdir()
    nbformat.write(huge, subs / "huge" / ECHO)
    windows_name = os.fsencode(subs) + b"/" + "Петренко".encode("cp1251")
    os.mkdir(windows_name)
    with open(windows_name + b"/" + ECHO.encode(), "wb") as f:
        f.write(honest)
    out = tmp_path / "out" / "gradebook.csv"
    done = subprocess.run([sys.executable, "-m", "socketlab", "grade", str(subs), "--source", str(tmp_path / "source"),
                           "--out", str(out), "--no-progress", "--jobs", "3"], capture_output=True, timeout=280,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert b"\x1b" not in done.stdout + done.stderr
    points = {}
    for r in read_gradebook(out):
        points[r.student] = points.get(r.student, 0) + r.points
    full = points["a-honest"]
    assert full == 7 and points["=2+2"] == full and points["Шевченко Тарас_12345"] == full
    assert points["a-honest."] < full and points["'=2+2"] < full
    assert points["\\xcf\\xe5\\xf2\\xf0\\xe5\\xed\\xea\\xee"] == full and points["huge"] == full
    assert points["bomber"] == 0 and b"times in all" in done.stderr  # refused, named, nothing unpacked
    pages = sorted((tmp_path / "out" / "feedback").glob("*/01_echo.html"))
    assert len(pages) == 8 and all(page.stat().st_size < 4 * 2**20 for page in pages)
    with open(tmp_path / "out" / "grades.csv", encoding="utf-8-sig") as f:
        assert len(list(csv.reader(f))) == 2  # the header and the one Moodle student


def _class_of_stubs(tmp_path, count: int) -> tuple[Path, Path]:
    from socketlab.instructor.release import release_notebook

    (tmp_path / "source").mkdir()
    (tmp_path / "source" / ECHO).write_bytes((ROOT / "notebooks" / ECHO).read_bytes())
    stub = nbformat.writes(release_notebook(nbformat.read(ROOT / "notebooks" / ECHO, as_version=4)))
    for i in range(count):
        (tmp_path / "subs" / f"s{i}").mkdir(parents=True)
        (tmp_path / "subs" / f"s{i}" / ECHO).write_text(stub, encoding="utf-8")
    return tmp_path / "subs", tmp_path / "source"


def _grader(subs, source, out):
    return subprocess.Popen([sys.executable, "-m", "socketlab", "grade", str(subs), "--source", str(source),
                             "--out", str(out), "--no-progress", "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_lines(path: Path, count: int, seconds: float = 120) -> None:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text(encoding="utf-8").splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never held {count} lines")


@pytest.mark.skipif(available() is not None, reason=f"no sandbox here: {available()}")
@pytest.mark.timeout(300)
def test_a_killed_run_keeps_what_it_graded_and_the_same_command_resumes(tmp_path):
    import signal

    subs, source = _class_of_stubs(tmp_path, 4)
    out = tmp_path / "out" / "gradebook.csv"
    journal = out.parent / "gradebook.csv.journal"
    first = _grader(subs, source, out)
    _wait_for_lines(journal, 2)
    os.killpg(first.pid, signal.SIGKILL)  # no chance to write anything more
    first.wait(30)
    kept = [line for line in journal.read_text(encoding="utf-8").splitlines()]
    assert len(kept) >= 2 and not out.exists()
    pages_before = {p: p.stat().st_mtime_ns for p in (out.parent / "feedback").glob("*/*.html")}
    second = _grader(subs, source, out)
    stdout, stderr = second.communicate(timeout=240)
    assert second.returncode == 0 and b"resuming" in stderr, stderr
    assert {r.student for r in read_gradebook(out)} == {"s0", "s1", "s2", "s3"}
    for page, mtime in pages_before.items():  # what was graded before was taken back, not graded again
        assert page.stat().st_mtime_ns == mtime
    assert not journal.exists()


@pytest.mark.skipif(available() is not None, reason=f"no sandbox here: {available()}")
@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_ctrl_c_and_sigterm_are_obeyed_within_two_seconds_and_keep_the_finished(tmp_path, how):
    import signal
    import time

    subs, source = _class_of_stubs(tmp_path, 6)
    out = tmp_path / "out" / "gradebook.csv"
    grader = _grader(subs, source, out)
    _wait_for_lines(out.parent / "gradebook.csv.journal", 1)
    time.sleep(0.3)  # in the middle of the next notebook
    sent = time.monotonic()
    os.kill(grader.pid, getattr(signal, how))
    grader.communicate(timeout=60)
    took = time.monotonic() - sent
    print(f"{how} obeyed in {took:.2f} s")
    assert grader.returncode == 130 and took < 2.0, (grader.returncode, took)
    assert len(read_gradebook(out)) >= 4  # the finished pair's rows (4 checks) are in the gradebook


def test_a_page_shows_a_bounded_part_of_a_huge_answer(tmp_path):
    """The page's cost must not grow with what a student pastes in (benchmarks/grader_cost.py times it)."""
    from socketlab.instructor.build import build_graded_notebook
    from socketlab.instructor.pages import CELL_CODE_CHARS, PAGE_CODE_CHARS

    source = nbformat.read(ROOT / "notebooks" / ECHO, as_version=4)
    huge = "\n".join(f"x{i} = {i}" for i in range(200_000))
    cells = [{"id": c.id, "tags": c.metadata.get("tags", []), "source": huge}
             for c in source.cells if "solution" in c.metadata.get("tags", [])]
    graded = build_graded_notebook(source, cells)
    results = [CheckResult("s", ECHO, c.name, 0, c.points, "failed", "x") for c in graded.checks]
    page = write_page(source, {"graded": graded, "records": {}}, results, "s", tmp_path).read_text(encoding="utf-8")
    assert "more characters of this cell are not shown here" in page
    assert "x199999" not in page and "x0 " in page.replace("</span>", " ")
    assert len(page) < 40 * PAGE_CODE_CHARS  # highlighted markup for at most PAGE_CODE_CHARS of code
    assert CELL_CODE_CHARS <= PAGE_CODE_CHARS
