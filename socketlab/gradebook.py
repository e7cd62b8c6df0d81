"""Grade a folder of submissions: run each notebook under nbval, write the gradebook.

Submissions are laid out as ``SUBMISSIONS/<student>/<NN_name>.ipynb``.  Each
notebook runs in its own temporary folder and process, with the instructor's
checks (see :mod:`socketlab.grading`), under a wall-clock limit; pytest's
junit-xml says which checks passed.  A check that is skipped, errors, or is
never reached scores 0.
"""

from __future__ import annotations

import concurrent.futures
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .grading import GradedCheck, build_graded_notebook

__all__ = ["CheckResult", "grade", "write_gradebook", "write_feedback", "summary_table", "isolation"]

_ANSI = re.compile(r"(\x1b|#x1B)\[[0-9;]*m")  # colours, raw or as junit-xml escaped them


@dataclass(frozen=True)
class CheckResult:
    student: str
    notebook: str
    check: str
    points: int
    max_points: int
    status: str  # passed, failed, error, skipped, timeout, not run, missing, invalid
    message: str = ""
    hidden: bool = False  # the hidden tests failed: named to the student, not shown


# ---- network isolation ------------------------------------------------------------

_UNSHARE_ARGS: list[str] | None = None


def isolation() -> list[str]:
    """The command prefix that gives a run its own network (and process) namespace, or []."""
    global _UNSHARE_ARGS
    if _UNSHARE_ARGS is None:
        _UNSHARE_ARGS = []
        if shutil.which("unshare") and sys.platform.startswith("linux"):
            for args in (["unshare", "--net", "--pid", "--fork", "--kill-child"],
                         ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child"]):
                probe = subprocess.run([*args, sys.executable, "-m", "socketlab.netns", "true"],
                                       capture_output=True, timeout=30)
                if probe.returncode == 0:
                    _UNSHARE_ARGS = args
                    break
    return _UNSHARE_ARGS


# ---- running one notebook ---------------------------------------------------------------


def run_graded(nb, checks: list[GradedCheck], data_dir: Path | None, *, cell_timeout: float,
               timeout: float, prefix: list[str]) -> list[tuple[str, str, bool]]:
    """Run a graded notebook; returns ``(status, message, hidden)`` for each check."""
    with tempfile.TemporaryDirectory(prefix="socketlab-grade-") as tmp:
        tmp = Path(tmp)
        nbformat.write(nb, tmp / "submission.ipynb")
        if data_dir is not None and data_dir.is_dir():
            shutil.copytree(data_dir, tmp / "data")
        (tmp / "pytest.ini").write_text("[pytest]\n")  # none of the course's own settings
        netns = [sys.executable, "-m", "socketlab.netns"] if prefix else []
        cmd = [*prefix, *netns, sys.executable, "-m", "socketlab.nbrun", "-q", "-c", "pytest.ini", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
               "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={cell_timeout:g}",
               "--junit-xml=junit.xml", "submission.ipynb"]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "agg"}
        with open(tmp / "pytest.log", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
            try:
                proc.wait(timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_tree(proc)
        cells = _junit_cells(tmp / "junit.xml")
        results = []
        for check in checks:
            status, message, hidden = _check_status(check, cells)
            if timed_out and status == "not run":
                status, message = "timeout", f"the notebook ran past the limit of {timeout:g} s"
            results.append((status, message, hidden))
        return results


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill pytest and everything it started (the kernel, servers the student left running)."""
    import psutil  # ipykernel's own dependency

    try:
        tree = psutil.Process(proc.pid)
        family = [*tree.children(recursive=True), tree]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(10)


def _junit_cells(path: Path) -> dict[int, tuple[str, str]]:
    """nbval's "Cell N" test cases -> (status, message)."""
    if not path.exists():
        return {}
    results = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        match = re.fullmatch(r"Cell (\d+)", case.get("name", ""))
        if not match:
            continue
        status, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                status = {"failure": "failed"}.get(kind, kind)
                message = _last_error_line(element.text or element.get("message", ""))
                if kind == "skipped":  # nbval skips what follows a cell that hung or killed the kernel
                    message = f"not run: an earlier cell hung or the kernel died ({message})"
                break
        results[int(match.group(1))] = (status, message)
    return results


def _last_error_line(text: str) -> str:
    """The exception line of nbval's report, e.g. ``AssertionError: sent 5 bytes, got 0``."""
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Died|Timeout)\b.*", line) or "Timeout" in line:
            return line[:500]
    return lines[-1][:500] if lines else ""


def _check_status(check: GradedCheck, cells: dict) -> tuple[str, str, bool]:
    status, message = cells.get(check.visible_cell, ("not run", "the notebook stopped before this check"))
    if status != "passed" or check.hidden_cell is None:
        return status, message, False
    status, message = cells.get(check.hidden_cell, ("not run", "the notebook stopped before this check"))
    return status, message, status != "passed"


# ---- a whole class -------------------------------------------------------------------------


def grade(submissions, source="notebooks", *, jobs: int | None = None, timeout: float = 300.0,
          cell_timeout: float = 60.0) -> list[CheckResult]:
    """Grade every ``SUBMISSIONS/<student>/<NN_name>.ipynb`` against the notebooks in ``source``."""
    submissions, source = Path(submissions), Path(source)
    sources = {p.name: nbformat.read(p, as_version=4) for p in sorted(source.glob("*.ipynb"))}
    if not sources:
        raise FileNotFoundError(f"no source notebooks in {source}")
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    prefix = isolation()
    if not prefix:
        jobs = 1  # without separate networks, two notebooks binding one port would meet: one at a time
    jobs = jobs or os.cpu_count() or 1
    tasks = [(student, name) for student in students for name in sources]

    def one(task) -> list[CheckResult]:
        student, name = task
        return grade_notebook(student.name, name, sources[name], student / name, source / "data",
                              timeout=timeout, cell_timeout=cell_timeout, prefix=prefix)

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        return [r for results in pool.map(one, tasks) for r in results]


def grade_notebook(student: str, name: str, source_nb, path: Path, data_dir: Path, *, timeout: float,
                   cell_timeout: float, prefix: list[str]) -> list[CheckResult]:
    def every_check(status: str, message: str) -> list[CheckResult]:
        _, checks = build_graded_notebook(source_nb)  # the checks come from the source alone
        return [CheckResult(student, name, c.name, 0, c.points, status, message) for c in checks]

    if not path.exists():
        return every_check("missing", f"{name} was not submitted")
    try:
        submitted = nbformat.read(path, as_version=4)
    except Exception as exc:  # not JSON, not a notebook: the student gets told, the others go on
        return every_check("invalid", f"{name} could not be read as a notebook: {type(exc).__name__}")
    nb, checks = build_graded_notebook(source_nb, submitted)
    outcomes = run_graded(nb, checks, data_dir, cell_timeout=cell_timeout, timeout=timeout, prefix=prefix)
    return [CheckResult(student, name, c.name, c.points if status == "passed" else 0, c.points, status,
                        message, hidden)
            for c, (status, message, hidden) in zip(checks, outcomes)]


# ---- reports -------------------------------------------------------------------------------

COLUMNS = ["student", "notebook", "check", "points", "max_points", "status", "message"]


def write_gradebook(results: list[CheckResult], path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in results:
            message = "hidden tests failed" if r.hidden else r.message
            writer.writerow([r.student, r.notebook, r.check, r.points, r.max_points, r.status, message])


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
                    why = "hidden tests failed (they are not shown)" if r.hidden else (r.message or r.status)
                    lines.append(f"  - {why}")
            lines.append("")
        path = folder / f"{student}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    return written
