"""Grading speed: 30 synthetic submissions of the lab's three notebooks, graded in one run.

The class is a mix: a third hand in the solutions, a third the untouched student
copies (stubs), a third a solution with one exercise left undone.  The grade is
checked for each group, then the wall time is printed.

Target: <= 120 s on a 2-core machine for the three lab notebooks (01-03);
``--all`` adds the notebooks beyond the lab.

    python benchmarks/grading.py [--students 30] [--jobs N] [--all]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from socketlab.instructor.gradebook import grade
from socketlab.instructor.sandbox import available
from socketlab.instructor.release import check_cells, release_notebook, strip_solutions

SOURCE = Path(__file__).resolve().parent.parent / "notebooks"


def make_class(folder: Path, students: int, notebooks: list[Path]) -> dict[str, int]:
    """Write the submissions; returns the points each student should get."""
    sources = {p.name: nbformat.read(p, as_version=4) for p in notebooks}
    expected = {}
    for i in range(students):
        student = f"student{i + 1:02d}"
        (folder / student).mkdir(parents=True)
        expected[student] = 0
        for name, nb in sources.items():
            kind = ("solution", "stub", "partial")[i % 3]
            full = sum(c.metadata["points"] for c in check_cells(nb))
            if kind == "stub":
                nb = release_notebook(nb)
                gained = 0
            else:
                nb = nbformat.from_dict(nb)
                gained = full
            if kind == "partial":  # the last exercise undone: its check(s) fail
                last = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])][-1]
                last.source = strip_solutions(last.source)
                after = nb.cells[nb.cells.index(last):]
                gained = full - sum(c.metadata["points"] for c in after if "check" in c.metadata.get("tags", []))
            expected[student] += gained
            nbformat.write(nb, folder / student / name)
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--all", action="store_true", help="grade every notebook of the course, not only 01-03")
    parser.add_argument("--sandbox-cost", action="store_true", help="also grade one student with and without the sandbox")
    args = parser.parse_args()
    course = sorted(SOURCE.glob("*.ipynb"))
    chosen = course if args.all else course[:3]
    work = Path(tempfile.mkdtemp(prefix="socketlab-grading-bench-"))
    source = work / "source"
    source.mkdir()
    for path in chosen:  # grade() takes every notebook of its source folder
        shutil.copy(path, source)
    shutil.copytree(SOURCE / "data", source / "data")
    try:
        expected = make_class(work / "submissions", args.students, chosen)
        notebooks = args.students * len(chosen)
        print(f"grading {args.students} students x {notebooks // args.students} notebooks "
              f"with {args.jobs} jobs, sandbox: {available() or 'bwrap'}", flush=True)
        started = time.perf_counter()
        results = grade(work / "submissions", source, jobs=args.jobs)
        seconds = time.perf_counter() - started
        got = {s: sum(r.points for r in results if r.student == s) for s in expected}
        wrong = {s: (got[s], expected[s]) for s in expected if got[s] != expected[s]}
        print(f"graded {notebooks} notebooks in {seconds:.1f} s ({seconds / notebooks:.2f} s each); "
              f"target <= 120 s {'OK' if seconds <= 120 else 'ABOVE TARGET'}")
        print("every grade as expected" if not wrong else f"WRONG GRADES (got, expected): {wrong}")
        if available() is None and args.sandbox_cost:
            one = work / "submissions" / "student01"
            costs = []
            for sandboxed in (True, False):
                os.environ["SOCKETLAB_NO_SANDBOX"] = "" if sandboxed else "1"
                available.cache_clear()
                started = time.perf_counter()
                grade(work / "submissions", source, jobs=1, students=[one.name])
                costs.append((time.perf_counter() - started) / len(chosen))
            os.environ.pop("SOCKETLAB_NO_SANDBOX")
            available.cache_clear()
            print(f"one notebook alone: {costs[0]:.2f} s in the sandbox, {costs[1]:.2f} s without "
                  f"(the sandbox costs {costs[0] - costs[1]:+.2f} s per notebook)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
