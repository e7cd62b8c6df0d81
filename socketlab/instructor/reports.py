"""What grading hands out: the gradebook CSV, a summary table, one feedback file per student.

Every text that came from a run (a check's message, a student's folder name)
is written so that no spreadsheet takes it for a formula.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .gradebook import CheckResult

__all__ = ["COLUMNS", "check_writable", "write_gradebook", "summary_table", "write_feedback", "spreadsheet_safe"]

COLUMNS = ["student", "notebook", "check", "points", "max_points", "status", "message", "sandbox"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(text: str) -> str:
    """A cell text that Excel, LibreOffice and Google Sheets show as text, never run as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def check_writable(path) -> None:
    """Fail now, before any grading, if the gradebook could not be written to ``path``."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder: name the CSV file to write, e.g. {path / 'gradebook.csv'}")
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK):
        raise ValueError(f"cannot write to {parent}")


def _message(r: CheckResult) -> str:
    return "hidden tests failed" if r.hidden else r.message


def write_gradebook(results: list[CheckResult], path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in results:
            writer.writerow([spreadsheet_safe(str(x)) for x in
                             (r.student, r.notebook, r.check, r.points, r.max_points, r.status, _message(r),
                              r.sandbox)])


def summary_table(results: list[CheckResult]) -> str:
    """Points per student and notebook, and the total."""
    notebooks = sorted({r.notebook for r in results})
    students = sorted({r.student for r in results})
    header = ["student", *[n.removesuffix(".ipynb") for n in notebooks], "total"]
    rows = []
    for s in students:
        mine = [r for r in results if r.student == s]
        cells = [f"{sum(r.points for r in mine if r.notebook == n)}/{sum(r.max_points for r in mine if r.notebook == n)}"
                 + (" tampered" if any(r.status == "tampered" for r in mine if r.notebook == n) else "")
                 for n in notebooks]
        rows.append([s, *cells, f"{sum(r.points for r in mine)}/{sum(r.max_points for r in mine)}"])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in [header, *rows])


def _markdown_text(text: str) -> str:
    """A message shown as plain text in Markdown: no links, images or HTML of its own."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`" if text else ""


def write_feedback(results: list[CheckResult], folder) -> list[Path]:
    """One Markdown file per student: every check, and why the failed visible ones failed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for student in sorted({r.student for r in results}):
        mine = [r for r in results if r.student == student]
        lines = [f"# Feedback for {student}", "",
                 f"Total: {sum(r.points for r in mine)} of {sum(r.max_points for r in mine)} points.", ""]
        for notebook in sorted({r.notebook for r in mine}):
            lines += [f"## {notebook}", ""]
            for r in (r for r in mine if r.notebook == notebook):
                mark = "✔" if r.status == "passed" else "✘"
                lines.append(f"- {mark} **{r.check}**: {r.points}/{r.max_points}")
                if r.status != "passed":
                    why = "hidden tests failed (they are not shown)" if r.hidden else _markdown_text(r.message or r.status)
                    lines.append(f"  - {why}")
            lines.append("")
        path = folder / f"{_file_name(student)}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    return written


def _file_name(student: str) -> str:
    """A student's folder name as a file name: the folder was one already, but be sure."""
    return "".join(c if c.isalnum() or c in " ._-" else "_" for c in student).strip(" .") or "student"
