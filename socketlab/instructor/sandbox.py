"""Where one graded notebook runs: a bubblewrap sandbox on Linux, a plain process elsewhere.

Inside the sandbox (``bwrap``, the tool Flatpak is built on) a graded run has:

- an unprivileged user: uid 65534 with no capabilities (when the grader is root,
  it first drops to a uid of its own per run, where the Python environment is
  open to other users);
- read-only views of the system's ``/usr``, the Python environment and the
  ``socketlab`` package, and nothing else of the host: no other submission, no
  source notebook, no gradebook, no feedback folder, no home folder;
- as its only writable places a work folder (``/grade``, which holds its ``/tmp``)
  and ``/dev/shm``, in memory and within ``--disk`` together, so nothing it writes
  reaches the host's disk; the root, ``/dev`` and every bind are read-only, so no
  folder on any ``sys.path`` can be written;
- its own network with only loopback, its own PID space, no way to make new user
  namespaces, and ``--die-with-parent``: it ends when the grader ends;
- limits on memory, processes, file size and CPU time, set by
  :mod:`socketlab.instructor.inside` before pytest starts, and where the
  system allows it a control group of its own (:mod:`socketlab.instructor.cgroup`)
  that counts all its memory, in-memory files and ``memfd``s included, against
  ``--memory``.

Folders are handed to bwrap as open file descriptors (``--ro-bind-fd``), so a
Python installed under ``/root`` can be shown to an unprivileged user without
opening ``/root`` itself.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import socketlab
from .. import studentside

__all__ = ["Limits", "Sandbox", "available", "parse_size"]

WORK = "/grade"  # the run's working folder, inside the sandbox
_SYSTEM = ["/usr", "/bin", "/lib", "/lib32", "/lib64", "/sbin"]
_ETC = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf", "/etc/hosts"]
_FIRST_UID = 61000  # a root grader runs job N as uid 61000 + N: unprivileged, and one per job
# The sandbox's first program: the real package's folder is the descriptor in argv[1], for this process
# only; then the judge's pytest (socketlab.instructor.inside) with the rest of the arguments.
_JUDGE_BOOT = ("import os, sys; fd = int(sys.argv.pop(1)); os.set_inheritable(fd, False); "
               "sys.path.insert(0, f'/proc/self/fd/{fd}'); import socketlab.studentside as s; s.MOUNTED = True; "
               "from socketlab.instructor.inside import main; "
               "sys.exit(main(sys.argv[1:]))")


def parse_size(text: str) -> int:
    """``"2G"``, ``"512M"``, ``"64k"`` or a number of bytes -> bytes."""
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    text = str(text).strip().lower().removesuffix("b").removesuffix("i")
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        value = float(number) * factor
    except ValueError:
        raise ValueError(f"not a size: {text!r} (say e.g. 2G, 512M or 1048576)") from None
    if not (0 < value < 2**62):
        raise ValueError(f"a size must be positive: {text!r}")
    return int(value)


@dataclass(frozen=True)
class Limits:
    """What one graded notebook may use: each process's memory, file size and CPU; all processes."""

    memory: int = 2 * 2**30     # address space per process, bytes
    processes: int = 256        # processes and threads of the run's user
    file_size: int = 64 * 2**20  # the largest file it may write, bytes
    disk: int = 256 * 2**20     # every place it may write, in all: work folder, /tmp, /dev/shm (in memory)
    cpu: int = 600              # CPU seconds per process

    def args(self) -> list[str]:
        """Options for ``python -m socketlab.instructor.inside``."""
        return [f"--memory={self.memory}", f"--processes={self.processes}", f"--file-size={self.file_size}",
                f"--cpu={self.cpu}"]


def _package_root() -> Path:
    return Path(socketlab.__file__).resolve().parent


def _python_folders() -> list[Path]:
    """The folders the interpreter and its packages live in, each once, outermost first."""
    candidates = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    candidates.add(Path(sys.executable).resolve().parent.parent)
    folders: list[Path] = []
    for path in sorted(candidates, key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(f) for f in folders):
            folders.append(path)
    return folders


def _open_to_all(path: Path) -> bool:
    """Whether any user may walk down to ``path``."""
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


class Sandbox:
    """The ``bwrap`` command line for one run, and the descriptors it needs kept open."""

    def __init__(self, limits: Limits, *, slot: int = 0):
        self.limits = limits
        self.slot = slot

    def command(self, files: dict[str, Path], inner: list[str], *, keep_fds: list[int],
                env: dict[str, str] | None = None) -> tuple[list[str], list[int]]:
        """``(argv, fds)``: ``inner`` run in ``WORK``, with ``files`` (name -> host path) shown read-only there.

        ``fds`` must be passed to the child (``pass_fds``) and closed by the caller afterwards.
        """
        fds: list[int] = []
        args = ["bwrap", "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--disable-userns", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--uid", "65534", "--gid", "65534", "--hostname", "grading"]

        def bind(host: Path | str, dest: str) -> None:
            fd = os.open(host, os.O_PATH | os.O_CLOEXEC)
            fds.append(fd)
            args.extend(["--ro-bind-fd", str(fd), dest])

        # The private /tmp first: binds are made in order, and a later tmpfs would hide a Python
        # environment (or a checkout) that lives under /tmp.
        # Every writable place is in one budget, --disk: the work folder holds /tmp too, and /dev/shm has a
        # small share of its own. The root and /dev are made read-only at the end.
        shm = min(16 * 2**20, self.limits.disk // 8)
        args += ["--proc", "/proc", "--dev", "/dev", "--size", str(shm), "--tmpfs", "/dev/shm",
                 "--size", str(self.limits.disk - shm), "--tmpfs", WORK, "--dir", f"{WORK}/.tmp",
                 "--symlink", f"{WORK}/.tmp", "/tmp"]
        for path in _SYSTEM:
            if os.path.islink(path):
                args.extend(["--symlink", os.readlink(path), path])
            elif os.path.isdir(path):
                bind(path, path)
        for path in _ETC:
            if os.path.exists(path):
                bind(path, path)
        for folder in _python_folders():
            bind(folder, str(folder))
        # Where the package is (in the environment, or a checkout's for an editable install), the student's
        # side of it: the course's reference code is not in the sandbox's file system at all. The judge
        # alone reaches the real package, through a descriptor of its folder that no other process has.
        package, student_side = _package_root(), studentside.cached_build()
        bind(student_side / "socketlab", str(package))
        for name, host in files.items():
            bind(host, f"{WORK}/{name}")
        env = {**(env or {}), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": WORK, "TMPDIR": "/tmp",
               "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "MPLBACKEND": "agg",
               "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
               "JUPYTER_RUNTIME_DIR": "/tmp/jupyter/runtime", "JUPYTER_DATA_DIR": "/tmp/jupyter/data",
               "JUPYTER_CONFIG_DIR": "/tmp/jupyter/config", "JUPYTER_PLATFORM_DIRS": "1"}
        args.append("--clearenv")
        for key, value in env.items():
            args.extend(["--setenv", key, value])
        args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORK, "--", *inner]
        if os.geteuid() == 0 and shutil.which("setpriv") and all(map(_open_to_all, [*_python_folders(), package, student_side])):
            # The user namespace maps the sandbox's user to the grader's: for root, drop to a uid of this
            # job's own first. (A Python under /root cannot be shown to another uid: then the sandbox's
            # user is root outside it, still without any capability, seeing only what is bound.)
            uid = str(_FIRST_UID + self.slot)
            args = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--", *args]
        return args, [*fds, *keep_fds]

    def judge(self, files: dict[str, Path], args: list[str], *, keep_fds: list[int],
              env: dict[str, str] | None = None) -> tuple[list[str], list[int]]:
        """:meth:`command` for ``python -m socketlab.instructor.inside ARGS``, which alone reaches the real package."""
        real = os.open(_package_root().parent, os.O_PATH)  # inherited by bwrap, then by this one program
        inner = [sys.executable, "-I", "-c", _JUDGE_BOOT, str(real), *args]
        return self.command(files, inner, keep_fds=[*keep_fds, real], env=env)


@functools.cache
def available() -> str | None:
    """``None`` if sandboxed runs work here, else why not (one line)."""
    if os.environ.get("SOCKETLAB_NO_SANDBOX"):
        return "SOCKETLAB_NO_SANDBOX is set"
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if not shutil.which("bwrap"):
        return "bubblewrap (bwrap) is not installed"
    probe = ("import socket, os; s = socket.create_server(('127.0.0.1', 0)); "
             "assert not os.path.exists('/proc/1/ns/net') or os.getuid() == 65534; print('ok')")
    argv, fds = Sandbox(Limits()).command({}, [sys.executable, "-I", "-c", probe], keep_fds=[])
    try:
        done = subprocess.run(argv, pass_fds=fds, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start: {exc}"
    finally:
        for fd in fds:
            os.close(fd)
    if done.returncode != 0 or b"ok" not in done.stdout:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap cannot make a sandbox here: {why[-1] if why else f'exit status {done.returncode}'}"
    return None
