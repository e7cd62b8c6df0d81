"""An honest class, graded: every correct answer keeps every point, however it is written.

The answers are in :mod:`honest_class` (logging, type hints, dataclasses, signal,
``exit(1)``, argparse with ``__doc__``, ``functools.wraps``, the student's own helpers and
exception classes, socketserver, try-it lines…). Student *k* hands in the *k*-th answer of
every solution cell (the last one again where a cell has fewer), so each answer is graded
once, in the sandbox, beside the others, as a class hands them in.
"""

import shutil
from pathlib import Path

import nbformat
import pytest

from honest_class import ANSWERS
from socketlab.instructor.gradebook import Options, grade
from socketlab.instructor.release import check_cells

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = max(len(answers) for cells in ANSWERS.values() for answers in cells.values())


def _class(edition: Path, tmp: Path) -> dict[tuple[str, str], list[str]]:
    """Write the class's submissions; returns ``{(student, notebook): the styles it holds}``."""
    styles = {}
    for name, cells in ANSWERS.items():
        for k in range(STUDENTS):
            nb = nbformat.read(edition / name, as_version=4)
            taken = []
            for cell in nb.cells:
                answers = cells.get(cell.get("id"))
                if answers:
                    style, code = answers[min(k, len(answers) - 1)]
                    cell.source = code
                    taken.append(f"{cell.id}: {style}")
            folder = tmp / "subs" / f"student-{k + 1}"
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / name)
            styles[(f"student-{k + 1}", name)] = taken
    return styles


# A family of many repeated runs (every style of every answer, graded): the slow family. make test
# still grades the solutions of every notebook (test_gradebook.py) and the cheaters beside an honest one.
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("edition", ["notebooks", "notebooks/uk"])
def test_every_honest_answer_keeps_every_point(tmp_path, edition):
    source = ROOT / edition
    styles = _class(source, tmp_path)
    results = grade(tmp_path / "subs", source, jobs=3, options=Options(timeout=180, cell_timeout=45))
    full = {name: sum(c.metadata["points"] for c in check_cells(nbformat.read(source / name, as_version=4)))
            for name in ANSWERS}
    lost = []
    for (student, name), taken in styles.items():
        mine = [r for r in results if r.student == student and r.notebook == name]
        if sum(r.points for r in mine) != full[name]:
            lost.append((student, name, taken, [(r.check, r.status, r.message[:200]) for r in mine
                                                if r.status != "passed"]))
    assert not lost, lost
    assert sum(len(a) for cells in ANSWERS.values() for a in cells.values()) >= 60


def test_the_class_covers_every_solution_cell():
    for name in ANSWERS:
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        ids = {c.id for c in nb.cells if "solution" in c.metadata.get("tags", [])}
        assert ids == set(ANSWERS[name]), (name, ids ^ set(ANSWERS[name]))
