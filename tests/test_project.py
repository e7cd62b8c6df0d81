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


# Where environment.yml differs from pyproject.toml on purpose, by PyPI name: a conda-forge
# name, "pip" (taken from PyPI through its pip: list), or None (left out, with the reason there).
CONDA_NAMES = {
    "playwright": None,  # conda-forge's "playwright" is not PyPI's Python library
    "jupyterlab-language-pack-uk-ua": "pip",
}


def conda_packages() -> tuple[dict[str, str], dict[str, str]]:
    """environment.yml's conda entries and its pip: entries, each as {name: spec}."""
    conda, pip, inside = {}, {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            inside = True
        elif inside and re.match(r"^  - [^:]+$", line):
            spec = line[4:].strip()
            conda[requirement_name(spec)] = spec
        elif inside and re.match(r"^      - ", line):
            spec = line.strip()[2:]
            if not spec.startswith("-e"):
                pip[requirement_name(spec)] = spec
        elif inside and not line.startswith("  "):
            inside = False
    return conda, pip


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {requirement_name(spec): spec for spec in
              project["dependencies"] + project["optional-dependencies"]["test"]}
    conda, pip = conda_packages()
    assert conda.pop("python") == f"python{project['requires-python']}"
    conda.pop("pip")
    assert set(CONDA_NAMES) <= set(wanted), "a known difference names a package pyproject.toml lacks"
    expected_conda = {CONDA_NAMES.get(name, name): spec.replace(name, CONDA_NAMES.get(name, name), 1)
                      for name, spec in wanted.items() if CONDA_NAMES.get(name, name) not in (None, "pip")}
    expected_pip = {name: spec for name, spec in wanted.items() if CONDA_NAMES.get(name) == "pip"}
    assert conda == expected_conda
    assert {name.lower(): spec.lower() for name, spec in pip.items()} == \
        {name: spec.lower() for name, spec in expected_pip.items()}


def test_the_student_set_up_leaves_the_test_tools_out():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {requirement_name(spec) for spec in project["dependencies"]}
    assert {"pytest", "jupyterlab-language-pack-uk-ua"} <= runtime  # the grader runs pytest
    assert not runtime & {"pytest-timeout", "hypothesis", "playwright"}
    makefile = (ROOT / "Makefile").read_text()
    lab_install = re.search(r"^\$\(STAMP\):.*?\n\n", makefile, re.M | re.S)[0]
    assert "-e .\n" in lab_install and "[test]" not in lab_install
    assert re.search(r"^test: \$\(TEST_STAMP\)", makefile, re.M)
    assert re.search(r"^lab: \$\(STAMP\)$", makefile, re.M)


def test_make_lab_uk_opens_jupyterlab_in_ukrainian():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lab-uk:.*?(?=\n\n|\Z)", makefile, re.M | re.S)[0]
    assert '{"locale": "uk_UA"}' in recipe
    assert "@jupyterlab/translation-extension/plugin.jupyterlab-settings" in recipe
    assert "--LabApp.user_settings_dir=$(UK_SETTINGS)" in recipe
    assert "notebooks/uk/01_echo.ipynb" in makefile


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_commands = re.findall(r"^(?!#)(\S.*?)(?:\s+#.*)?$", readme.split("```sh", 1)[1].split("```")[0], re.M)
    assert [c.split()[:2] for c in first_commands[:2]] == [["make", "lab"], ["make", "test"]]


def test_readme_sets_up_without_make_on_windows_and_macos():
    setup = (ROOT / "README.md").read_text(encoding="utf-8").split("## What the course is")[0]
    for command in ("py -m venv .venv", r".venv\Scripts\python -m pip install -e .",
                    r".venv\Scripts\jupyter lab notebooks\01_echo.ipynb", "python3 -m venv .venv",
                    "make lab-uk"):
        assert command in setup, f"README's set-up lacks {command!r}"


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


def imported_modules(path: Path) -> list[str]:
    """What a module imports, as written: ``socket``, ``.instructor.release``, ``..i18n``."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found.append(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return found


def test_the_student_library_never_imports_the_instructor_tools():
    for path in sorted((ROOT / "socketlab").glob("*.py")):
        if path.name == "cli.py":
            continue  # the command line offers the instructor's commands too
        for module in imported_modules(path):
            assert "instructor" not in module, f"{path.name} imports {module}"


def test_make_lab_uk_really_gives_jupyterlab_the_ukrainian_locale(tmp_path):
    """`make lab-uk` as a student runs it, but on a free port, headless, and stopped at once."""
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    if shutil.which("make") is None or not (ROOT / ".venv" / "bin" / "jupyter").exists():
        pytest.skip("needs make and the project's .venv (make lab or make test makes it)")
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    settings = tmp_path / "user-settings"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    lab_args = (f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
                "--IdentityProvider.token=uk-test")
    # -o: take the installed venv as it is (no re-install during the test)
    proc = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "lab-uk", f"UK_SETTINGS={settings}",
                             f"LAB_ARGS={lab_args}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/lab/api"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/settings/@jupyterlab/translation-extension:plugin"
                                            "?token=uk-test", timeout=2) as reply:
                    plugin = json.load(reply)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
                assert time.monotonic() < deadline, "JupyterLab did not start within 60 s"
                time.sleep(0.3)
        assert plugin["settings"]["locale"] == "uk_UA"
        with urllib.request.urlopen(f"{base}/translations/?token=uk-test", timeout=5) as reply:
            languages = json.load(reply)["data"]
        assert "uk_UA" in languages, f"the language pack is not installed: {sorted(languages)}"
        assert languages["en"]["displayName"] == "Англійська"  # the server speaks Ukrainian
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make and the JupyterLab it started, nothing else
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        proc.stdout.close()


def test_every_package_the_library_imports_is_declared():
    import sys
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {requirement_name(spec) for spec in project["dependencies"]}
    optional = {"playwright"}  # the report's PDF only, which says how to install it where it is missing
    distributions = packages_distributions()
    for path in sorted((ROOT / "socketlab").rglob("*.py")):
        tops = {m.split(".")[0] for m in imported_modules(path) if m and not m.startswith(".")}
        for top in tops - set(sys.stdlib_module_names) - {"socketlab", "__future__"}:
            names = {d.lower() for d in distributions.get(top, [top])}
            assert names & (declared | optional), f"{path.relative_to(ROOT)} imports {top}: declare it"
