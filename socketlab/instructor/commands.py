"""The instructor's commands of ``socketlab``: ``release``, ``grade``, ``gradebook merge``, and the
students' ``check``. Options only; the work is elsewhere."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

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


def _shard(text: str) -> tuple[int, int]:
    from .gradebook import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(commands) -> None:
    p = commands.add_parser("release", help="make the student copies: solutions stubbed, hidden tests removed")
    p.add_argument("source", metavar="SOURCE_DIR", help="the instructor's notebooks")
    p.add_argument("out", metavar="OUT_DIR", help="where the student copies go")
    p.add_argument("--package", default="socketlab",
                   help="what the GitHub Classroom workflow installs with pip (default: %(default)s)")
    p.add_argument("--no-workflow", action="store_true", help="leave out .github/workflows/classroom.yml")
    p.set_defaults(run=cmd_release)

    p = commands.add_parser("check", help="run your notebook as the grader will (visible checks) and print points")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK")
    p.add_argument("--source", help="the instructor's notebooks, if you have them (hidden tests are left out)")
    p.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    p.add_argument("--from", dest="results", metavar="FILE", help="read results written by --json instead of running")
    p.add_argument("--only", metavar="NOTEBOOK#N", help="with --from: succeed only if that notebook's N-th check passed")
    p.add_argument("--timeout", type=_seconds, default=300.0, help="limit per notebook in seconds (default: %(default)s)")
    p.add_argument("--cell-timeout", type=_seconds, default=60.0, help="limit per cell (default: %(default)s)")
    p.set_defaults(run=cmd_check)

    p = commands.add_parser("gradebook", help="work with gradebooks: merge the parts graded on several machines")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    m = sub.add_parser("merge", help="join gradebooks (a later part wins for a student's notebook)")
    m.add_argument("parts", nargs="+", metavar="PART")
    m.add_argument("--out", required=True, help="the merged gradebook to write")
    m.add_argument("--feedback", help="the folder of feedback pages (default: feedback/ beside --out)")
    m.add_argument("--roster", help="Moodle's grading worksheet, to fill in (keeps e-mail addresses)")
    m.set_defaults(run=cmd_merge)

    p = commands.add_parser("grade", help="grade a folder or zip of submissions (plain or Moodle's), each in a sandbox")
    p.add_argument("submissions", metavar="SUBMISSIONS", help="a folder (<student>/<NN_name>.ipynb) or Moodle's zip")
    p.add_argument("--source", default="notebooks", help="the instructor's notebooks (default: %(default)s)")
    p.add_argument("--out", default="gradebook.csv", help="the gradebook to write (default: %(default)s)")
    p.add_argument("--jobs", type=_count, default=None, help="notebooks graded at once (default: twice the cores and one)")
    p.add_argument("--timeout", type=_seconds, default=300.0,
                   help="wall-clock limit per notebook in seconds (default: %(default)s)")
    p.add_argument("--cell-timeout", type=_seconds, default=60.0,
                   help="limit per cell in seconds (default: %(default)s)")
    p.add_argument("--student", action="append", metavar="NAME",
                   help="regrade only this student (folder name, full name or participant id; repeatable) and "
                        "merge into the existing gradebook")
    p.add_argument("--shard", type=_shard, metavar="K/N",
                   help="grade only the K-th of N parts of the (student, notebook) pairs, K from 0")
    p.add_argument("--roster", help="Moodle's grading worksheet, to fill in (keeps e-mail addresses)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    limits = p.add_argument_group("limits of each graded notebook (in the sandbox)")
    limits.add_argument("--memory", type=_size, default="2G", help="memory per process (default: %(default)s)")
    limits.add_argument("--processes", type=_count, default=256, help="processes and threads (default: %(default)s)")
    limits.add_argument("--file-size", type=_size, default="64M", help="largest file written (default: %(default)s)")
    limits.add_argument("--disk", type=_size, default="256M",
                        help="its work folder and its /tmp, each (default: %(default)s)")
    limits.add_argument("--cpu", type=_count, default=600, help="CPU seconds per process (default: %(default)s)")
    p.set_defaults(run=cmd_grade)


def cmd_release(args) -> int:
    from .release import editions, release

    try:
        written = release(args.source, args.out, workflow=not args.no_workflow, package=args.package)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(args, str(exc))
    for path in written:
        print(f"released {path}")
    for folder in editions(args.source):  # one edition a classroom: each released on its own
        print(f"another edition, {folder.name}: socketlab release {Path(args.source, folder.name)} OUT_DIR")
    return 0


def cmd_check(args) -> int:
    from .gradebook import InvalidSubmission, Options
    from .sandbox import available
    from .selfcheck import check, format_results, picked, sandbox_line, to_json, total_line

    if args.results:
        if not args.only:
            return _fail(args, "--from needs --only NOTEBOOK#N")
        result = picked(args.results, args.only)
        if result is None:
            print(f"{args.only}: no result (did the notebook run?)")
            return 1
        print(f"{'✔' if result['status'] == 'passed' else '✘'} {result['points']}/{result['max_points']}  "
              f"{result['check']}" + (f"\n      {result['message']}" if result["message"] else ""))
        return 0 if result["status"] == "passed" else 1
    if not args.notebooks:
        return _fail(args, "name the notebooks to check, e.g. socketlab check 01_echo.ipynb")
    why_not = available()
    print(sandbox_line(why_not))
    everything, failed = [], False
    options = Options(timeout=args.timeout, cell_timeout=args.cell_timeout)
    for notebook in args.notebooks:
        print(f"\n{notebook}", flush=True)
        try:
            results = check(notebook, args.source, options)
        except (OSError, InvalidSubmission, ValueError) as exc:
            print(f"  cannot check it: {exc}")
            failed = True
            continue
        print(format_results(results))
        everything += results
        failed |= any(r.status != "passed" for r in results)
    if len(args.notebooks) > 1:
        print("\n" + total_line(everything))
    if args.json:
        import json

        Path(args.json).write_text(json.dumps(to_json(everything), ensure_ascii=False, indent=1), encoding="utf-8")
    return 1 if failed else 0


def _write_outputs(args, results, out: Path, roster, *, moodle: bool = True) -> None:
    """The Markdown feedback, and (for a whole class) Moodle's worksheet and feedback zip."""
    from .moodle import write_feedback_zip, write_worksheet
    from .reports import write_feedback

    feedback = out.parent / "feedback"
    write_feedback(results, feedback)
    if not moodle:
        return
    if any(r.participant for r in results):
        left_out = write_worksheet(results, out.parent / "grades.csv", roster)
        write_feedback_zip(results, feedback, out.parent / "feedback.zip", markdown=feedback)
        print(f"for Moodle: {out.parent / 'grades.csv'} (grading worksheet), {out.parent / 'feedback.zip'} "
              "(feedback files)")
        if left_out:
            print(f"not in grades.csv/feedback.zip (no Moodle participant id): {', '.join(left_out)}")


def cmd_grade(args) -> int:
    from .gradebook import GradingInterrupted, Journal, Options, grade
    from .intake import HostileArchive
    from .pages import write_page
    from .reports import check_writable, merge_gradebooks, read_gradebook, summary_table, write_gradebook
    from .sandbox import Limits, available

    if not os.path.exists(args.submissions):
        return _fail(args, f"no such folder or zip: {args.submissions}")
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
    out = Path(args.out).absolute()
    pages = out.parent / "feedback"
    import nbformat

    sources = {p.name: nbformat.read(p, as_version=4) for p in sorted(Path(args.source).glob("*.ipynb"))}

    def page(sub, name, results, run) -> None:
        try:
            write_page(sources[name], run, results, sub.key, pages)
        except Exception as exc:  # a page is a courtesy: never the cause of a lost grade
            print(f"WARNING: no feedback page for {sub.key} / {name}: {type(exc).__name__}: {exc}", file=sys.stderr)

    # Each finished pair is kept here at once; a rerun of a stopped or killed run takes them back.
    journal = Journal(out.parent / f"{out.name}.journal")
    if journal.path.exists():
        print(f"resuming: the pairs {journal.path} holds are not graded again", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix=".socketlab-unpacked-", dir=out.parent))
    previous = signal.signal(signal.SIGTERM, _terminated)  # a batch system's "stop": like Ctrl-C
    interrupted = None
    try:
        results = grade(args.submissions, args.source, jobs=args.jobs, students=args.student, shard=args.shard,
                        work=work / "w", progress=not args.no_progress, on_notebook=page, journal=journal,
                        options=Options(timeout=args.timeout, cell_timeout=args.cell_timeout, limits=limits))
    except GradingInterrupted as exc:
        results, interrupted = exc.results, exc
    except HostileArchive as exc:
        return _fail(args, f"refused {args.submissions}: {exc}")
    except (FileNotFoundError, ValueError) as exc:
        return _fail(args, str(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(work, ignore_errors=True)
    if args.student:
        matched = {x for r in results for x in (r.student, r.name, r.participant)}
        for wanted in args.student:
            if wanted not in matched:
                print(f"socketlab grade: no student {wanted!r} in {args.submissions}", file=sys.stderr)
    if args.student and out.exists():
        merge_gradebooks([out], out, replace_with=results)
        everyone = read_gradebook(out)
    else:
        write_gradebook(results, out)
        everyone = results
    _write_outputs(args, everyone, out, args.roster, moodle=args.shard is None)
    print(summary_table(everyone))
    for student in sorted({r.student for r in results}):
        notes = sorted({n for r in results if r.student == student and r.note for n in r.note.split("; ")})
        for note in notes:
            print(f"{student}: {note}", file=sys.stderr)
    print(f"\ngradebook: {out}; feedback for each student: {pages}")
    if interrupted is not None:
        print(f"socketlab grade: interrupted: {interrupted.left} notebook(s) not graded; the gradebook holds the "
              f"{len({(r.student, r.notebook) for r in results})} finished. Run the same command again to grade "
              "the rest.", file=sys.stderr)
        return 130
    journal.remove()  # all graded and written: the next run starts afresh
    return 0


def _terminated(signum, frame):
    raise KeyboardInterrupt


def cmd_merge(args) -> int:
    from .reports import merge_gradebooks, read_gradebook, summary_table

    out = Path(args.out).absolute()
    try:
        count = merge_gradebooks(args.parts, out)
    except (OSError, ValueError) as exc:
        return _fail(args, str(exc))
    results = read_gradebook(out)
    feedback = Path(args.feedback) if args.feedback else out.parent / "feedback"
    if feedback != out.parent / "feedback" and feedback.is_dir():
        shutil.copytree(feedback, out.parent / "feedback", dirs_exist_ok=True)
    _write_outputs(args, results, out, args.roster)
    print(summary_table(results))
    print(f"\nmerged {len(args.parts)} gradebooks, {count} rows: {out}")
    return 0


def _fail(args, message: str) -> int:
    print(f"socketlab {args.command}: {message}", file=sys.stderr)
    return 1
