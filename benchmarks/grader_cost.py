"""The grader's own work on one submission, as its size grows: reading, building, the notebook written, the page.

None of it runs student code; all of it is the grader's, in its own process, on untrusted input, so it must
cost little and grow no faster than the submission. A solution cell of notebook 01 is filled with plain lines
(and 499 shell lines, which IPython's transformers once re-read for each) up to about 16 MiB, the most a
notebook may have.

Target: at most 0.1 s per MiB beyond a page's fixed cost (about 0.8 s of nbconvert).

    python benchmarks/grader_cost.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import nbformat

from socketlab.instructor.build import build_graded_notebook
from socketlab.instructor.gradebook import CheckResult, read_submission
from socketlab.instructor.pages import write_page

SOURCE = Path(__file__).resolve().parent.parent / "notebooks" / "01_echo.ipynb"


def cost(lines: int, folder: Path) -> tuple[float, float]:
    """(MiB, CPU seconds) for one submission with ``lines`` plain lines in an answer."""
    source = nbformat.read(SOURCE, as_version=4)
    nb = nbformat.read(SOURCE, as_version=4)
    cell = next(c for c in nb.cells if "def my_echo(" in c.source)
    cell.source = "\n".join(["!true"] * 499 + [f"x{i} = {i}  # a line as long as a student's" for i in range(lines)]
                            + [cell.source])
    path = folder / f"{lines}.ipynb"
    nbformat.write(nb, path)
    started = time.process_time()
    graded = build_graded_notebook(source, read_submission(path))
    nbformat.writes(graded.nb)
    records = {i: {"cell": i, "outputs": []} for i in range(len(graded.nb.cells))}
    results = [CheckResult("s", SOURCE.name, c.name, 0, c.points, "failed", "x") for c in graded.checks]
    write_page(source, {"graded": graded, "records": records}, results, "s", folder / "pages")
    return path.stat().st_size / 2**20, time.process_time() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        figures = [cost(lines, Path(tmp)) for lines in (0, 50_000, 150_000, 280_000)]
    for mib, seconds in figures:
        print(f"{mib:5.1f} MiB: {seconds:5.2f} s of the grader's CPU")
    (small, base), (large, most) = figures[0], figures[-1]
    per_mib = (most - base) / (large - small)
    print(f"{per_mib:.3f} s per MiB beyond a page's fixed {base:.2f} s; target <= 0.1 {'OK' if per_mib <= 0.1 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
