"""Would splice() make the file server's receive cheaper?  Two receivers, side by side (Linux).

The file server receives an upload with ``recv_into`` and writes each piece to its file
while SHA-256 runs over it: the bytes cross into user space once.  ``os.splice`` moves them
from the socket through a pipe into the file without that copy, but the hash still has to
read them, so here it maps the written file and hashes it from the page cache.

Each round sends the same SIZE bytes from a child process with ``sendfile`` to 127.0.0.1,
once to each receiver, and reports the receiver's wall time and CPU time (user + system).

    python benchmarks/splice_receive.py [--size-mib 512] [--rounds 5]

Measured on a 2-core machine (512 MiB, 5 rounds): copying 995 MiB/s with 0.512 s of receiver
CPU, splicing 994 MiB/s with 0.499 s. SHA-256 is most of the receiver's work either way, so the
saved copy is worth about 2 %: the file server keeps ``recv_into``, which works on every system.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import mmap
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 1 << 20


def send(path: str, port: int) -> None:
    """The child: connect and sendfile() the whole file."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock, open(path, "rb") as f:
        sock.sendfile(f)


def receive_copying(conn: socket.socket, out: int, size: int) -> str:
    """As the file server does: recv_into a buffer, hash it, write it."""
    digest, buffer, left = hashlib.sha256(), bytearray(CHUNK), size
    view = memoryview(buffer)
    while left:
        n = conn.recv_into(view[:min(CHUNK, left)])
        if not n:
            raise EOFError(f"{left} bytes short")
        digest.update(view[:n])
        os.write(out, view[:n])
        left -= n
    return digest.hexdigest()


def receive_splicing(conn: socket.socket, out: int, size: int) -> str:
    """splice() socket -> pipe -> file, then hash the file through a mapping (the page cache)."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, CHUNK)  # fewer, larger moves (64 KiB by default)
    try:
        done = 0
        while done < size:
            n = os.splice(conn.fileno(), write_end, min(CHUNK, size - done))
            if not n:
                raise EOFError(f"{size - done} bytes short")
            moved = 0
            while moved < n:
                moved += os.splice(read_end, out, n - moved)
            done += n
    finally:
        os.close(read_end)
        os.close(write_end)
    with mmap.mmap(out, size, prot=mmap.PROT_READ) as mapped:
        return hashlib.sha256(mapped).hexdigest()


def one_run(receiver, source: str, size: int, folder: Path) -> tuple[float, float, str]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)
        child = subprocess.Popen([sys.executable, __file__, "--send", source, str(listener.getsockname()[1])])
        conn, _ = listener.accept()
        with conn, tempfile.NamedTemporaryFile(dir=folder) as target:
            conn.settimeout(None)  # blocking, as splice() needs; the child sends at once (and has a timeout)
            started, cpu = time.perf_counter(), time.process_time()
            digest = receiver(conn, target.fileno(), size)
            took, used = time.perf_counter() - started, time.process_time() - cpu
        child.wait(30)
    return took, used, digest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--send", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        return send(args.send[0], int(args.send[1]))
    if not hasattr(os, "splice"):
        sys.exit("os.splice needs Linux and Python 3.10 or later")
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "source.bin"
        with open(source, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
        expected = hashlib.sha256(source.read_bytes()).hexdigest()
        results = {"copying": [], "splicing": []}
        for round_ in range(args.rounds + 1):  # the first round warms up and is not counted
            for name, receiver in (("copying", receive_copying), ("splicing", receive_splicing)):
                took, used, digest = one_run(receiver, str(source), size, folder)
                assert digest == expected, f"{name}: wrong SHA-256"
                if round_:
                    results[name].append((took, used))
    for name, runs in results.items():
        wall = statistics.median(t for t, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:9} median {args.size_mib / wall:6.0f} MiB/s, receiver CPU {cpu:.3f} s "
              f"(wall {wall:.3f} s over {len(runs)} rounds)")


if __name__ == "__main__":
    main()
