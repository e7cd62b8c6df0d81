"""What grading hands out: the gradebook CSV, a summary table, one feedback file per student.

Every text that came from a run (a check's message, a student's folder name)
is written so that no spreadsheet takes it for a formula.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .gradebook import CheckResult
from .texts import student_folder

__all__ = ["COLUMNS", "check_writable", "write_gradebook", "summary_table", "write_feedback", "spreadsheet_safe",
           "read_gradebook", "merge_gradebooks", "markdown_escape"]

COLUMNS = ["student", "name", "participant", "notebook", "check", "points", "max_points", "status", "message",
           "note", "sandbox"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(text: str) -> str:
    """A cell text that Excel, LibreOffice and Google Sheets show as text, never run as a formula.

    A text that starts with ``'`` gets one more, so that ``=2+2`` and ``'=2+2`` stay two texts
    (``'=2+2`` and ``''=2+2``) and :func:`read_gradebook` gives each back as it was."""
    return "'" + text if text.startswith(_FORMULA_START + ("'",)) else text


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


def _row(r: CheckResult) -> list[str]:
    return [spreadsheet_safe(str(x)) for x in (r.student, r.name, r.participant, r.notebook, r.check, r.points,
                                               r.max_points, r.status, _message(r), r.note, r.sandbox)]


def _write_rows(rows: list[list[str]], path) -> None:
    """Rows sorted by student and notebook (checks keep their order): one run or merged shards alike."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda row: (row[0], row[3]))
    tmp = Path(f"{path}.part")
    with open(tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    os.replace(tmp, path)  # a gradebook is never seen half written


def write_gradebook(results: list[CheckResult], path) -> None:
    _write_rows([_row(r) for r in results], path)


def _unsafe(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START + ("'",)) else text


def read_gradebook(path) -> list[CheckResult]:
    """The results a gradebook written by :func:`write_gradebook` holds."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != COLUMNS:
            raise ValueError(f"{path} is not a gradebook of this version: its columns are {header}")
        results = []
        for row in reader:
            d = dict(zip(COLUMNS, map(_unsafe, row)))
            hidden = d["message"] == "hidden tests failed" and d["status"] != "passed"
            results.append(CheckResult(d["student"], d["notebook"], d["check"], int(d["points"]),
                                       int(d["max_points"]), d["status"], "" if hidden else d["message"], hidden,
                                       d["sandbox"], d["name"], d["participant"], d["note"]))
    return results


def merge_gradebooks(parts: list, out, *, replace_with: list[CheckResult] | None = None) -> int:
    """Join gradebooks (shards, or an old one and a regrade); a later part's (student, notebook) wins.

    Rows are joined as written, never re-parsed, so merged shards equal one run byte for byte.
    Returns the number of rows written.
    """
    pairs: dict[tuple[str, str], list[list[str]]] = {}
    for part in parts:
        with open(part, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header != COLUMNS:
                raise ValueError(f"{part} is not a gradebook of this version: its columns are {header}")
            mine: dict[tuple[str, str], list[list[str]]] = {}
            for row in reader:
                mine.setdefault((row[0], row[3]), []).append(row)
        pairs.update(mine)
    new: dict[tuple[str, str], list[list[str]]] = {}
    for r in replace_with or []:
        new.setdefault((spreadsheet_safe(r.student), spreadsheet_safe(r.notebook)), []).append(_row(r))
    pairs.update(new)
    rows = [row for key in pairs for row in pairs[key]]
    _write_rows(rows, out)
    return len(rows)


def summary_table(results: list[CheckResult]) -> str:
    """Points per student and notebook, and the total."""
    notebooks = sorted({r.notebook for r in results})
    students = sorted({r.student for r in results})
    header = ["student", *[n.removesuffix(".ipynb") for n in notebooks], "total"]
    rows = []
    for s in students:
        mine = [r for r in results if r.student == s]
        cells = [f"{sum(r.points for r in mine if r.notebook == n)}/{sum(r.max_points for r in mine if r.notebook == n)}"
                 for n in notebooks]
        rows.append([s, *cells, f"{sum(r.points for r in mine)}/{sum(r.max_points for r in mine)}"])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in [header, *rows])


def markdown_escape(text: str) -> str:
    """A name or message as literal text in Markdown: no emphasis, link, image or HTML of its own."""
    text = " ".join(str(text).split())
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!|~>" else "&lt;" if c == "<" else "&amp;" if c == "&" else c
                   for c in text)


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
        lines = [f"# Feedback for {markdown_escape(mine[0].name or student)}", "",
                 f"Total: {sum(r.points for r in mine)} of {sum(r.max_points for r in mine)} points.", ""]
        for notebook in sorted({r.notebook for r in mine}):
            lines += [f"## {markdown_escape(notebook)}", ""]
            notes = next((r.note for r in mine if r.notebook == notebook and r.note), "")
            if notes:
                lines += [f"Note: {_markdown_text(notes)}", ""]
            for r in (r for r in mine if r.notebook == notebook):
                mark = "✔" if r.status == "passed" else "✘"
                lines.append(f"- {mark} **{markdown_escape(r.check)}**: {r.points}/{r.max_points}")
                if r.status != "passed":
                    why = "hidden tests failed (they are not shown)" if r.hidden else _markdown_text(r.message or r.status)
                    lines.append(f"  - {why}")
            lines.append("")
        path = folder / f"{student_folder(student)}.md"
        path.write_text("\n".join(lines), encoding="utf-8", errors="backslashreplace")
        written.append(path)
    return written
