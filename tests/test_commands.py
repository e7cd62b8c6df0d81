"""The instructor's commands refuse bad options at once, before any grading starts."""

import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = str(Path(__file__).resolve().parent.parent / "notebooks")


def grade(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "socketlab", "grade", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


@pytest.mark.parametrize("option", [["--jobs", "-1"], ["--jobs", "0"], ["--timeout", "nan"], ["--timeout", "inf"],
                                    ["--cell-timeout", "nan"], ["--cell-timeout", "-5"], ["--memory", "lots"],
                                    ["--processes", "0"]])
def test_bad_values_are_one_line_before_any_work(tmp_path, option):
    (tmp_path / "subs" / "someone").mkdir(parents=True)
    done = grade(str(tmp_path / "subs"), "--source", NOTEBOOKS, "--out", str(tmp_path / "gb.csv"), *option)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert option[0] in done.stderr
    assert not (tmp_path / "gb.csv").exists()


def test_an_out_folder_is_refused_before_grading(tmp_path):
    (tmp_path / "subs" / "someone").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    done = grade(str(tmp_path / "subs"), "--source", NOTEBOOKS, "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "is a folder" in done.stderr and "Traceback" not in done.stderr
    assert "student" not in done.stdout  # no summary: nothing was graded
