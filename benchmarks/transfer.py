"""Throughput of a 512 MiB upload: socketlab against netcat and a raw socket baseline.

Three ways to move the same file into a folder on 127.0.0.1, alternating in one run:

* socketlab: ``socketlab send-file`` to ``socketlab file-server`` (SHA-256 on both sides,
  temporary file + rename);
* netcat: ``nc -l > file`` and ``nc -N < file`` (netcat-openbsd);
* raw: ``socket.sendfile`` into ``recv_into`` and a file, no hashing, no protocol.

Each time is the wall time from starting the client until the receiver has written the
last byte.  The file server's peak RSS growth (VmHWM) during the uploads is printed too.
Targets: socketlab >= 1.0x netcat; RSS growth <= 32 MiB.

    python benchmarks/transfer.py [--size-mib 512] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "socketlab"]
BUFFER = 1 << 20


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """Wait until something listens on 127.0.0.1:port, without connecting to it."""
    deadline = time.monotonic() + timeout
    needle = f":{port:04X} "
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(needle.strip()) and fields[3] == "0A":  # 0A: LISTEN
                return
        time.sleep(0.01)
    raise TimeoutError(f"nothing listens on port {port}")


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def run_netcat(source: Path, folder: Path) -> float:
    port = free_port()
    target = folder / "nc.out"
    with open(target, "wb") as out:
        listener = subprocess.Popen(["nc", "-l", "127.0.0.1", str(port)], stdout=out)
        wait_listening(port)
        start = time.perf_counter()
        with open(source, "rb") as inp:
            subprocess.run(["nc", "-N", "127.0.0.1", str(port)], stdin=inp, check=True, timeout=120)
        listener.wait(timeout=120)
        seconds = time.perf_counter() - start
    assert target.stat().st_size == source.stat().st_size, "netcat lost bytes"
    target.unlink()
    return seconds


def run_raw(source: Path, folder: Path) -> float:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--raw-receive", str(port), str(folder / "raw.out")])
    wait_listening(port)
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--raw-send", str(port), str(source)], check=True, timeout=120)
    receiver.wait(timeout=120)
    seconds = time.perf_counter() - start
    assert (folder / "raw.out").stat().st_size == source.stat().st_size, "raw lost bytes"
    (folder / "raw.out").unlink()
    return seconds


def run_socketlab(source: Path, port: int, folder: Path) -> float:
    start = time.perf_counter()
    subprocess.run([*CLI, "send-file", "--port", str(port), str(source)], check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    saved = folder / source.name
    assert saved.stat().st_size == source.stat().st_size, "socketlab lost bytes"
    saved.unlink()
    return seconds


def raw_receive(port: int, target: str) -> None:
    with socket.create_server(("127.0.0.1", port)) as listener:
        conn, _ = listener.accept()
        with conn, open(target, "wb") as out:
            buf = bytearray(BUFFER)
            view = memoryview(buf)
            while n := conn.recv_into(view):
                out.write(view[:n])


def raw_send(port: int, source: str) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock, open(source, "rb") as f:
        sock.sendfile(f)


def make_file(path: Path, mib: int) -> None:
    block = os.urandom(BUFFER)
    with open(path, "wb") as f:
        for i in range(mib):
            f.write(block[i:] + block[:i])
        os.fsync(f.fileno())  # or the kernel writes it back during the first rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--raw-receive", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--raw-send", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_receive:
        return raw_receive(int(args.raw_receive[0]), args.raw_receive[1])
    if args.raw_send:
        return raw_send(int(args.raw_send[0]), args.raw_send[1])
    if not shutil.which("nc"):
        sys.exit("nc (netcat-openbsd) is needed: apt-get install netcat-openbsd")

    work = Path(tempfile.mkdtemp(prefix="socketlab-bench-"))
    try:
        source = work / "payload.bin"
        make_file(source, args.size_mib)
        folder = work / "received"
        folder.mkdir()
        size = source.stat().st_size
        port = free_port()
        server = subprocess.Popen([*CLI, "file-server", "--port", str(port), "--dir", str(folder)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(port)
            rss_before = peak_rss(server.pid)
            times = {"socketlab": [], "netcat": [], "raw": []}
            run_socketlab(source, port, folder), run_netcat(source, folder), run_raw(source, folder)  # warm-up
            for i in range(args.rounds):
                times["socketlab"].append(run_socketlab(source, port, folder))
                times["netcat"].append(run_netcat(source, folder))
                times["raw"].append(run_raw(source, folder))
                print(f"round {i + 1}: " + "   ".join(
                    f"{k} {size / v[-1] / 2**20:7.0f} MiB/s" for k, v in times.items()), flush=True)
            rss_growth = peak_rss(server.pid) - rss_before
        finally:
            server.terminate()
            server.wait(10)
        rate = {k: size / statistics.median(v) / 2**20 for k, v in times.items()}
        # The ratio of each round's pair, then the median: drift of the machine cancels out.
        ratio = statistics.median(n / s for s, n in zip(times["socketlab"], times["netcat"]))
        print(f"median throughput ({args.size_mib} MiB): socketlab {rate['socketlab']:.0f} MiB/s, "
              f"netcat {rate['netcat']:.0f} MiB/s, raw {rate['raw']:.0f} MiB/s")
        print(f"socketlab / netcat (median of rounds): {ratio:.2f}x (target >= 1.00x) {'OK' if ratio >= 1 else 'BELOW TARGET'}")
        print(f"socketlab / raw:    {rate['socketlab'] / rate['raw']:.2f}x")
        print(f"file-server peak RSS growth: {rss_growth / 2**20:.1f} MiB (target <= 32 MiB) "
              f"{'OK' if rss_growth <= 32 << 20 else 'ABOVE TARGET'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
