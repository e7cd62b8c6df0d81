"""The project's own promises: set-up files agree, notebooks are committed clean."""

import json
import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower()


def conda_packages() -> dict[str, str]:
    """The conda (not pip) entries of environment.yml, as {name: spec}."""
    found, inside = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            inside = True
        elif inside and re.match(r"^  - [^:]+$", line):
            spec = line[4:].strip()
            found[requirement_name(spec)] = spec
        elif inside and not line.startswith("  "):
            inside = False
    return found


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    conda = conda_packages()
    assert conda.pop("python") == f"python{project['requires-python']}"
    conda.pop("pip")
    assert conda == {requirement_name(spec): spec for spec in wanted}


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text()[:1500]
    assert "make lab" in head and "make test" in head


def test_ci_runs_the_readme_test_command():
    assert re.search(r"^make test\b", (ROOT / ".ci" / "run").read_text(), re.M)


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no .ipynb files"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", "kernelspec missing"
    assert "widgets" not in nb["metadata"], "widget state saved: clear it before committing"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"], f"cell {cell.get('id')} has outputs"
            assert cell["execution_count"] is None, f"cell {cell.get('id')} has an execution count"


def test_the_student_library_never_imports_the_instructor_tools():
    import ast

    for path in sorted((ROOT / "socketlab").glob("*.py")):
        if path.name == "cli.py":
            continue  # the command line offers the instructor's commands too
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = ("." * node.level) + (node.module or "")
                assert "instructor" not in module, f"{path.name} imports {module}"
            elif isinstance(node, ast.Import):
                assert not any("instructor" in a.name for a in node.names), f"{path.name} imports the instructor tools"
