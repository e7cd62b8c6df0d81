"""A control group per graded run: the kernel's own count of its memory and processes.

Everything a run keeps in memory is charged to its group, whatever holds it: the
processes' own pages, the files of its in-memory folders (tmpfs), ``memfd``s and
shared memory. A run over ``--memory`` is stopped by the kernel there (an OOM kill
inside the group), and one over ``--processes`` cannot fork.

cgroup v2 where the grader may make groups under its own (root, or a delegated
subtree with the memory controller on), else the v1 ``memory`` and ``pids``
hierarchies (a host like this one's, with both mounted writable). Where neither is
possible, :func:`make` returns None and the run keeps only its per-process limits
(``setrlimit``); the README says what then holds.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

__all__ = ["RunGroup", "make"]

_ROOT = Path("/sys/fs/cgroup")


def _own(controller: str | None) -> Path | None:
    """This process's group in the hierarchy of ``controller`` (None: the v2 one)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, names, path = line.split(":", 2)
        if (controller is None and _id == "0") or (controller is not None and controller in names.split(",")):
            base = _ROOT if controller is None else _ROOT / controller
            return base / path.lstrip("/")
    return None


class RunGroup:
    """The groups of one run (one per hierarchy); join them with :meth:`wrap`, remove them with :meth:`remove`."""

    def __init__(self, folders: list[Path]):
        self.folders = folders

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run by a shell that first moves itself into the groups, so all it starts is counted."""
        procs = [str(f / "cgroup.procs") for f in self.folders]
        join = 'for p in "$@"; do [ "$p" = -- ] && break; echo $$ > "$p" || exit 125; shift; done; shift; exec "$@"'
        return ["/bin/sh", "-c", join, "sh", *procs, "--", *argv]

    def peak(self) -> int | None:
        """The most memory the run held at once, bytes (None if the system does not say)."""
        for folder in self.folders:
            for name in ("memory.peak", "memory.max_usage_in_bytes"):
                with contextlib.suppress(OSError, ValueError):
                    return int((folder / name).read_text())
        return None

    def remove(self) -> None:
        for folder in self.folders:
            for _attempt in range(50):  # its last processes may take a moment to be reaped
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _limit(folder: Path, settings: dict[str, int]) -> bool:
    try:
        folder.mkdir()
    except OSError:
        return False
    try:
        for name, value in settings.items():
            if (folder / name).exists():
                (folder / name).write_text(str(value))
        return True
    except OSError:
        with contextlib.suppress(OSError):
            folder.rmdir()
        return False


def make(memory: int, processes: int) -> RunGroup | None:
    """New groups holding a run to ``memory`` bytes in all and ``processes`` tasks, or None if not possible here."""
    name = f"socketlab-{uuid.uuid4().hex[:12]}"
    v2 = _own(None)
    if v2 is not None and "memory" in _read(v2 / "cgroup.subtree_control").split():
        folder = v2 / name
        if _limit(folder, {"memory.max": memory, "memory.swap.max": 0, "pids.max": processes}):
            return RunGroup([folder])
    memory_v1, pids_v1 = _own("memory"), _own("pids")
    if memory_v1 is None or not os.access(memory_v1, os.W_OK):
        return None
    if not _limit(memory_v1 / name, {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory,
                                     "memory.swappiness": 0}):
        return None
    folders = [memory_v1 / name]
    if pids_v1 is not None and os.access(pids_v1, os.W_OK) and _limit(pids_v1 / name, {"pids.max": processes}):
        folders.append(pids_v1 / name)
    return RunGroup(folders)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
