"""Two machines, made here as two network namespaces joined by a veth pair (Linux, as root).

A server on 0.0.0.0 in one is reached from the other by its address; a server
on 127.0.0.1, the course's default, is not.
"""

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("ip"),
                                reason="needs Linux, root and iproute2 to make two network namespaces")


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


@pytest.fixture
def machines():
    tag = uuid.uuid4().hex[:6]
    a, b = f"sl-a-{tag}", f"sl-b-{tag}"
    try:
        ip("netns", "add", a)
        ip("netns", "add", b)
        ip("link", "add", f"va{tag}", "type", "veth", "peer", "name", f"vb{tag}")
    except subprocess.CalledProcessError as exc:
        for ns in (a, b):
            ip("netns", "del", ns, check=False)
        pytest.skip(f"cannot make network namespaces here: {exc.stderr.strip()}")
    try:
        for ns, dev, addr in ((a, f"va{tag}", "10.77.0.1/24"), (b, f"vb{tag}", "10.77.0.2/24")):
            ip("link", "set", dev, "netns", ns)
            ip("-n", ns, "addr", "add", addr, "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield a, b
    finally:
        for ns in (a, b):
            ip("netns", "del", ns, check=False)


def in_ns(ns, *args, **kwargs):
    return ["ip", "netns", "exec", ns, sys.executable, "-m", "socketlab", *args]


def serve(ns, host):
    server = subprocess.Popen(in_ns(ns, "echo-server", "--host", host, "--port", "65432"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    return server


def test_a_server_on_all_addresses_is_reached_from_the_other_machine(machines):
    a, b = machines
    server = serve(a, "0.0.0.0")
    try:
        done = subprocess.run(in_ns(b, "echo", "--host", "10.77.0.1", "--port", "65432", "--timeout", "5", "Привіт, сусіде!"),
                              capture_output=True, text=True, timeout=20)
        assert done.returncode == 0 and "Привіт, сусіде!" in done.stdout, done.stderr
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    assert "other machines" in err  # the server warned that it is reachable


def test_a_server_on_loopback_is_not(machines):
    a, b = machines
    server = serve(a, "127.0.0.1")
    try:
        done = subprocess.run(in_ns(b, "echo", "--host", "10.77.0.1", "--port", "65432", "--timeout", "3", "hi"),
                              capture_output=True, text=True, timeout=20)
        assert done.returncode == 1 and "refused" in done.stderr.lower(), (done.stdout, done.stderr)
    finally:
        server.terminate()
        server.communicate(timeout=10)
