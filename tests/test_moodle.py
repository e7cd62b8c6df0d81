"""Grades out as Moodle takes them, feedback pages, gradebook merging and the Classroom workflow: no grading runs."""

import csv
import io
import zipfile
from pathlib import Path

import nbformat

from socketlab.instructor.build import build_graded_notebook
from socketlab.instructor.gradebook import CheckResult, in_shard, parse_shard
from socketlab.instructor.moodle import WORKSHEET_COLUMNS, write_feedback_zip, write_worksheet
from socketlab.instructor.pages import student_folder, write_page
from socketlab.instructor.release import check_cells, hidden_tests, release
from socketlab.instructor.reports import merge_gradebooks, read_gradebook, write_feedback, write_gradebook
from socketlab.instructor.selfcheck import WORKFLOW_PATH

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVIL = '=HYPERLINK("http://x") <script>alert(1)</script> **bold** [link](http://x)'


def results():
    taras = dict(student="Шевченко Тарас_12345", name="Шевченко Тарас", participant="12345")
    return [
        CheckResult(notebook="01_echo.ipynb", check="server", points=2, max_points=2, status="passed", **taras),
        CheckResult(notebook="01_echo.ipynb", check="client", points=0, max_points=2, status="failed",
                    message=EVIL, **taras),
        CheckResult(notebook="02_many_clients.ipynb", check="many", points=0, max_points=3, status="failed",
                    hidden=True, message="secret 3000000", note="02_many_clients.ipynb: graded 02 (1).ipynb",
                    **taras),
        CheckResult("plain", "01_echo.ipynb", "server", 2, 2, "passed", name="plain"),
    ]


def test_worksheet_as_moodle_imports_it(tmp_path):
    left_out = write_worksheet(results(), tmp_path / "grades.csv")
    raw = (tmp_path / "grades.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel shows the Cyrillic names
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0]) == WORKSHEET_COLUMNS and len(rows) == 1 and left_out == ["plain"]
    row = rows[0]
    assert row["Identifier"] == "Participant 12345" and row["Full name"] == "Шевченко Тарас"
    assert row["Grade"] == "2" and row["Maximum Grade"] == "7" and row["Last modified (grade)"].endswith("UTC")
    comment = row["Feedback comments"]
    assert "<script>" not in comment and "&lt;script&gt;" in comment
    assert "3000000" not in comment and "hidden tests failed" in comment


def test_worksheet_fills_in_moodles_own(tmp_path):
    roster = tmp_path / "Grades-Lab.csv"
    with open(roster, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(WORKSHEET_COLUMNS)
        w.writerow(["Participant 12345", "Шевченко Тарас", "taras@example.edu", "Submitted", "", "7", "Yes", "", "-", ""])
        w.writerow(["Participant 99999", "Other Person", "other@example.edu", "No submission", "", "7", "Yes", "", "-", ""])
    write_worksheet(results(), tmp_path / "grades.csv", roster)
    rows = list(csv.DictReader(open(tmp_path / "grades.csv", encoding="utf-8-sig")))
    assert rows[0]["Email address"] == "taras@example.edu" and rows[0]["Grade"] == "2"
    assert rows[1]["Grade"] == "" and rows[1]["Email address"] == "other@example.edu"


def test_feedback_zip_in_the_download_layout(tmp_path):
    for student in ("Шевченко Тарас_12345", "plain"):
        (tmp_path / "pages" / student_folder(student)).mkdir(parents=True)
        (tmp_path / "pages" / student_folder(student) / "01_echo.html").write_text("<p>page</p>")
    write_feedback(results(), tmp_path / "pages")
    left_out = write_feedback_zip(results(), tmp_path / "pages", tmp_path / "feedback.zip", markdown=tmp_path / "pages")
    names = zipfile.ZipFile(tmp_path / "feedback.zip").namelist()
    assert sorted(names) == ["Шевченко Тарас_12345_assignsubmission_file_/01_echo.html",
                             "Шевченко Тарас_12345_assignsubmission_file_/feedback.md"]
    assert left_out == ["plain"]
    md = (tmp_path / "pages" / f"{student_folder('Шевченко Тарас_12345')}.md").read_text(encoding="utf-8")
    assert f"`{EVIL}`" in md and md.count("<script>") == 1  # shown as code, not as HTML or a link
    assert "3000000" not in md


def test_a_page_without_a_run_escapes_everything(tmp_path):
    source = nbformat.read(ROOT / "notebooks" / "01_echo.ipynb", as_version=4)
    mine = [r for r in results() if r.notebook == "01_echo.ipynb" and r.participant]
    page = write_page(source, {}, mine, mine[0].student, tmp_path).read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page and "2 of 4 points" in page


def test_a_page_shows_the_students_outputs_but_never_hidden_cells(tmp_path):
    """Solutions and checks with their outputs; the lesson's cells without theirs (graded, the course's
    servers are stand-ins there); hidden tests not at all, and after every cell that is shown."""
    source = nbformat.read(ROOT / "notebooks" / "01_echo.ipynb", as_version=4)
    graded = build_graded_notebook(source)
    records = {}
    for number, role in enumerate(graded.roles):
        text = f"OUTPUT-OF-{role}-{number}\n"
        records[number] = {"cell": number, "outputs": [
            {"output_type": "stream", "name": "stdout", "text": text + "<img src=x onerror=alert(1)>"},
            {"output_type": "display_data", "data": {"text/html": "<script>evil()</script>", "text/plain": "p"}},
            {"output_type": "display_data", "data": {"image/svg+xml": "<svg onload=alert(1)>"}}]}
    mine = [CheckResult("s", "01_echo.ipynb", c.name, c.points, c.points, "passed") for c in graded.checks]
    page = write_page(source, {"graded": graded, "records": records}, mine, "s", tmp_path).read_text(encoding="utf-8")
    for number, role in enumerate(graded.roles):
        assert (f"OUTPUT-OF-{role}-{number}" in page) == (role in ("solution", "check")), role
    assert "hidden" in graded.roles
    first_hidden = graded.roles.index("hidden")
    assert set(graded.roles[first_hidden:]) == {"hidden"}  # the hidden tests come last
    assert "evil()" not in page and "<svg onload" not in page and "<img src=x" not in page
    hidden_source = graded.plans[first_hidden]["source"]
    assert hidden_source.strip().splitlines()[0] not in page
    total = sum(c.metadata["points"] for c in check_cells(source))
    assert f"{total} of {total} points" in page


def test_merged_parts_equal_one_gradebook(tmp_path):
    everything = [CheckResult(f"s{i}", f"0{n}_x.ipynb", f"c{k}", k, 2, "passed", message=EVIL)
                  for i in range(7) for n in (1, 2) for k in (1, 0)]
    write_gradebook(everything, tmp_path / "one.csv")
    parts = []
    for k in range(3):
        part = [r for r in everything if in_shard(r.student, r.notebook, (k, 3))]
        write_gradebook(part, tmp_path / f"part{k}.csv")
        parts.append(tmp_path / f"part{k}.csv")
    assert sum(len(read_gradebook(p)) for p in parts) == len(everything)
    merge_gradebooks(parts, tmp_path / "merged.csv")
    assert (tmp_path / "merged.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert read_gradebook(tmp_path / "merged.csv") == everything


def test_shards_are_stable_and_cover_every_pair():
    pairs = [(f"student{i}", f"0{n}_x.ipynb") for i in range(50) for n in range(1, 5)]
    owners = [[k for k in range(4) if in_shard(s, n, (k, 4))] for s, n in pairs]
    assert all(len(o) == 1 for o in owners)
    assert in_shard("Шевченко Тарас_12345", "01_echo.ipynb", (0, 2)) != in_shard("Шевченко Тарас_12345",
                                                                                 "01_echo.ipynb", (1, 2))
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "-1/4", "1/0", "x"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_release_has_the_classroom_workflow_and_no_hidden_test(tmp_path):
    written = release(ROOT / "notebooks", tmp_path / "out", package="git+https://example.edu/socketlab.git")
    workflow = tmp_path / "out" / WORKFLOW_PATH
    assert workflow in written
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflow as GitHub does")
    flow = yaml.safe_load(workflow.read_text())
    steps = flow["jobs"]["autograding"]["steps"]
    graders = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-command-grader")]
    sources = {p.name: nbformat.read(p, as_version=4) for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert sum(int(s["with"]["max-score"]) for s in graders) == sum(
        c.metadata["points"] for nb in sources.values() for c in check_cells(nb))
    reporter = steps[-1]
    assert reporter["with"]["runners"].split(",") == [s["id"] for s in graders]
    assert all(f"{s['id'].upper()}_RESULTS" in reporter["env"] for s in graders)
    assert any("socketlab check" in s.get("run", "") and "--json" in s.get("run", "") for s in steps)
    hidden = [line.strip() for nb in sources.values() for c in check_cells(nb)
              for line in hidden_tests(c.source).splitlines() if len(line.strip()) > 12]
    assert hidden, "the course has hidden tests to keep out"
    released = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                         for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert not [line for line in hidden if line in released]
