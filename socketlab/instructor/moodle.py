"""Grades out as Moodle takes them: the offline grading worksheet and a zip of feedback files.

- :func:`write_worksheet`: one row per student in the format of the assignment's
  "Download grading worksheet" / "Upload grading worksheet" (``Identifier`` is
  ``Participant 12345``; Moodle reads ``Identifier``, ``Grade``, ``Last modified
  (grade)`` and ``Feedback comments``, the other columns are for people). Given the
  worksheet Moodle made (``roster``), its rows are filled in, keeping every column and
  the e-mail addresses; without it one is written from the download's names and ids.
  UTF-8 with a BOM, so that Excel shows Cyrillic names; feedback comments are HTML
  (Moodle shows them as such), so every message in them is escaped.
- :func:`write_feedback_zip`: the layout of "Upload multiple feedback files in a
  zip": a folder per student named as in the download
  (``Surname Name_12345_assignsubmission_file_``) holding their feedback pages.

Students graded from a plain folder have no participant id: they are left out of
both, and the caller is told who.
"""

from __future__ import annotations

import csv
import html
import time
import zipfile
from pathlib import Path

from .gradebook import CheckResult
from .reports import spreadsheet_safe
from .texts import student_folder

__all__ = ["WORKSHEET_COLUMNS", "write_worksheet", "write_feedback_zip", "feedback_comment"]

WORKSHEET_COLUMNS = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                     "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                     "Feedback comments"]


def _by_student(results: list[CheckResult]) -> dict[str, list[CheckResult]]:
    students: dict[str, list[CheckResult]] = {}
    for r in results:
        students.setdefault(r.student, []).append(r)
    return students


def feedback_comment(mine: list[CheckResult]) -> str:
    """The points per notebook and why each failed check failed, as escaped HTML for Moodle."""
    lines = []
    for notebook in sorted({r.notebook for r in mine}):
        rows = [r for r in mine if r.notebook == notebook]
        lines.append(f"<b>{html.escape(notebook.removesuffix('.ipynb'))}</b>: "
                     f"{sum(r.points for r in rows)}/{sum(r.max_points for r in rows)}")
        for r in rows:
            if r.status != "passed":
                why = "hidden tests failed (not shown)" if r.hidden else (r.message or r.status)
                lines.append(f"&#10008; {html.escape(r.check)}: {html.escape(why[:300])}")
        if rows[0].note:
            lines.append(f"<i>{html.escape(rows[0].note[:500])}</i>")
    lines.append(f"<b>Total</b>: {sum(r.points for r in mine)}/{sum(r.max_points for r in mine)}")
    return "<br>".join(lines)


def write_worksheet(results: list[CheckResult], path, roster=None) -> list[str]:
    """Write the grading worksheet to ``path``; returns the students left out (no participant id)."""
    students = _by_student(results)
    by_id = {mine[0].participant: mine for mine in students.values() if mine[0].participant}
    left_out = sorted(s for s, mine in students.items() if not mine[0].participant)
    now = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if roster is not None:
        with open(roster, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        for needed in ("Identifier", "Grade", "Last modified (grade)", "Feedback comments"):
            if needed not in header:
                raise ValueError(f"{roster} has no column {needed!r}: download the grading worksheet with "
                                 "'Feedback comments' and 'Offline grading worksheet' enabled")
        at = {name: header.index(name) for name in header}
        for row in body:
            mine = by_id.get(row[at["Identifier"]].removeprefix("Participant ").strip())
            if mine is None:
                continue
            row[at["Grade"]] = str(sum(r.points for r in mine))
            row[at["Last modified (grade)"]] = now
            row[at["Feedback comments"]] = feedback_comment(mine)
        out = [header, *body]
    else:
        out = [WORKSHEET_COLUMNS]
        for pid, mine in sorted(by_id.items(), key=lambda item: int(item[0])):
            out.append([f"Participant {pid}", spreadsheet_safe(mine[0].name), "", "Submitted for grading",
                        str(sum(r.points for r in mine)), str(sum(r.max_points for r in mine)), "Yes", "-", now,
                        feedback_comment(mine)])
    with open(path, "w", newline="", encoding="utf-8-sig", errors="backslashreplace") as f:
        csv.writer(f).writerows(out)
    return left_out


def write_feedback_zip(results: list[CheckResult], pages, path, markdown=None) -> list[str]:
    """Zip each Moodle student's pages (``pages/<student>/*.html``) under their download folder name.

    ``markdown``: the folder of ``<student>.md`` summaries, added as ``feedback.md``.
    Returns the students left out (no participant id).
    """
    students = _by_student(results)
    left_out = []
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for student, mine in sorted(students.items()):
            if not mine[0].participant:
                left_out.append(student)
                continue
            folder = f"{mine[0].name}_{mine[0].participant}_assignsubmission_file_"
            here = Path(pages) / student_folder(student)
            for page in sorted(here.glob("*.html")) if here.is_dir() else []:
                zf.write(page, f"{folder}/{page.name}")
            if markdown is not None:
                summary = Path(markdown) / f"{student_folder(student)}.md"
                if summary.is_file():
                    zf.write(summary, f"{folder}/feedback.md")
    return left_out
