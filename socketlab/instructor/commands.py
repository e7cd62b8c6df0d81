"""The instructor's commands of ``socketlab``: ``release`` and ``grade``. Options only; the work is elsewhere."""

from __future__ import annotations

import argparse
import math
import os
import sys

__all__ = ["add_commands"]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive, finite number of seconds")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _size(text: str) -> int:
    from .sandbox import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(commands) -> None:
    p = commands.add_parser("release", help="make the student copies: solutions stubbed, hidden tests removed")
    p.add_argument("source", metavar="SOURCE_DIR", help="the instructor's notebooks")
    p.add_argument("out", metavar="OUT_DIR", help="where the student copies go")
    p.set_defaults(run=cmd_release)

    p = commands.add_parser("grade", help="grade SUBMISSIONS_DIR/<student>/<NN_name>.ipynb, each in a sandbox")
    p.add_argument("submissions", metavar="SUBMISSIONS_DIR")
    p.add_argument("--source", default="notebooks", help="the instructor's notebooks (default: %(default)s)")
    p.add_argument("--out", default="gradebook.csv", help="the gradebook to write (default: %(default)s)")
    p.add_argument("--jobs", type=_count, default=None, help="notebooks graded at once (default: number of cores)")
    p.add_argument("--timeout", type=_seconds, default=300.0,
                   help="wall-clock limit per notebook in seconds (default: %(default)s)")
    p.add_argument("--cell-timeout", type=_seconds, default=60.0,
                   help="limit per cell in seconds (default: %(default)s)")
    limits = p.add_argument_group("limits of each graded notebook (in the sandbox)")
    limits.add_argument("--memory", type=_size, default="2G", help="memory per process (default: %(default)s)")
    limits.add_argument("--processes", type=_count, default=256, help="processes and threads (default: %(default)s)")
    limits.add_argument("--file-size", type=_size, default="64M", help="largest file written (default: %(default)s)")
    limits.add_argument("--disk", type=_size, default="256M",
                        help="its work folder and its /tmp, each (default: %(default)s)")
    limits.add_argument("--cpu", type=_count, default=600, help="CPU seconds per process (default: %(default)s)")
    p.set_defaults(run=cmd_grade)


def cmd_release(args) -> int:
    from .release import release

    try:
        written = release(args.source, args.out)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(args, str(exc))
    for path in written:
        print(f"released {path}")
    return 0


def cmd_grade(args) -> int:
    from .gradebook import Options, grade
    from .reports import check_writable, summary_table, write_feedback, write_gradebook
    from .sandbox import Limits, available

    if not os.path.isdir(args.submissions):
        return _fail(args, f"no such folder: {args.submissions}")
    try:
        check_writable(args.out)
    except (ValueError, OSError) as exc:
        return _fail(args, str(exc))
    why_not = available()
    if why_not:
        print(f"WARNING: grading WITHOUT a sandbox ({why_not}): student code runs with your rights, "
              "one notebook at a time; the gradebook says so in its sandbox column", file=sys.stderr)
    limits = Limits(memory=args.memory, processes=args.processes, file_size=args.file_size, disk=args.disk,
                    cpu=args.cpu)
    try:
        results = grade(args.submissions, args.source, jobs=args.jobs,
                        options=Options(timeout=args.timeout, cell_timeout=args.cell_timeout, limits=limits))
    except (FileNotFoundError, ValueError) as exc:
        return _fail(args, str(exc))
    write_gradebook(results, args.out)
    feedback = write_feedback(results, os.path.join(os.path.dirname(os.path.abspath(args.out)), "feedback"))
    print(summary_table(results))
    tampered = sorted({(r.student, r.notebook) for r in results if r.status == "tampered"})
    for student, notebook in tampered:
        print(f"for review: {student} / {notebook} was graded 'tampered' (see the gradebook)", file=sys.stderr)
    print(f"\ngradebook: {args.out}; feedback for each student: {os.path.dirname(feedback[0]) if feedback else '-'}")
    return 0


def _fail(args, message: str) -> int:
    print(f"socketlab {args.command}: {message}", file=sys.stderr)
    return 1
