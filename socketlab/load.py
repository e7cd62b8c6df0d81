"""A load generator for the servers of notebook 04: many clients at once, sessions per second, latency.

``load`` runs the clients as threads of this process; ``load_in_process`` runs
them in a separate Python process, several rounds, and keeps each round's rate
so the spread shows how far one number can be trusted.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from .echo import exchange
from .server import address_of

__all__ = ["LoadResult", "load", "load_in_process"]


@dataclass(frozen=True)
class LoadResult:
    clients: int
    sessions: int
    seconds: float
    failures: int
    latencies: tuple[float, ...]  # seconds per session, connect to last byte
    round_rates: tuple[float, ...] = ()  # sessions per second of each repeat (load_in_process)

    @property
    def rate(self) -> float:
        """Sessions per second."""
        return self.sessions / self.seconds if self.seconds else 0.0

    @property
    def spread(self) -> tuple[float, float]:
        """The lowest and the highest rate over the repeats (both :attr:`rate` for a single run)."""
        rates = self.round_rates or (self.rate,)
        return min(rates), max(rates)

    @property
    def median_ms(self) -> float:
        import statistics

        return 1000 * statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p95_ms(self) -> float:
        if len(self.latencies) < 2:
            return self.median_ms
        import statistics

        return 1000 * statistics.quantiles(self.latencies, n=20)[-1]


def load(address, clients: int = 10, *, seconds: float = 1.0, size: int = 64, rounds: int = 1,
         think: float = 0.0, timeout: float = 30.0) -> LoadResult:
    """``clients`` clients at once, each running echo sessions back to back for ``seconds``.

    A session connects, then ``rounds`` times sends ``size`` bytes and waits
    for their echo, pausing ``think`` seconds between rounds: a slow client (a
    person typing, a far-away phone) keeps the connection open while it
    thinks.  Every client finishes the session it is in, so each one is served
    at least once, however slow the server.
    """
    address = address_of(address)
    message = b"x" * size
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    start_line = threading.Barrier(clients + 1)
    deadline = [0.0]

    def session() -> bool:
        with socket.create_connection(address, timeout=timeout) as sock:
            for n in range(rounds):
                if n:
                    time.sleep(think)
                if exchange(sock, message, len(message), timeout) != message:
                    return False
        return True

    def client() -> None:
        start_line.wait(timeout)
        while True:
            started = time.perf_counter()
            try:
                ok = session()
            except (OSError, EOFError):
                ok = False
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures[0] += 1
            if time.perf_counter() >= deadline[0]:
                return

    threads = [threading.Thread(target=client, daemon=True, name=f"load-client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start_line.wait(timeout)
    for thread in threads:
        thread.join(seconds + timeout + 5)
    elapsed = time.perf_counter() - began
    return LoadResult(clients, len(latencies), elapsed, failures[0], tuple(latencies))


def load_in_process(address, clients: int = 10, *, seconds: float = 1.0, repeats: int = 3, size: int = 64,
                    rounds: int = 1, think: float = 0.0, timeout: float = 30.0) -> LoadResult:
    """:func:`load`, ``repeats`` times in a row, run by a separate Python process.

    The load's client threads then do not take turns with the servers for this
    process's GIL (they still share the machine's cores). The result pools
    every repeat; ``round_rates`` holds each repeat's sessions per second, so
    the spread between repeats shows how much one number can be trusted.
    The process is killed if it overruns its time.
    """
    import json
    import subprocess
    import sys

    host, port = address_of(address)[:2]
    command = [sys.executable, "-c", "import sys; from socketlab.load import _load_main; _load_main(sys.argv[1:])",
               str(host), str(port), str(clients), str(seconds), str(repeats), str(size), str(rounds), str(think),
               str(timeout)]
    limit = repeats * (seconds + timeout + 5) + 30
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"the load process did not finish within {limit:g} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the load process failed with status {done.returncode}: {last}")
    runs = [LoadResult(**{**run, "latencies": tuple(run["latencies"])}) for run in json.loads(done.stdout)]
    return LoadResult(clients, sum(r.sessions for r in runs), sum(r.seconds for r in runs),
                      sum(r.failures for r in runs), tuple(x for r in runs for x in r.latencies),
                      tuple(r.rate for r in runs))


def _load_main(argv: list[str]) -> None:
    """The load process: ``host port clients seconds repeats size rounds think timeout``; JSON on stdout."""
    import dataclasses
    import json
    import sys

    host, port, clients, seconds, repeats, size, rounds, think, timeout = argv
    runs = [dataclasses.asdict(load((host, int(port)), int(clients), seconds=float(seconds), size=int(size),
                                    rounds=int(rounds), think=float(think), timeout=float(timeout)))
            for _ in range(int(repeats))]
    json.dump(runs, sys.stdout)
