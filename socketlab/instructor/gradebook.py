"""Grade a folder of submissions: each notebook in a sandbox, its verdicts decided here.

Submissions come as :mod:`socketlab.instructor.intake` finds them (a folder or a
zip, plain or as Moodle downloads them). For each (student, notebook) pair, in the
grader's own process:

1. the file is read safely (:func:`read_submission`): a regular file of bounded
   size, no symlink, FIFO or device, valid notebook JSON, else ``invalid``;
2. the graded notebook is built from the instructor's, with the student's
   solution cells (:mod:`socketlab.instructor.build`); nothing about how an
   answer is written is judged;
3. it runs under nbval in a sandbox (:mod:`socketlab.instructor.sandbox`), or
   where there is none in a plain process, one at a time;
4. each cell's record comes back over a pipe (:mod:`socketlab.instructor.verdicts`)
   and the verdicts are decided from it: where the judge ran a check
   (:mod:`socketlab.instructor.judge`), its verdict alone; elsewhere (Windows) nbval's
   outcome, the kernel's execute reply and the errors it showed.

No submission can end the run for the others: every failure of one is a
status in its own rows. The pairs can be split across machines (``shard``, by a
stable hash) and the run stopped with Ctrl-C: the notebooks already graded are
kept (:class:`GradingInterrupted` carries them), the ones running are killed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat

from . import cgroup
from .build import build_graded_notebook
from .sandbox import Limits, Sandbox, available
from .texts import visible

__all__ = ["CheckResult", "Options", "grade", "grade_notebook", "read_submission", "InvalidSubmission",
           "GradingInterrupted", "in_shard", "parse_shard"]

MAX_NOTEBOOK_BYTES = 16 * 2**20   # a course notebook with outputs is well under 1 MB
MAX_VERDICT_BYTES = 32 * 2**20
# subprocess hands a child inherited descriptors (pass_fds) on POSIX only.
PASSES_FDS = os.name != "nt"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PENDING = ("not run", "the notebook stopped before this check")


@dataclass(frozen=True)
class CheckResult:
    student: str
    notebook: str
    check: str
    points: int
    max_points: int
    status: str  # passed, failed, error, skipped, timeout, not run, missing, invalid
    message: str = ""
    hidden: bool = False  # the hidden tests failed: named to the student, not shown
    sandbox: str = ""     # "bwrap", or why there was none
    name: str = ""        # the student's full name, where the LMS gave one
    participant: str = ""  # the LMS's participant id ("" if none)
    note: str = ""        # what could not be matched or was chosen when the files were collected

    def __post_init__(self):
        # Every text of a result can be written and shown as it is (see socketlab.instructor.texts).
        for name in ("student", "notebook", "check", "sandbox", "name", "participant", "note"):
            object.__setattr__(self, name, visible(str(getattr(self, name))))
        object.__setattr__(self, "message", visible(str(self.message), keep="\n"))


@dataclass(frozen=True)
class Options:
    timeout: float = 300.0       # wall clock per notebook, seconds
    cell_timeout: float = 60.0   # per cell, seconds
    limits: Limits = Limits()

    def __post_init__(self):
        for name in ("timeout", "cell_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name.replace('_', '-')} must be a positive number of seconds, not {value!r}")


# ---- reading a submission -------------------------------------------------------------


class InvalidSubmission(Exception):
    """A submitted file that is not a notebook we will read: the message says why."""


def read_submission(path: Path) -> list[dict]:
    """The code cells of a submitted notebook, as ``{"id", "tags", "source"}`` dicts, read defensively."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise
    if stat.S_ISLNK(st.st_mode):
        raise InvalidSubmission("it is a symbolic link, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InvalidSubmission("it is not a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InvalidSubmission("it is not a regular file")
        data = f.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise InvalidSubmission(f"it is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidSubmission("it is not valid notebook JSON") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) or not isinstance(nb.get("metadata", {}), dict):
        raise InvalidSubmission("it is JSON, but not a notebook")
    cells = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise InvalidSubmission("it is JSON, but not a notebook: a cell is not a cell")
        if cell["cell_type"] != "code":
            continue
        source, metadata = cell.get("source", ""), cell.get("metadata", {})
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        tags = metadata.get("tags", []) if isinstance(metadata, dict) else []
        cell_id = cell.get("id")
        if not isinstance(source, str) or not isinstance(tags, list) or not all(isinstance(t, str) for t in tags) \
                or not isinstance(cell_id, (str, type(None))):
            raise InvalidSubmission("a code cell's source, tags or id is malformed")
        cells.append({"id": cell_id, "tags": tags, "source": source})
    return cells


# ---- running one notebook ----------------------------------------------------------------

_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()
_stopping = threading.Event()


class _Stopped(BaseException):
    """Grading was interrupted while this notebook ran: it has no result (not an ``Exception``)."""


def _stop_all() -> None:
    """Kill every run in progress (Ctrl-C): their workers then give up without a result."""
    _stopping.set()
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        _kill_tree(proc)


def _run(nb, data_dir: Path | None, options: Options, slot: int,
         plans: dict[int, dict] | None = None) -> tuple[dict[int, dict], bool, str]:
    """Run a graded notebook (``plans``: its judge's, by cell number); returns (records by cell number,
    timed out, sandbox description)."""
    with tempfile.TemporaryDirectory(prefix="socketlab-grade-") as tmp:
        tmp = Path(tmp)
        nbformat.write(nb, tmp / "submission.ipynb")
        # The plans reach the judge as a file with no name, open only in the run's first program.
        plans_file = tempfile.TemporaryFile()
        plans_file.write(json.dumps({str(k): v for k, v in (plans or {}).items()}).encode())
        plans_file.seek(0)
        plans_fd = plans_file.fileno()
        (tmp / "pytest.ini").write_text("[pytest]\n")  # none of the course's own settings
        # nbval and nothing else: no plugin installed beside it is looked for or loaded (see inside.py)
        pytest_args = ["-q", "-c", "pytest.ini", "-p", "nbval.plugin", "-p", "no:cacheprovider", "--nbval-lax",
                       "--nbval-current-env",
                       f"--nbval-cell-timeout={options.cell_timeout:g}", "submission.ipynb"]
        judge_args = [*options.limits.args(), "--", *pytest_args]
        inner = [sys.executable, "-I", "-m", "socketlab.instructor.inside", *judge_args]
        read_end, write_end = os.pipe()
        verdict_file = None  # where no descriptor reaches a child (Windows): the records' file instead
        group = None  # the run's control group, where there is one
        why_not = available()
        if why_not is None:
            files = {"submission.ipynb": tmp / "submission.ipynb", "pytest.ini": tmp / "pytest.ini"}
            if data_dir is not None and data_dir.is_dir():
                files["data"] = data_dir
            argv, fds = Sandbox(options.limits, slot=slot).judge(
                files, judge_args, keep_fds=[write_end], env={"SOCKETLAB_VERDICT_FD": str(write_end),
                                                              "SOCKETLAB_PLANS_FD": str(plans_fd)})
            group = cgroup.make(options.limits.memory, options.limits.processes)
            if group is not None:
                argv = group.wrap(argv)
            cwd, env = tmp, {}
        else:
            if data_dir is not None and data_dir.is_dir():
                import shutil

                shutil.copytree(data_dir, tmp / "data")
            argv, fds, cwd = inner, [write_end], tmp
            env = {**os.environ, "SOCKETLAB_VERDICT_FD": str(write_end), "SOCKETLAB_PLANS_FD": str(plans_fd),
                   "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "agg"}
            if not PASSES_FDS:  # (no plans either: where no descriptor passes, the kernel judges its checks)
                verdict_file = tmp / "verdicts.jsonl"
                env.pop("SOCKETLAB_VERDICT_FD")
                env.pop("SOCKETLAB_PLANS_FD")
                env["SOCKETLAB_VERDICT_FILE"] = str(verdict_file)
                os.close(write_end)
                fds = []
        chunks: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(read_end, chunks), daemon=True)
        try:
            with open(tmp / "pytest.log", "wb") as log:
                proc = subprocess.Popen(argv, cwd=cwd, env=env, pass_fds=[*fds, plans_fd] if PASSES_FDS else fds,
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        finally:
            for fd in fds:
                os.close(fd)
            plans_file.close()
        with _running_lock:
            _running.add(proc)
        reader.start()
        try:
            if _stopping.is_set():
                raise _Stopped()
            proc.wait(options.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_tree(proc)
            with _running_lock:
                _running.discard(proc)
            if group is not None:
                group.remove()
        reader.join(10)
        if _stopping.is_set():
            raise _Stopped()
        if verdict_file is not None and verdict_file.is_file():  # unsandboxed: trusted code only, as the output says
            with open(verdict_file, "rb") as records:
                chunks = [records.read(MAX_VERDICT_BYTES)]
        return _records(b"".join(chunks)), timed_out, "bwrap" if why_not is None else f"none ({why_not})"


def _drain(fd: int, chunks: list[bytes]) -> None:
    """Read the verdict pipe to its end, keeping at most MAX_VERDICT_BYTES."""
    kept = 0
    with open(fd, "rb", buffering=0) as pipe:
        while block := pipe.read(65536):
            if kept < MAX_VERDICT_BYTES:
                chunks.append(block[:MAX_VERDICT_BYTES - kept])
                kept += len(block)


def _records(data: bytes) -> dict[int, dict]:
    records = {}
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("cell"), int):
            records.setdefault(record["cell"], record)  # the first word on a cell is the one that counts
    return records


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the run and everything it started (in a sandbox, killing bwrap ends its PID space)."""
    import psutil

    try:
        tree = psutil.Process(proc.pid)
        family = [*tree.children(recursive=True), tree]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    if hasattr(os, "killpg"):  # POSIX: the session the run was started in, stragglers included
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


# ---- deciding verdicts ------------------------------------------------------------------


def _clean(text: str) -> str:
    return _ANSI.sub("", text)


def _message(record: dict) -> str:
    """What went wrong, in one line: the error the cell raised, or nbval's word."""
    for error in record.get("errors", [])[:1]:
        ename, evalue = _clean(str(error.get("ename", ""))), _clean(str(error.get("evalue", "")))
        if ename == "CheckFailed" and evalue:  # the check's own one line says it all
            return evalue[:500]
        return (f"{ename}: {evalue}" if evalue else ename)[:500]
    lines = [line.strip() for line in _clean(str(record.get("message", ""))).splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _cell_verdict(record: dict | None, judged: bool = False) -> tuple[str, str]:
    """A cell's verdict. A ``judged`` cell's is the judge's alone: the kernel's word, whatever it shows or
    hides, neither passes nor fails it (see socketlab.instructor.judge)."""
    if record is None:
        return _PENDING
    if record.get("outcome") == "skipped":
        return "skipped", f"not run: an earlier cell hung or the kernel died ({_message(record)})"
    timed_out = "Timeout" in str(record.get("message", "")) and not record.get("errors")
    if judged:
        verdict = record.get("judged") if isinstance(record.get("judged"), dict) else {}
        if verdict.get("passed") is True:
            return "passed", ""
        if timed_out:
            return "timeout", _message(record)
        return "failed", _clean(str(verdict.get("message") or "the check never reached the grader"))[:500]
    if record.get("outcome") == "passed" and record.get("reply") == "ok" and not record.get("errors"):
        return "passed", ""
    if timed_out:
        return "timeout", _message(record)
    return "failed", _message(record) or f"the cell ended with status {record.get('reply')}"


def grade_notebook(student: str, name: str, source_nb, path: Path | None, data_dir: Path | None,
                   options: Options = Options(), *, slot: int = 0, keep: dict | None = None) -> list[CheckResult]:
    """The results of one student's notebook; ``keep`` (if given) receives the graded notebook and records."""
    def every_check(status: str, message: str, sandbox: str = "") -> list[CheckResult]:
        checks = build_graded_notebook(source_nb).checks  # the checks come from the source alone
        return [CheckResult(student, name, c.name, 0, c.points, status, message, sandbox=sandbox) for c in checks]

    try:
        if path is None:
            raise FileNotFoundError(name)
        cells = read_submission(path)
    except FileNotFoundError:
        return every_check("missing", f"{name} was not submitted")
    except (InvalidSubmission, OSError) as exc:
        return every_check("invalid", f"{name} could not be read as a notebook: {exc}")
    graded = build_graded_notebook(source_nb, cells)
    records, timed_out, sandbox = _run(graded.nb, data_dir, options, slot, graded.plans)
    if keep is not None:
        keep.update(graded=graded, records=records)
    results = []
    for check in graded.checks:
        status, message = _cell_verdict(records.get(check.visible_cell), check.visible_cell in graded.plans)
        hidden = False
        if status == "passed" and check.hidden_cell is not None:
            status, message = _cell_verdict(records.get(check.hidden_cell), check.hidden_cell in graded.plans)
            hidden = status != "passed"
        if timed_out and status == "not run":
            status, message = "timeout", f"the notebook ran past the limit of {options.timeout:g} s"
        results.append(CheckResult(student, name, check.name, check.points if status == "passed" else 0,
                                   check.points, status, message, hidden, sandbox))
    return results


# ---- a whole class ---------------------------------------------------------------------------


class GradingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during :func:`grade`: ``results`` holds the notebooks finished before it."""

    def __init__(self, results: list[CheckResult], left: int):
        super().__init__(f"grading stopped with {left} notebook(s) not graded")
        self.results, self.left = results, left


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (K from 0 to N-1, as JOB_COMPLETION_INDEX and SLURM_ARRAY_TASK_ID count) -> ``(K, N)``."""
    try:
        k, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ValueError(f"{text!r} is not K/N (e.g. 0/4: the first of 4 shards)") from None
    if not (n >= 1 and 0 <= k < n):
        raise ValueError(f"{text!r}: K must be from 0 to N-1 and N at least 1")
    return k, n


def in_shard(student: str, notebook: str, shard: tuple[int, int] | None) -> bool:
    """Whether the pair belongs to ``shard``: a stable hash, the same on every machine and Python."""
    if shard is None:
        return True
    k, n = shard
    digest = hashlib.sha256(f"{student}\0{notebook}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n == k


def default_jobs() -> int:
    """Twice the cores and one: a graded notebook spends much of its time waiting on its sockets (on 2 cores,
    benchmarks/grading.py: 106 s for 90 notebooks with 3 jobs, 85 s with 5, 87 s with 8)."""
    return 2 * (os.cpu_count() or 1) + 1


def students_in(submissions: Path) -> list[Path]:
    """The student folders: real folders only (a symlink could point anywhere)."""
    return sorted(p for p in submissions.iterdir()
                  if not p.name.startswith(".") and p.is_dir() and not p.is_symlink())


def _wanted(sub, students) -> bool:
    return students is None or bool({sub.key, sub.name, sub.participant} & set(students))


class Journal:
    """Each graded pair's results, written the moment it is done: a run that is killed, crashes or is
    stopped keeps every finished pair, and the same command run again grades only the rest.

    One JSON line per pair, flushed and synced; a pair is taken back only if its submission and the
    instructor's notebook are byte for byte the ones it was graded from (their SHA-256), and a line
    cut short by a kill is skipped.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.lock = threading.Lock()

    def finished(self) -> dict[tuple[str, str, str], list[CheckResult]]:
        """``{(student, notebook, digest): results}`` of what the journal holds."""
        found = {}
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return found
        for line in lines:
            try:
                entry = json.loads(line)
                found[(entry["student"], entry["notebook"], entry["digest"])] = [CheckResult(**r) for r in entry["results"]]
            except (ValueError, KeyError, TypeError):
                continue  # the last line of a killed run, or not ours
        return found

    def add(self, student: str, notebook: str, digest: str, results: list[CheckResult]) -> None:
        line = json.dumps({"student": student, "notebook": notebook, "digest": digest,
                           "results": [dataclasses.asdict(r) for r in results]}, ensure_ascii=True)
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _digest(path: Path | None, source_text: str) -> str:
    """What a pair was graded from: its submission's bytes (or none) and the instructor's notebook."""
    digest = hashlib.sha256(source_text.encode("utf-8", "surrogatepass"))
    if path is not None:
        with contextlib.suppress(OSError):
            st = os.lstat(path)
            digest.update(f"{st.st_mode}:{st.st_size}:{st.st_mtime_ns}".encode())
            if stat.S_ISREG(st.st_mode):  # (never opened otherwise: a FIFO would block, a link lead anywhere)
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
                with open(fd, "rb") as f:
                    digest.update(f.read(MAX_NOTEBOOK_BYTES + 1))
    return digest.hexdigest()


def grade(submissions, source="notebooks", *, jobs: int | None = None, options: Options = Options(),
          students: list[str] | None = None, shard: tuple[int, int] | None = None, work=None,
          progress: bool = False, on_notebook=None, journal: Journal | None = None) -> list[CheckResult]:
    """Grade a class against ``source``: a folder or zip of submissions, or a list of
    :class:`~socketlab.instructor.intake.Submission`.

    ``students``: only these (folder name, full name or participant id); ``shard``: only the
    pairs of ``(K, N)``; ``work``: where zips are unpacked (a new folder; default: a temporary
    one); ``progress``: a progress bar on stderr; ``on_notebook(submission, notebook, results,
    run)``: called as each notebook is done, ``run`` holding its graded notebook and records;
    ``journal``: where each pair's results are kept as it finishes, and taken from on a rerun.
    Ctrl-C raises :class:`GradingInterrupted` with the results of the notebooks finished.
    """
    from .intake import collect

    source = Path(source)
    sources = {p.name: nbformat.read(p, as_version=4) for p in sorted(source.glob("*.ipynb"))}
    if not sources:
        raise FileNotFoundError(f"no source notebooks in {source}")
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    if isinstance(submissions, (str, os.PathLike)):
        if work is None:
            with tempfile.TemporaryDirectory(prefix="socketlab-unpacked-") as tmp:
                return grade(collect(submissions, list(sources), Path(tmp) / "work"), source, jobs=jobs,
                             options=options, students=students, shard=shard, progress=progress,
                             on_notebook=on_notebook, journal=journal)
        submissions = collect(submissions, list(sources), work)
    if available() is not None:
        jobs = 1  # without a sandbox, two notebooks binding one port would meet: one at a time
    jobs = jobs or default_jobs()
    tasks = [(sub, name) for sub in submissions if _wanted(sub, students) for name in sources
             if in_shard(sub.key, name, shard)]
    kept, digests = {}, [""] * len(tasks)
    if journal is not None:  # what each pair is graded from, to take back only what was graded from the same
        texts = {name: nbformat.writes(nb) for name, nb in sources.items()}
        digests = [_digest(sub.notebooks.get(name), texts[name]) for sub, name in tasks]
        kept = journal.finished()
    slots = list(range(jobs))
    lock = threading.Lock()
    _stopping.clear()

    def one(i: int) -> list[CheckResult]:
        sub, name = tasks[i]
        with lock:
            slot = slots.pop()
        keep: dict = {}
        try:
            found = grade_notebook(sub.key, name, sources[name], sub.notebooks.get(name), source / "data", options,
                                   slot=slot, keep=keep)
        except Exception as exc:  # a bug of ours must cost one notebook, never the class
            found = [replace(r, status="error", message=f"the grader failed: {type(exc).__name__}: {exc}")
                     for r in grade_notebook(sub.key, name, sources[name], None, None)]
        finally:
            with lock:
                slots.append(slot)
        mine = [n for n in sub.notes if n.startswith(f"{name}:") or not re.match(r"^\d+_.*?\.ipynb:", n)]
        found = [replace(r, name=sub.name, participant=sub.participant, note="; ".join(mine)) for r in found]
        if on_notebook is not None:
            on_notebook(sub, name, found, keep)
        if journal is not None and not _stopping.is_set():
            journal.add(sub.key, name, digests[i], found)
        return found

    from tqdm import tqdm

    done: dict[int, list[CheckResult]] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    bar = tqdm(total=len(tasks), unit="notebook", desc="grading", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    for i, (sub, name) in enumerate(tasks):  # graded already, from these very files: taken back
        if (sub.key, name, digests[i]) in kept:
            done[i] = kept[(sub.key, name, digests[i])]
            bar.update(1)
    futures = {pool.submit(one, i): i for i in range(len(tasks)) if i not in done}
    try:
        for future in concurrent.futures.as_completed(futures):
            done[futures[future]] = future.result()
            bar.update(1)
    except BaseException as exc:
        _stop_all()
        pool.shutdown(wait=True, cancel_futures=True)
        for future, i in futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                done.setdefault(i, future.result())
        bar.close()
        if isinstance(exc, (KeyboardInterrupt, _Stopped)):
            raise GradingInterrupted([r for i in sorted(done) for r in done[i]], len(tasks) - len(done)) from None
        raise
    finally:
        _stopping.clear()
    pool.shutdown(wait=True)
    bar.close()
    return [r for i in sorted(done) for r in done[i]]
