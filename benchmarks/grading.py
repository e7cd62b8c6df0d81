"""Grading speed: 30 synthetic submissions of the lab's three notebooks, graded in one run.

The class is a mix: a third hand in the solutions, a third the untouched student
copies (stubs), a third a solution with one exercise left undone.  The grade is
checked for each group, then the wall time is printed.

Target: <= 60 s on a 2-core machine for the three lab notebooks (01-03), sandbox on;
``--all`` adds the notebooks beyond the lab.

It also reports the time per (student, notebook) pair, the unit that ``--shard K/N``
spreads over machines, and how many machines like this one a class needs to be graded
by a deadline (``--class-size``, default 300; ``--deadline-minutes``, default 30),
counting each machine's own start-up (``--startup-minutes``: booting, installing).

    python benchmarks/grading.py [--students 30] [--jobs N] [--all] [--deadline-minutes 30]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from socketlab.instructor.gradebook import default_jobs, grade
from socketlab.instructor.sandbox import available
from socketlab.instructor.release import check_cells, release_notebook, strip_solutions

SOURCE = Path(__file__).resolve().parent.parent / "notebooks"
TARGET = 60  # seconds for 30 students x the three lab notebooks, on 2 cores


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


def machines_needed(pair_seconds: float, pairs: int, deadline_minutes: float, startup_minutes: float) -> int | None:
    """Machines like this one to grade ``pairs`` by the deadline (None if even one pair per machine is too slow).

    ``pair_seconds`` is the wall time per pair on one machine with all its jobs busy (its throughput).
    A shard holds about pairs/N pairs; the stable hash spreads them unevenly (for 900 pairs on 8
    machines the fullest shard has about two standard deviations, 18%, more than the mean), so
    allow 20% more.
    """
    budget = deadline_minutes * 60 - startup_minutes * 60
    if budget <= pair_seconds:
        return None
    return max(1, math.ceil(pairs * pair_seconds * 1.2 / budget))


def plan(pair_seconds: float, jobs: int, notebooks: int, class_size: int, deadline: float, startup: float) -> str:
    pairs = class_size * notebooks
    machines = machines_needed(pair_seconds, pairs, deadline, startup)
    one = pairs * pair_seconds / 60
    lines = [f"per (student, notebook) pair: {pair_seconds:.2f} s of this machine's wall time with {jobs} jobs "
             f"({pair_seconds * jobs:.1f} s each, {jobs} at a time)",
             f"a class of {class_size} x {notebooks} notebooks = {pairs} pairs: {one:.0f} min on one such machine"]
    if machines is None:
        lines.append(f"a deadline of {deadline:g} min leaves no time after {startup:g} min of start-up")
    else:
        lines.append(f"to finish within {deadline:g} min ({startup:g} min start-up each, 20% for uneven shards): "
                     f"{machines} machine(s) like this one: socketlab grade --shard K/{machines}, K = 0..{machines - 1}")
    return "\n".join(lines)


def costs(submissions: Path, source: Path, notebooks: int) -> str:
    """One student's notebooks graded alone, three ways: what the sandbox and the judge each cost."""
    import functools

    from socketlab.instructor import gradebook
    from socketlab.instructor.build import build_graded_notebook

    def once(sandboxed: bool, judged: bool) -> float:
        os.environ["SOCKETLAB_NO_SANDBOX"] = "" if sandboxed else "1"
        available.cache_clear()
        gradebook.build_graded_notebook = functools.partial(build_graded_notebook, judged=judged)
        started = time.perf_counter()
        grade(submissions, source, jobs=1, students=["student01"])
        return (time.perf_counter() - started) / notebooks

    try:
        boxed = once(True, True) if available() is None else None
        plain, in_kernel = once(False, True), once(False, False)
    finally:
        os.environ.pop("SOCKETLAB_NO_SANDBOX", None)
        available.cache_clear()
        gradebook.build_graded_notebook = build_graded_notebook
    lines = [f"one notebook alone: {plain:.2f} s without the sandbox, {in_kernel:.2f} s with the checks in the kernel "
             f"instead of the judge (the judge costs {plain - in_kernel:+.2f} s per notebook)"]
    if boxed is not None:
        lines.append(f"in the sandbox {boxed:.2f} s (the sandbox costs {boxed - plain:+.2f} s per notebook)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=default_jobs())  # as socketlab grade
    parser.add_argument("--all", action="store_true", help="grade every notebook of the course, not only 01-03")
    parser.add_argument("--sandbox-cost", action="store_true",
                        help="also grade one student alone: in the sandbox, without it, and without the judge")
    parser.add_argument("--class-size", type=int, default=300, help="students in the class to plan for")
    parser.add_argument("--deadline-minutes", type=float, default=30.0, help="wall-clock minutes the class may take")
    parser.add_argument("--startup-minutes", type=float, default=3.0,
                        help="minutes each machine spends before it grades (boot, install)")
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
              f"target <= {TARGET} s {'OK' if seconds <= TARGET else 'ABOVE TARGET'}")
        print("every grade as expected" if not wrong else f"WRONG GRADES (got, expected): {wrong}")
        print(plan(seconds / notebooks, args.jobs, len(chosen), args.class_size, args.deadline_minutes,
                   args.startup_minutes))
        if args.sandbox_cost:
            print(costs(work / "submissions", source, len(chosen)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
