"""Load and fault runs: many sessions, many idle clients, a killed server, a full disk.

The long families are marked ``slow``; each prints the figures it measured (``pytest -s``).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import live_threads, open_fds, read_line
from socketlab import echo
from socketlab.concurrency import SERVER_KINDS
from socketlab.concurrency import FILE_SERVER_KINDS
from socketlab.files import FileClient, send_file
from socketlab.streams import recv_line

CLI = [sys.executable, "-m", "socketlab"]


def start_file_server(folder, *options, prefix=()):
    """`socketlab file-server` as a child process; returns (process, address) once it listens."""
    proc = subprocess.Popen([*prefix, *CLI, "file-server", "--port", "0", "--dir", str(folder), *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_line(proc.stdout)  # saving uploads in …
        line = read_line(proc.stdout)
        assert "listening on" in line, line
    except BaseException:  # a server that never said it listens is not left running
        proc.kill()
        proc.communicate(timeout=10)
        raise
    return proc, ("127.0.0.1", int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1]))


def stop_child(proc) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    return err


@pytest.mark.slow
def test_10000_sequential_echo_sessions_leak_no_fds_or_threads():
    with SERVER_KINDS["sequential"](idle_timeout=5) as server:
        for _ in range(100):
            echo(b"warm", server.address)
        fds, threads = open_fds(), live_threads()
        started = time.monotonic()
        for i in range(10_000):
            assert echo(b"session %d" % i, server.address) == b"session %d" % i
        took = time.monotonic() - started
        after_fds, after_threads = open_fds(), live_threads()
    print(f"\n10,000 echo sessions in {took:.1f} s; fds {fds} -> {after_fds}, threads {threads} -> {after_threads}")
    assert after_fds <= fds + 2 and after_threads == threads
    assert server.served == 10_100


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(FILE_SERVER_KINDS))
def test_10000_file_sessions_leak_no_fds_or_threads(tmp_path, kind):
    path = tmp_path / "n.txt"
    path.write_bytes(b"n")
    with FILE_SERVER_KINDS[kind](tmp_path / "up", idle_timeout=5) as server:
        with FileClient(server.address) as client:  # a few connections first, and many files on one
            for _ in range(100):
                client.send(path)
        settle()
        fds, threads = open_fds(), live_threads()
        started = time.monotonic()
        for i in range(10_000):
            with socket.create_connection(server.address, timeout=5) as sock:
                sock.sendall(b"FILE 0 empty-%d\n" % i)
                assert recv_line(sock) == b"READY\n"
                assert recv_line(sock).startswith(b"OK 0 ")
        took = time.monotonic() - started
        settle()
        after_fds, after_threads = open_fds(), live_threads()
    print(f"\n{kind} file server, 10,000 sessions in {took:.1f} s; fds {fds} -> {after_fds}, "
          f"threads {threads} -> {after_threads}")
    assert after_fds <= fds + 2 and after_threads == threads


def settle(seconds=5.0):
    """Wait until no client thread is still closing its connection."""
    deadline = time.monotonic() + seconds
    while any("-client-" in t.name or t.name == "hashing-writer" for t in threading.enumerate()):
        if time.monotonic() > deadline:
            return
        time.sleep(0.02)


IDLE = 200


def hold_idle(address, count):
    return [socket.create_connection(address, timeout=10) for _ in range(count)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SERVER_KINDS))
def test_200_idle_clients_against_each_echo_server_kind(kind):
    sequential = kind == "sequential"
    idle_timeout = 0.05 if sequential else 2.0
    with SERVER_KINDS[kind](idle_timeout=idle_timeout) as server:
        idle = hold_idle(server.address, IDLE)
        try:
            time.sleep(0.2)
            started = time.monotonic()
            assert echo("still served", server.address, timeout=30) == "still served"
            took = time.monotonic() - started
        finally:
            for sock in idle:
                sock.close()
    print(f"\n{kind}: {IDLE} idle clients, the next one served after {took:.2f} s "
          f"(idle timeout {idle_timeout} s)")
    if sequential:  # one at a time: each idle client costs its timeout, and nothing more
        assert took < IDLE * idle_timeout * 1.5 + 2
    else:
        assert took < idle_timeout


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(FILE_SERVER_KINDS))
def test_200_idle_clients_against_each_file_server_kind(tmp_path, kind):
    sequential = kind == "sequential"
    idle_timeout = 0.05 if sequential else 2.0
    path = tmp_path / "served.txt"
    path.write_bytes(b"served")
    with FILE_SERVER_KINDS[kind](tmp_path / "up", idle_timeout=idle_timeout) as server:
        idle = hold_idle(server.address, IDLE)
        try:
            time.sleep(0.2)
            started = time.monotonic()
            assert send_file(path, server.address, timeout=30).saved_name == "served.txt"
            took = time.monotonic() - started
        finally:
            for sock in idle:
                sock.close()
    print(f"\n{kind} file server: {IDLE} idle clients, the next upload done after {took:.2f} s "
          f"(idle timeout {idle_timeout} s)")
    if sequential:
        assert took < IDLE * idle_timeout * 1.5 + 2
    else:
        assert took < idle_timeout


def test_kill_9_mid_upload_leaves_no_file_and_a_restart_cleans_up(tmp_path):
    folder = tmp_path / "up"
    proc, address = start_file_server(folder)
    try:
        with socket.create_connection(address, timeout=5) as sock:
            sock.sendall(b"FILE 1000000 killed.bin\n")
            assert recv_line(sock) == b"READY\n"
            sock.sendall(b"k" * 300_000)
            deadline = time.monotonic() + 5
            while not list(folder.glob(".incoming-*.part")) and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.kill()  # SIGKILL: no finally, no cleanup
            proc.wait(10)
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    leftovers = [p.name for p in folder.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".incoming-"), leftovers
    assert not (folder / "killed.bin").exists()

    proc, address = start_file_server(folder)
    try:
        small = tmp_path / "after.txt"
        small.write_bytes(b"after")
        assert send_file(small, address).saved_name == "after.txt"
    finally:
        log = stop_child(proc)
    assert sorted(p.name for p in folder.iterdir()) == ["after.txt"]
    assert f"cleanup removed 1 temporary file left by a server that did not finish: {leftovers[0]}" in log


def small_disk_allowed() -> bool:
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run(
        [unshare, "-Urm", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$0"', str(Path.cwd())],
        capture_output=True, timeout=10).returncode == 0


@pytest.mark.skipif(not small_disk_allowed(), reason="cannot mount a small tmpfs here (unshare -Urm)")
def test_a_disk_that_fills_up_mid_body_is_an_io_error_and_the_server_goes_on(tmp_path):
    """Two uploads that each fit a 2 MiB tmpfs, but not together: the first runs out mid-body."""
    folder = tmp_path / "up"
    folder.mkdir()
    mount_and_serve = ('mount -t tmpfs -o size=2m tmpfs "$0" && exec "$1" -m socketlab file-server --port 0 '
                       '--kind threads --dir "$0"')
    proc = subprocess.Popen(["unshare", "-Urm", "sh", "-c", mount_and_serve, str(folder), sys.executable],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_line(proc.stdout)
        address = ("127.0.0.1", int(read_line(proc.stdout).split(":")[1].split()[0]))
        first = socket.create_connection(address, timeout=10)
        first.sendall(b"FILE 1500000 first.bin\n")  # 1.5 MB of the 2 MiB: room when it asks
        assert recv_line(first) == b"READY\n"
        first.sendall(b"1" * (1 << 20))  # one whole buffer: the server writes it now
        time.sleep(0.5)
        with socket.create_connection(address, timeout=10) as second:
            second.sendall(b"FILE 1000000 second.bin\n")  # 1 MB of the 1 MiB left: room too
            assert recv_line(second) == b"READY\n"
            second.sendall(b"2" * 1_000_000)
            assert recv_line(second).startswith(b"OK 1000000 ")
        first.sendall(b"1" * (1_500_000 - (1 << 20)))  # no room left for these
        reply = recv_line(first)
        first.close()
        assert reply.startswith(b"ERROR io-error cannot save the file: No space left on device"), reply
        small = tmp_path / "small.txt"
        small.write_bytes(b"s" * 1000)
        result = send_file(small, address)  # the server goes on
        assert result.saved_name == "small.txt"
        listing = subprocess.run(["nsenter", "-t", str(proc.pid), "-U", "-m", "--preserve-credentials",
                                  "ls", "-a", str(folder)], capture_output=True, text=True, timeout=10)
        if listing.returncode == 0:  # what the server's own tmpfs holds: no partial file
            assert sorted(listing.stdout.split()) == [".", "..", "second.bin", "small.txt"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, log = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, log = proc.communicate(timeout=10)
    assert "Traceback" not in log
    assert "threading-file-server #1 error io-error: cannot save the file: No space left on device" in log
