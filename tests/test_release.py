import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from socketlab.instructor.release import STUB, check_cells, release_notebook, strip_solutions

SOURCE = '''def f(x):
    """Doc."""
    ### BEGIN SOLUTION
    y = x * 2
    return y
    ### END SOLUTION

### BEGIN SOLUTION
top_level = 1
### END SOLUTION
print("kept")'''


def test_strip_solutions_keeps_indentation_and_the_rest():
    assert strip_solutions(SOURCE) == f'''def f(x):
    """Doc."""
    {STUB}

{STUB}
print("kept")'''


def test_strip_solutions_without_regions_is_unchanged():
    assert strip_solutions("x = 1\n") == "x = 1\n"


def test_release_notebook_strips_only_solution_cells_and_clears_outputs():
    nb = new_notebook()
    solution = new_code_cell(SOURCE, metadata={"tags": ["solution"]})
    solution.outputs = [nbformat.v4.new_output("stream", text="hi")]
    solution.execution_count = 3
    check = new_code_cell("assert f(2) == 4", metadata={"tags": ["check"], "points": 2})
    untagged = new_code_cell("### BEGIN SOLUTION\nshown = True\n### END SOLUTION")
    nb.cells = [solution, check, untagged]
    nb.metadata["widgets"] = {"state": {}}
    released = release_notebook(nb)
    assert STUB in released.cells[0].source and "y = x * 2" not in released.cells[0].source
    assert released.cells[0].outputs == [] and released.cells[0].execution_count is None
    assert released.cells[1].source == "assert f(2) == 4"
    assert released.cells[2].source == untagged.source  # only cells tagged solution are touched
    assert "widgets" not in released.metadata
    assert "y = x * 2" in nb.cells[0].source  # the original is left alone
    assert [c.metadata["points"] for c in check_cells(released)] == [2]


def test_a_ukrainian_notebook_is_released_with_ukrainian_stubs():
    from pathlib import Path

    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    english = release_notebook(nbformat.read(notebooks / "01_echo.ipynb", as_version=4))
    ukrainian = release_notebook(nbformat.read(notebooks / "uk" / "01_echo.ipynb", as_version=4))
    stubs = [c.source for c in ukrainian.cells if "NotImplementedError" in c.source]
    assert stubs and all('raise NotImplementedError("ваш код тут")' in s and "your code here" not in s for s in stubs)
    assert all(STUB in c.source for c in english.cells if "NotImplementedError" in c.source)


def test_the_release_command_names_the_other_edition(tmp_path, capsys):
    from pathlib import Path

    from socketlab.cli import main

    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    assert main(["release", str(notebooks), str(tmp_path / "out"), "--no-workflow"]) == 0
    said = capsys.readouterr().out
    assert f"socketlab release {notebooks / 'uk'} OUT_DIR" in said
    assert sorted(p.name for p in (tmp_path / "out").glob("*.ipynb")) == sorted(p.name for p in notebooks.glob("*.ipynb"))


def test_every_check_name_of_the_notebooks_is_in_the_catalogue():
    """`socketlab check` shows a check's name in the edition's language only if it is marked for the catalogue."""
    from pathlib import Path

    from socketlab.instructor.selfcheck import CHECK_NAMES

    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    names = {c.metadata.get("name") for path in notebooks.glob("*.ipynb")
             for c in check_cells(nbformat.read(path, as_version=4))}
    assert names and names <= set(CHECK_NAMES), sorted(names - set(CHECK_NAMES))
