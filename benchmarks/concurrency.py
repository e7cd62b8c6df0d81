"""The four kinds of echo server under load: sessions per second and latency.

The same comparison as notebooks/04_concurrency.ipynb, from the command line:
for each kind and each number of clients at once, clients run echo sessions
back to back (connect, 64 bytes, echo, think, 64 bytes, echo, close).  The
servers run in this process; the clients run in a child process so that the
two do not share one GIL.

Targets: with 100 clients at once every kind serves every client; with slow
clients the event-loop kinds (selectors, asyncio) reach >= 3x the sequential
server's sessions per second.

    python benchmarks/concurrency.py [--seconds 2] [--think 0.01] [--levels 1,10,100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from socketlab.concurrency import SERVER_KINDS


def measure(address, clients: int, seconds: float, think: float) -> dict:
    code = ("import json, sys; from socketlab.concurrency import load; "
            "r = load(tuple(json.loads(sys.argv[1])), int(sys.argv[2]), seconds=float(sys.argv[3]), "
            "rounds=2, think=float(sys.argv[4]), timeout=60); "
            "print(json.dumps(dict(sessions=r.sessions, failures=r.failures, rate=r.rate, "
            "median=r.median_ms, p95=r.p95_ms)))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(list(address)), str(clients), str(seconds),
                          str(think)], capture_output=True, text=True, check=True, timeout=seconds + 120)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--think", type=float, default=0.01, help="a slow client's pause between its two messages")
    parser.add_argument("--levels", default="1,10,100")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]

    table: dict[str, dict[int, dict]] = {}
    for name, kind in SERVER_KINDS.items():
        with kind(name=f"bench-{name}", idle_timeout=60) as server:
            table[name] = {n: measure(server.address, n, args.seconds, args.think) for n in levels}
        for n, r in table[name].items():
            print(f"{name:10} {n:4} at once: {r['rate']:7.0f} sessions/s  latency median "
                  f"{r['median']:7.1f} ms  p95 {r['p95']:7.1f} ms  sessions {r['sessions']:6}  "
                  f"failures {r['failures']}", flush=True)

    most = max(levels)
    served = all(table[k][most]["failures"] == 0 and table[k][most]["sessions"] >= most for k in table)
    print(f"\nwith {most} clients at once every kind served every client: {'OK' if served else 'NO'}")
    for n in (n for n in levels if n > 1):
        for name in ("selectors", "asyncio", "threads"):
            ratio = table[name][n]["rate"] / table["sequential"][n]["rate"]
            target = "  (target >= 3x) " + ("OK" if ratio >= 3 else "BELOW TARGET") if name != "threads" else ""
            print(f"{name:9} / sequential with {n:3} slow clients: {ratio:5.1f}x{target}")


if __name__ == "__main__":
    main()
