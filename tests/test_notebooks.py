"""The course notebooks as a student meets them: run twice in one kernel, and as released stubs.

nbval (configured in pyproject.toml) runs each notebook once; these tests add
what nbval cannot see.
"""

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import stray_values
from socketlab.instructor.release import check_cells, release_notebook

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# 04 measures four servers under load, most of a minute a run, and 05 waits out its lost pings: their
# runs here are a slow family (nbval still runs both in every `make test`).
LOAD_SLOW = [pytest.param(p, marks=pytest.mark.slow) if p.name.startswith(("04_", "05_")) else p for p in NOTEBOOKS]

STATE = """
import json, threading, time, socketlab
deadline = time.monotonic() + 2   # a monitor's refresh timer ends by itself within its interval
while any(t.name == "monitor-refresh" for t in threading.enumerate()) and time.monotonic() < deadline:
    time.sleep(0.05)
from pathlib import Path
print(json.dumps({"servers": sorted(s.name for s in socketlab.running_servers()),
                  "threads": threading.active_count(), "names": sorted(t.name for t in threading.enumerate()),
                  "files": sorted(str(p) for p in Path(".").rglob("*") if p.is_file() and "__pycache__" not in p.parts)}))
"""


def client_for(nb, folder: Path = NOTEBOOK_DIR) -> NotebookClient:
    return NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                          resources={"metadata": {"path": str(folder)}})


def errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.get("outputs", []) if o.output_type == "error"]


def kernel_state(client, nb) -> dict:
    cell = nbformat.v4.new_code_cell(STATE)
    nb.cells.append(cell)
    client.execute_cell(cell, len(nb.cells) - 1)
    nb.cells.pop()
    return json.loads("".join(o.text for o in cell.outputs if o.output_type == "stream"))


@pytest.mark.parametrize("path", LOAD_SLOW, ids=lambda p: p.name)
def test_run_all_twice_in_one_kernel(path, tmp_path):
    """A student pressing Run All twice: no error, no "Address already in use", no leaked server, and the
    same files left each time (the demos' uploads do not pile up)."""
    nb = nbformat.read(path, as_version=4)
    folder = tmp_path / "notebooks"  # a copy of its own: what it leaves is its alone to count
    shutil.copytree(path.parent / "data", folder / "data")
    client = client_for(nb, folder)
    states = []
    with client.setup_kernel():
        for run in (1, 2):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    cell.outputs = []
                    client.execute_cell(cell, index)
                    assert not errors(cell), f"run {run}, cell {cell.id}: {errors(cell)}"
            assert stray_values(nb) == [], f"run {run}: a cell ends on a value it does not mean to show"
            states.append(kernel_state(client, nb))
    first, second = states
    assert second["servers"] == first["servers"], "the second run left extra servers running"
    assert second["threads"] <= first["threads"], f"threads grew: {first} -> {second}"
    assert second["files"] == first["files"], f"the second run left other files: {first['files']} -> {second['files']}"


@pytest.mark.parametrize("path", LOAD_SLOW, ids=lambda p: p.name)
def test_every_check_fails_on_the_stubs(path):
    """The released notebook: each check cell fails, and no other cell does."""
    nb = release_notebook(nbformat.read(path, as_version=4))
    checks = check_cells(nb)
    if not checks:
        pytest.skip(f"{path.name} has no exercises")
    client_for(nb).execute()
    for cell in nb.cells:
        if cell in checks:
            assert errors(cell), f"check cell {cell.id} passed on the stub:\n{cell.source}"
        else:
            assert not errors(cell), f"cell {cell.id} failed in the released notebook: {errors(cell)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_follow_the_convention(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "### BEGIN SOLUTION" in cell.source:
            assert "solution" in tags, f"cell {cell.id} has a solution region but no 'solution' tag"
            assert cell.source.count("### BEGIN SOLUTION") == cell.source.count("### END SOLUTION")
        if "check" in tags:
            assert isinstance(cell.metadata.get("points"), int) and cell.metadata["points"] > 0, cell.id
            assert "assert" in cell.source or re.search(r"\b(check|scripts)\.\w+\(", cell.source), \
                f"check cell {cell.id} checks nothing"
    if "solution" in json.dumps([c.metadata for c in nb.cells]):
        assert check_cells(nb), f"{path.name} has exercises but no checks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_quotes_the_task_in_ukrainian_and_english(path):
    nb = nbformat.read(path, as_version=4)
    task = next(c.source for c in nb.cells if c.source.startswith("## The task"))
    assert "> **Завдання" in task and "**Task" in task


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_demo_comes_before_the_first_check(path):
    """Run All in a student copy stops at the first check: every demo of the course must have run by then.

    The runs of the student's own programs (``lab/server.py``…) are the exception: they can only come
    after the cells that write those programs.
    """
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    first_check = next((i for i, c in enumerate(code) if "check" in c.metadata.get("tags", [])), len(code))
    late = [c.id for c in code[first_check:] if "demo" in c.metadata.get("tags", []) and '"lab/' not in c.source]
    assert not late, f"demo cells after the first check: {late}"


TERMINAL_HEADINGS = ("## Try it from a terminal", "## Спробуйте в терміналі")
APART_FROM_WINDOWS = ("On Linux and macOS", "У Linux і macOS")


@pytest.mark.parametrize("path", NOTEBOOKS + sorted((NOTEBOOK_DIR / "uk").glob("*.ipynb")),
                         ids=lambda p: str(p.relative_to(NOTEBOOK_DIR)))
def test_terminal_sections_run_on_every_system(path):
    """Each command runs the course's Python from the notebook's folder, whose lab/ the notebook wrote
    (one word to change on Windows); netcat is an aside."""
    cells = [c for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "markdown" and c.source.startswith(TERMINAL_HEADINGS)]
    assert cells, "no terminal section"
    for cell in cells:
        text = cell.source.split("\n## ")[0]  # the section itself, not the one after it
        commands = [line for block in re.findall(r"```sh\n(.*?)```", text, re.S) for line in block.splitlines()]
        python = "../../.venv/bin/python " if path.parent.name == "uk" else "../.venv/bin/python "  # from its folder
        assert commands and all(line.startswith(python) for line in commands), commands
        assert ".venv\\Scripts\\python" in text, "say what Windows writes instead"
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        for sentence in re.split(r"(?<=[.!?])\s+|\n\s*\n", prose.strip()):
            if re.search(r"\bnc\b", sentence):
                assert sentence.startswith(APART_FROM_WINDOWS), f"netcat outside an aside: {sentence[:80]}"
