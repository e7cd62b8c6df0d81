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


@pytest.mark.parametrize("shard", ["4/4", "-1/2", "1/0", "half"])
def test_a_bad_shard_is_refused_before_any_work(tmp_path, shard):
    (tmp_path / "subs" / "someone").mkdir(parents=True)
    done = grade(str(tmp_path / "subs"), "--source", NOTEBOOKS, "--out", str(tmp_path / "gb.csv"), "--shard", shard)
    assert done.returncode == 2 and "--shard" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "gb.csv").exists()


def test_a_hostile_download_is_refused_with_the_reason(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "download.zip", "w") as zf:
        zf.writestr("Surname Name_12345_assignsubmission_file_/01_echo.ipynb", "{}")
        zf.writestr("../../outside.txt", "x")
    (tmp_path / "out").mkdir()
    done = grade(str(tmp_path / "download.zip"), "--source", NOTEBOOKS, "--out", str(tmp_path / "out" / "gb.csv"))
    assert done.returncode == 1 and "refused" in done.stderr and ".." in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["download.zip", "out"]  # nothing unpacked, nothing left
    assert not (tmp_path.parent / "outside.txt").exists()


def test_importing_the_graded_run_starts_nothing():
    """``socketlab.instructor.inside`` runs pytest only as a program, never on import."""
    done = subprocess.run([sys.executable, "-c", "import socketlab.instructor.inside, sys; print('imported')"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "imported", (done.stdout, done.stderr)
