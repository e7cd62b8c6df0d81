"""Short echo sessions per second: socketlab's EchoServer against the Python docs' loop.

A session is: connect, send 64 bytes, read the 64-byte echo, close.  Each server
runs in a background thread of this process; the clients run in a separate
process so they do not compete for this process's GIL.  Rounds alternate
between the two servers so that drift of the machine affects both alike.

Target: EchoServer reaches at least 0.8x the minimal loop (median of the rounds).

    python benchmarks/echo_sessions.py [--rounds 5] [--seconds 2]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time

from socketlab import EchoServer

PAYLOAD = b"x" * 64


def minimal_loop(listener: socket.socket) -> None:
    """The Python docs' echo server, made to serve clients one after another."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # the benchmark closed the listening socket
        with conn:
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(data)


def run_clients(host: str, port: int, seconds: float) -> float:
    """Sessions per second that one sequential client achieves for ``seconds``."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(PAYLOAD)
            got = 0
            while got < len(PAYLOAD):
                chunk = sock.recv(1024)
                if not chunk:
                    raise ConnectionError("echo ended early")
                got += len(chunk)
        done += 1
    return done / (time.perf_counter() - start)


def measure(address, seconds: float) -> float:
    """Run the client load in a child process and return its sessions per second."""
    out = subprocess.run(
        [sys.executable, __file__, "--client", address[0], str(address[1]), str(seconds)],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    )
    return float(out.stdout)


def round_minimal(seconds: float) -> float:
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=minimal_loop, args=(listener,), daemon=True)
    thread.start()
    try:
        return measure(listener.getsockname(), seconds)
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        listener.close()
        thread.join(5)


def round_socketlab(seconds: float) -> float:
    with EchoServer(name="bench") as server:
        return measure(server.address, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        host, port, seconds = args.client
        print(run_clients(host, int(port), float(seconds)))
        return

    ratios, minimal, ours = [], [], []
    for i in range(args.rounds):
        m = round_minimal(args.seconds)
        s = round_socketlab(args.seconds)
        minimal.append(m)
        ours.append(s)
        ratios.append(s / m)
        print(f"round {i + 1}: minimal loop {m:8.0f}/s   EchoServer {s:8.0f}/s   ratio {s / m:.2f}")
    ratio = statistics.median(ratios)
    print(f"median: minimal loop {statistics.median(minimal):.0f} sessions/s, "
          f"EchoServer {statistics.median(ours):.0f} sessions/s")
    print(f"ratio EchoServer / minimal loop: {ratio:.2f}x (target >= 0.80x) "
          f"{'OK' if ratio >= 0.8 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
