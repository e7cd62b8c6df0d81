"""The Ukrainian edition (notebooks/uk/) is the English one (notebooks/) in other words.

Same cells in the same order, with the same ids, types, tags, points and check names;
code cells whose syntax trees are equal once string constants are set aside (the strings
a student reads may be translated, nothing else); the same data; committed clean; and a
submission from either edition is graded against the same checks.
"""

import ast
import filecmp
import json
import re
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from socketlab.instructor.build import build_graded_notebook

ROOT = Path(__file__).resolve().parent.parent
ENGLISH = ROOT / "notebooks"
UKRAINIAN = ENGLISH / "uk"
NAMES = sorted(path.name for path in ENGLISH.glob("*.ipynb"))
_MARKER = re.compile(r"^[ \t]*###[ \t]*(BEGIN|END)[ \t]+(SOLUTION|HIDDEN TESTS)[ \t]*$", re.M)
# The one line a Ukrainian notebook adds to its first code cell: the package's messages in Ukrainian.
USE_LANGUAGE = 'socketlab.use_language("uk")'


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def _is_magic_call(node: ast.Call) -> bool:
    """``get_ipython().run_cell_magic(...)`` or ``.run_line_magic(...)``, as IPython writes a magic."""
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr in ("run_cell_magic", "run_line_magic")
            and isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name)
            and func.value.func.id == "get_ipython")


class _SetStringsAside(ast.NodeTransformer):
    """Every str constant becomes a placeholder; a magic keeps its name and arguments, and the
    script a ``%%writefile`` cell writes is compared by its own syntax tree, strings set aside."""

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            return ast.copy_location(ast.Constant("<str>"), node)
        return node

    def visit_Call(self, node):
        if not _is_magic_call(node):
            return self.generic_visit(node)
        args = [a.value if isinstance(a, ast.Constant) else ast.dump(a) for a in node.args]
        if node.func.attr == "run_cell_magic" and args[:1] == ["writefile"] and len(args) == 3:
            args[2] = shape(args[2])  # the script written: code compared, its strings set aside
        return ast.copy_location(ast.Constant(repr((node.func.attr, *args))), node)


def shape(code: str) -> str:
    """The cell's syntax tree as text, with IPython magics made Python and str constants set aside."""
    python = TransformerManager().transform_cell(code)
    return ast.dump(_SetStringsAside().visit(ast.parse(python)))


def _ukrainian_imports(text: str) -> str:
    """The Ukrainian first code cell without its one added line."""
    lines = text.splitlines()
    assert USE_LANGUAGE in lines, f"the first code cell of a Ukrainian notebook must call {USE_LANGUAGE}"
    return "\n".join(line for line in lines if line != USE_LANGUAGE)


def pairs():
    return [pytest.param(ENGLISH / name, UKRAINIAN / name, id=name) for name in NAMES]


def test_every_english_notebook_has_a_ukrainian_edition():
    assert NAMES, "notebooks/ has no .ipynb files"
    missing = [name for name in NAMES if not (UKRAINIAN / name).is_file()]
    assert not missing, f"notebooks/uk/ lacks {', '.join(missing)}"
    extra = sorted(p.name for p in UKRAINIAN.glob("*.ipynb") if p.name not in NAMES)
    assert not extra, f"notebooks/uk/ has notebooks the English edition lacks: {', '.join(extra)}"


@pytest.mark.parametrize("english, ukrainian", pairs())
def test_the_same_cells_in_the_same_order(english, ukrainian):
    en, uk = load(english)["cells"], load(ukrainian)["cells"]
    theirs, ours = [c.get("id") for c in en], [c.get("id") for c in uk]
    assert ours == theirs, f"cell ids or their order differ: only in English {sorted(set(theirs) - set(ours))}, " \
        f"only in Ukrainian {sorted(set(ours) - set(theirs))}"
    for a, b in zip(en, uk):
        assert b["cell_type"] == a["cell_type"], f"cell {a['id']}: a {a['cell_type']} cell in English"
        assert b["metadata"].get("tags", []) == a["metadata"].get("tags", []), f"cell {a['id']}: tags differ"
        for key in ("points", "name"):
            assert b["metadata"].get(key) == a["metadata"].get(key), f"cell {a['id']}: {key} differs"
        assert set(b["metadata"]) == set(a["metadata"]), f"cell {a['id']}: metadata keys differ"


@pytest.mark.parametrize("english, ukrainian", pairs())
def test_code_cells_differ_only_in_their_strings(english, ukrainian):
    en, uk = load(english)["cells"], load(ukrainian)["cells"]
    first = True
    for a, b in zip(en, uk):
        if a["cell_type"] != "code" or b["cell_type"] != "code":
            continue
        theirs, ours = source(a), source(b)
        if first:
            ours, first = _ukrainian_imports(ours), False
        assert shape(ours) == shape(theirs), \
            f"cell {a['id']}: the code differs from the English notebook's (strings aside): re-sync it"
        assert _MARKER.findall(ours) == _MARKER.findall(theirs), \
            f"cell {a['id']}: the BEGIN/END SOLUTION or HIDDEN TESTS markers differ"


@pytest.mark.parametrize("english, ukrainian", pairs())
def test_markdown_cells_are_translated(english, ukrainian):
    en, uk = load(english)["cells"], load(ukrainian)["cells"]
    for a, b in zip(en, uk):
        if a["cell_type"] == "markdown":
            assert source(b).strip() and source(b) != source(a), f"cell {a['id']} is not translated"
            assert re.search(r"[а-яіїєґ]", source(b), re.I), f"cell {a['id']} has no Ukrainian text"
            quotes = [line for line in source(a).splitlines() if line.startswith(">")]
            missing = [line for line in quotes if line not in source(b).splitlines()]
            assert not missing, f"cell {a['id']}: the lab's task must be quoted as it is: {missing[0]!r}"


def test_the_shape_sets_strings_aside_and_nothing_else():
    assert shape('print("hello")') == shape('print("привіт")')
    assert shape('print(f"got {n} bytes")') == shape('print(f"отримано {n} байтів")')
    assert shape('print("hello")') != shape('print("hello", n)')
    assert shape('x = 1') != shape('x = 2')
    script = '%%writefile lab/a.py\nimport sys\nprint("server: listening")\n'
    assert shape(script) == shape(script.replace("server: listening", "сервер: слухаю"))
    assert shape(script) != shape(script.replace("lab/a.py", "lab/b.py"))
    assert shape(script) != shape(script.replace("import sys", "import os"))


def test_the_data_folders_are_identical():
    english, ukrainian = ENGLISH / "data", UKRAINIAN / "data"
    assert ukrainian.is_dir() and not ukrainian.is_symlink(), "notebooks/uk/data must be a real folder"
    names = sorted(p.name for p in english.iterdir())
    assert sorted(p.name for p in ukrainian.iterdir()) == names, "notebooks/uk/data holds other files"
    _, mismatch, errors = filecmp.cmpfiles(english, ukrainian, names, shallow=False)
    assert not mismatch and not errors, f"files differ from notebooks/data: {mismatch + errors}"


@pytest.mark.parametrize("path", [UKRAINIAN / name for name in NAMES], ids=lambda p: p.name)
def test_ukrainian_notebooks_are_committed_clean(path):
    nb = load(path)
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", "kernelspec missing"
    assert "widgets" not in nb["metadata"], "widget state saved: clear it before committing"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"], f"cell {cell.get('id')} has outputs"
            assert cell["execution_count"] is None, f"cell {cell.get('id')} has an execution count"
    nbformat.validate(nbformat.reads(path.read_text(encoding="utf-8"), as_version=4))


@pytest.mark.parametrize("english, ukrainian", pairs())
def test_a_ukrainian_submission_is_graded_against_the_same_checks(english, ukrainian):
    source_nb = nbformat.read(english, as_version=4)
    submission = [{"id": c.get("id"), "tags": c["metadata"].get("tags", []), "source": source(c)}
                  for c in load(ukrainian)["cells"] if c["cell_type"] == "code"]
    # in reverse order: an answer taken by its place instead of its id would land in the wrong cell
    graded = build_graded_notebook(source_nb, submission[::-1])
    by_id = {c["id"]: c["source"] for c in submission}
    solutions = [cell for cell in source_nb.cells if "solution" in cell.metadata.get("tags", [])]
    assert solutions, f"{english.name} has no solution cells"
    assert [cell.id for cell, _ in graded.solutions] == [cell.id for cell in solutions]
    for cell, taken in graded.solutions:
        assert taken == by_id[cell.id], f"cell {cell.id}: the Ukrainian answer was not taken by its id"
    checks = [c for c in source_nb.cells if "check" in c.metadata.get("tags", [])]
    assert [(c.name, c.points) for c in graded.checks] == \
        [(c.metadata.get("name", c.id), int(c.metadata.get("points", 1))) for c in checks]
    # and the Ukrainian notebook, as a source, has the very same checks
    uk_graded = build_graded_notebook(nbformat.read(ukrainian, as_version=4), submission)
    assert [(c.name, c.points) for c in uk_graded.checks] == [(c.name, c.points) for c in graded.checks]
