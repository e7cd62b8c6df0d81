"""``python -m socketlab.instructor.inside [LIMITS] -- PYTEST_ARGS…``: pytest for one graded notebook.

This is the first program inside the sandbox. Before pytest starts it:

- sets the run's resource limits, which the kernel and all it starts inherit;
- makes itself non-dumpable: no process of the run (the student's kernel
  included) may then read its memory or open its descriptors through ``/proc``,
  so the verdict channel (see :mod:`socketlab.instructor.verdicts`) stays the
  grader's;
- hides ``rfc3987_syntax`` from jsonschema (which nbformat uses): that import
  compiles a grammar, about a second per notebook, for a format notebook
  schemas never use; and loads no pytest plugin but nbval's and its own.
"""

import argparse
import os
import sys


def set_limits(memory: int, processes: int, file_size: int, cpu: int) -> None:
    import resource

    for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_NPROC, processes),
                         (resource.RLIMIT_FSIZE, file_size), (resource.RLIMIT_CPU, cpu),
                         (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))


def not_dumpable() -> None:
    import ctypes

    PR_SET_DUMPABLE = 4
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m socketlab.instructor.inside")
    for name in ("memory", "processes", "file-size", "cpu"):
        parser.add_argument(f"--{name}", type=int)
    ours, pytest_args = argv, []
    if "--" in argv:
        at = argv.index("--")
        ours, pytest_args = argv[:at], argv[at + 1:]
    options = parser.parse_args(ours)
    if sys.platform.startswith("linux"):
        not_dumpable()
        if options.memory:
            set_limits(options.memory, options.processes, options.file_size, options.cpu)
    sys.modules.setdefault("rfc3987_syntax", None)  # "not installed", for jsonschema
    # Only the plugins named on the command line (nbval) and the verdicts: a run does not pay for finding
    # and importing every pytest plugin the environment holds (xdist, hypothesis, anyio…).
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    import pytest

    return pytest.main(pytest_args, plugins=["socketlab.instructor.verdicts"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
