"""Instructor tools: release the student copies, grade submitted notebooks with nbval.

The notebooks in the repository are the instructor's copies.  Exercise cells
(tagged ``solution``) hold the answer between ``### BEGIN SOLUTION`` and
``### END SOLUTION``; check cells (tagged ``check``) hold the tests, with
their ``points`` (and a ``name``) in the cell metadata, and may end with tests
the students never see, between ``### BEGIN HIDDEN TESTS`` and
``### END HIDDEN TESTS``.  Cells tagged ``demo`` (pictures, panels, slow
experiments) are for students only: grading skips them, so no check may
depend on one.

Grading rebuilds every submission from the instructor's notebook: only the
student's ``solution`` cells are taken, so check cells, hidden tests and
points always come from the source.  Each notebook runs under nbval in its own
folder and process (and, where the system allows it, its own network
namespace, so two students binding the same port never meet), under a
wall-clock limit.  Running the notebooks is in :mod:`socketlab.gradebook`.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = [
    "STUB", "strip_solutions", "strip_hidden_tests", "hidden_tests", "check_cells", "release_notebook",
    "release", "GradedCheck", "build_graded_notebook", "sanitize_student_code",
]

STUB = 'raise NotImplementedError("your code here")'
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.M | re.S)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n(.*?)^[ \t]*### END HIDDEN TESTS[^\n]*(\n|$)", re.M | re.S)
# Comments that change how nbval treats a cell ("# NBVAL_SKIP", …): never taken from a student.
_NBVAL_MARKER = re.compile(r"^[ \t]*#+[ \t]*(NBVAL_|PYTEST_VALIDATE_)\w*[ \t]*$", re.M)


def strip_solutions(source: str) -> str:
    """Replace every solution region with a stub, indented like the region."""
    return _SOLUTION.sub(lambda m: f"{m.group(1)}{STUB}{m.group(2)}", source)


def strip_hidden_tests(source: str) -> str:
    """The check without its hidden tests: what students see."""
    return _HIDDEN.sub("", source).rstrip("\n")


def hidden_tests(source: str) -> str:
    """Only the hidden tests of a check cell ("" if it has none)."""
    return "\n".join(m.group(1).rstrip("\n") for m in _HIDDEN.finditer(source))


def sanitize_student_code(source: str) -> str:
    """A student's code without the nbval comments that would skip or excuse it."""
    return _NBVAL_MARKER.sub("", source)


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def check_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and "check" in _tags(c)]


def release_notebook(nb):
    """A student copy: solutions replaced by stubs, hidden tests removed, outputs cleared."""
    nb = nbformat.from_dict(nb)  # a deep copy
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "solution" in _tags(cell):
            cell.source = strip_solutions(cell.source)
        if "check" in _tags(cell):
            cell.source = strip_hidden_tests(cell.source)
        cell.outputs = []
        cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


def release(source_dir, out_dir) -> list[Path]:
    """Write the student copies of every notebook in ``source_dir`` (and its ``data/``) to ``out_dir``."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    notebooks = sorted(source_dir.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {source_dir}")
    if out_dir.resolve() == source_dir.resolve():
        raise ValueError("the release folder must not be the source folder: it would overwrite the solutions")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        target = out_dir / path.name
        nbformat.write(release_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    if (source_dir / "data").is_dir():
        shutil.copytree(source_dir / "data", out_dir / "data", dirs_exist_ok=True)
    return written


@dataclass(frozen=True)
class GradedCheck:
    """One check of a graded notebook and where its cells ended up (nbval's "Cell N" numbers)."""

    name: str
    points: int
    visible_cell: int
    hidden_cell: int | None  # the hidden tests run as a cell of their own, to be named but not shown


def build_graded_notebook(source, student=None):
    """The notebook to run for one student: the source with the student's solution cells.

    Student cells are matched by cell id, falling back to the order of the
    cells tagged ``solution``; a solution the student does not have becomes the
    stub.  Returns ``(notebook, [GradedCheck, …])``.
    """
    student_cells = [c for c in (student.cells if student else []) if c.get("cell_type") == "code"]
    by_id = {c.get("id"): c for c in student_cells if c.get("id")}
    in_order = [c for c in student_cells if "solution" in _tags(c)]
    solutions_seen = 0
    cells, checks = [], []

    def add(source: str) -> int:
        cells.append(nbformat.v4.new_code_cell(source))
        return len(cells) - 1  # nbval numbers code cells from 0

    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        tags = _tags(cell)
        if "demo" in tags:
            continue
        if "solution" in tags:
            mine = by_id.get(cell.get("id"))
            if mine is None and solutions_seen < len(in_order):
                mine = in_order[solutions_seen]  # ids lost (an old or rebuilt notebook): go by order
            solutions_seen += 1
            add(sanitize_student_code(mine.source) if mine is not None else strip_solutions(cell.source))
        elif "check" in tags:
            visible = add(strip_hidden_tests(cell.source))
            hidden_source = hidden_tests(cell.source)
            hidden = add(hidden_source) if hidden_source else None
            name = cell.metadata.get("name", cell.get("id", f"check {len(checks) + 1}"))
            checks.append(GradedCheck(name, int(cell.metadata.get("points", 1)), visible, hidden))
        else:
            add(cell.source)
    graded = nbformat.v4.new_notebook(metadata=nbformat.from_dict(source.metadata))
    graded.metadata.pop("widgets", None)
    graded.cells = cells
    return graded, checks
