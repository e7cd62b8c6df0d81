"""The package as students get it: a wheel with the course inside, Binder's set-up.

The wheel is built from a copy of the tree, installed into a fresh venv (no pip of its
own: the current pip installs into it with ``--python``; the dependencies come from the
current venv through a .pth line, so nothing is downloaded but the build backend), and
the course that ``socketlab course`` copies out of it runs under nbval.
"""

import json
import re
import xml.etree.ElementTree as ET
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from test_project import CONDA_NAMES, requirement_name, tomllib

ROOT = Path(__file__).resolve().parent.parent
SOURCE_FILES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "socketlab", "notebooks"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "uploads", "*.egg-info")


def run(*args, timeout=300, **kwargs):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for name in SOURCE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=IGNORE)
        else:
            shutil.copy2(src, tree / name)
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, tree)
    (found,) = out.glob("socketlab-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory, wheel) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # The dependencies, from the current venv; a plain path line, so its own .pth files (the
    # editable install of this checkout among them) are not read.
    (purelib / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel)
    return python


def test_the_wheel_carries_every_subpackage_and_the_course(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in (ROOT / "socketlab").rglob("__init__.py"):
        rel = init.relative_to(ROOT).as_posix()
        assert rel in names, f"{rel} is missing from the wheel: list its package in pyproject.toml"
    from socketlab.course import course_files

    course = course_files(ROOT / "notebooks")
    assert any(f.endswith(".ipynb") for f in course) and "data/lab_report_uk.txt" in course
    assert {f"socketlab/_course/{f}" for f in course} == {n for n in names if n.startswith("socketlab/_course/")}
    assert not [n for n in names if "uploads/" in n or "checkpoint" in n]
    assert "socketlab/locale/uk/LC_MESSAGES/socketlab.mo" in names and not [n for n in names if n.endswith(".po")]
    uk = zipfile.ZipFile(wheel).read("socketlab/_course/uk/01_echo.ipynb").decode("utf-8")
    assert "ваш код тут" in uk and "your code here" not in uk  # the Ukrainian copies' stubs speak Ukrainian


@pytest.mark.slow  # a wheel built, a venv made and the whole course run in it: about half a minute
def test_the_installed_wheel_copies_out_a_course_that_runs(fresh_venv, tmp_path):
    bindir = fresh_venv.parent
    where = run(fresh_venv, "-c", "import socketlab.course as c; print(c.__file__); print(c.course_source())",
                cwd=tmp_path).stdout.split()
    assert str(ROOT) not in where[0], "the fresh venv imports the checkout, not the wheel"
    assert where[1].endswith("_course")
    dest = tmp_path / "my-course"
    copied = run(bindir / "socketlab", "course", dest, cwd=tmp_path)
    assert f"open it with: jupyter lab {dest / '01_echo.ipynb'}" in copied.stdout
    assert sorted(p.name for p in dest.glob("*.ipynb")) == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert (dest / "data" / "lab_report_uk.txt").read_bytes() == (ROOT / "notebooks/data/lab_report_uk.txt").read_bytes()
    for notebook in dest.glob("*.ipynb"):  # student copies: no answer and no hidden test travels
        text = notebook.read_text(encoding="utf-8")
        assert "### BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, notebook.name
    # The copied course, run as the repo runs its notebooks, by the fresh venv's own python:
    # every cell runs, and only the checks fail (their exercises are stubs).
    junit = tmp_path / "junit.xml"
    subprocess.run([str(fresh_venv), "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
                    "--nbval-cell-timeout=60", "-q", f"--junit-xml={junit}", *sorted(dest.glob("*.ipynb"))],
                   cwd=dest, capture_output=True, text=True, timeout=900)
    failed = {(Path(case.get("classname", "")).name.removesuffix(".ipynb"), case.get("name"))
              for case in ET.parse(junit).getroot().iter("testcase") if case.find("failure") is not None}
    expected = set()
    for notebook in sorted(dest.glob("*.ipynb")):
        code = [c for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
        expected |= {(notebook.stem, f"Cell {i}") for i, c in enumerate(code) if "check" in c["metadata"].get("tags", [])}
    assert expected and failed == expected, (sorted(failed), sorted(expected))


def test_binder_installs_the_student_packages_and_the_course_not_editable():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    student = {requirement_name(spec): spec.lower() for spec in project["dependencies"]}
    conda, pip, inside = {}, {}, False
    for line in (ROOT / "binder" / "environment.yml").read_text().splitlines():
        inside = inside or line.startswith("dependencies:")
        if inside and re.match(r"^  - [^:]+$", line):
            conda[requirement_name(line[4:].strip())] = line[4:].strip().lower()
        elif inside and re.match(r"^      - ", line):
            pip[requirement_name(line.strip()[2:])] = line.strip()[2:].lower()
    assert conda.pop("python").startswith("python=3.") and conda.pop("pip") == "pip"
    assert conda == {n: s for n, s in student.items() if n not in CONDA_NAMES}
    assert pip == {n: s for n, s in student.items() if CONDA_NAMES.get(n) == "pip"}
    post = ROOT / "binder" / "postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    installs = [line for line in post.read_text().splitlines() if "pip install" in line]
    assert installs == ["python -m pip install --no-deps --no-cache-dir ."]
    assert "socketlab course course\n" in post.read_text(), "the badge opens the student copies in course/"


def test_the_readme_has_a_binder_badge_with_a_marked_placeholder():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    badge = re.search(r"\(https://mybinder\.org/v2/gh/([^/]+)/([^/]+)/HEAD\?labpath=course%2F01_echo\.ipynb\)",
                      readme)
    assert badge, "no Binder badge"
    owner, repo = badge.groups()
    assert f"`{owner}/{repo}` is a placeholder" in readme
