"""Release the student copies of the instructor's notebooks.

The notebooks in the repository are the instructor's copies.  Exercise cells
(tagged ``solution``) hold the answer between ``### BEGIN SOLUTION`` and
``### END SOLUTION``; check cells (tagged ``check``) hold the tests, with
their ``points`` (and a ``name``) in the cell metadata, and may end with tests
the students never see, between ``### BEGIN HIDDEN TESTS`` and
``### END HIDDEN TESTS``.  Cells tagged ``demo`` (pictures, panels, slow
experiments) are for students only: grading skips them, so no check may
depend on one.  A student copy has every answer replaced by a stub, no hidden
test and no output; its stubs speak the notebook's edition (``uk/`` holds the
Ukrainian one, released on its own with ``socketlab release notebooks/uk OUT``). The release also holds the GitHub Classroom workflow
(``.github/workflows/classroom.yml``, :func:`classroom_workflow`: it runs ``socketlab check``,
:mod:`socketlab.instructor.selfcheck`),
which names the checks and their points and nothing of the hidden tests.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import nbformat

from ..i18n import N_, translated

__all__ = ["STUB", "stub", "edition_language", "editions", "strip_solutions", "strip_hidden_tests", "hidden_tests", "check_cells", "tags",
           "release_notebook", "release", "classroom_workflow", "WORKFLOW_PATH", "RESULTS_FILE"]

YOUR_CODE_HERE = N_("your code here")
WORKFLOW_PATH = ".github/workflows/classroom.yml"
RESULTS_FILE = ".socketlab-results.json"
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.M | re.S)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n(.*?)^[ \t]*### END HIDDEN TESTS[^\n]*(\n|$)", re.M | re.S)


def stub(lang: str = "en") -> str:
    """The line that stands for a solution, in the edition's language."""
    return f"raise NotImplementedError({json.dumps(translated(YOUR_CODE_HERE, lang), ensure_ascii=False)})"


STUB = stub()  # the English edition's


def strip_solutions(source: str, line: str = STUB) -> str:
    """Replace every solution region with a stub (``line``: :func:`stub` of the edition), indented like the region."""
    return _SOLUTION.sub(lambda m: f"{m.group(1)}{line}{m.group(2)}", source)


def edition_language(nb) -> str:
    """The language a notebook's lesson cells choose (``socketlab.use_language("uk")``), else English."""
    for cell in nb.cells:
        if cell.cell_type != "code" or "solution" in tags(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "use_language"
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                return node.args[0].value
    return "en"


def editions(source_dir) -> list[Path]:
    """The folders under ``source_dir`` that hold an edition of its notebooks (``uk/``…)."""
    return sorted(p for p in Path(source_dir).iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def strip_hidden_tests(source: str) -> str:
    """The check without its hidden tests: what students see."""
    return _HIDDEN.sub("", source).rstrip("\n")


def hidden_tests(source: str) -> str:
    """Only the hidden tests of a check cell ("" if it has none)."""
    return "\n".join(m.group(1).rstrip("\n") for m in _HIDDEN.finditer(source))


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def check_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and "check" in tags(c)]


def release_notebook(nb):
    """A student copy: solutions replaced by stubs, hidden tests removed, outputs cleared."""
    nb = nbformat.from_dict(nb)  # a deep copy
    line = stub(edition_language(nb))  # looked up once, not for every cell
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "solution" in tags(cell):
            cell.source = strip_solutions(cell.source, line)
        if "check" in tags(cell):
            cell.source = strip_hidden_tests(cell.source)
        cell.outputs = []
        cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


def release(source_dir, out_dir, *, workflow: bool = True, package: str = "socketlab") -> list[Path]:
    """Write the student copies of every notebook in ``source_dir`` (and its ``data/``) to ``out_dir``.

    ``workflow``: also the GitHub Classroom workflow, which installs ``package`` (a pip requirement).
    """
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    notebooks = sorted(source_dir.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {source_dir}")
    if out_dir.resolve() == source_dir.resolve():
        raise ValueError("the release folder must not be the source folder: it would overwrite the solutions")
    out_dir.mkdir(parents=True, exist_ok=True)
    written, released = [], {}
    for path in notebooks:
        target = out_dir / path.name
        released[path.name] = release_notebook(nbformat.read(path, as_version=4))
        nbformat.write(released[path.name], target)
        written.append(target)
    if (source_dir / "data").is_dir():
        shutil.copytree(source_dir / "data", out_dir / "data", dirs_exist_ok=True)
    if workflow:

        target = out_dir / WORKFLOW_PATH
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(classroom_workflow(released, package), encoding="utf-8")
        written.append(target)
    return written


def classroom_workflow(notebooks: dict[str, object], package: str = "socketlab") -> str:
    """The GitHub Actions workflow for the student copies ``{name: notebook}``."""
    q = json.dumps  # a JSON string is a YAML double-quoted scalar
    names = sorted(notebooks)
    lines = [
        "# Made by `socketlab release`: runs your notebooks as the grader will, on every push.",
        "name: Autograding",
        "on: [push, workflow_dispatch]",
        "permissions:",
        "  checks: write",
        "  actions: read",
        "  contents: read",
        "jobs:",
        "  autograding:",
        "    runs-on: ubuntu-latest",
        "    if: github.actor != 'github-classroom[bot]'",
        "    steps:",
        "      - uses: actions/checkout@v4",
        "      - uses: actions/setup-python@v5",
        "        with:",
        "          python-version: \"3.12\"",
        "      - name: Install socketlab (and bubblewrap, for the grader's sandbox)",
        "        run: |",
        "          sudo apt-get install -y bubblewrap || true",
        "          sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true",
        f"          python -m pip install {q(package)}",
        "      - name: Run the notebooks as the grader does",
        "        run: |",
        f"          rm -f {RESULTS_FILE}",
        f"          socketlab check {' '.join(q(n) for n in names)} --json {RESULTS_FILE} || true",
    ]
    runners = []
    for name in names:
        for number, cell in enumerate(check_cells(notebooks[name]), 1):
            step = f"check-{name.split('_')[0]}-{number}"
            runners.append(step)
            title = f"{name.removesuffix('.ipynb')}: {cell.metadata.get('name', f'check {number}')}"
            lines += [
                f"      - name: {q(title)}",
                f"        id: {step}",
                "        uses: classroom-resources/autograding-command-grader@v1",
                "        with:",
                f"          test-name: {q(title)}",
                f"          command: {q(f'socketlab check --from {RESULTS_FILE} --only {name}#{number}')}",
                "          timeout: 1",
                f"          max-score: {int(cell.metadata.get('points', 1))}",
            ]
    lines += [
        "      - name: Autograding Reporter",
        "        uses: classroom-resources/autograding-grading-reporter@v1",
        "        env:",
        *[f"          {step.upper()}_RESULTS: \"${{{{steps.{step}.outputs.result}}}}\"" for step in runners],
        "        with:",
        f"          runners: {','.join(runners)}",
    ]
    return "\n".join(lines) + "\n"
