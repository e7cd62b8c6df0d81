import errno
import queue
import threading
import socket
import time

import pytest

import socketlab
from socketlab.server import Server, ThreadingMixIn, format_event


class LineEcho(Server):
    """A tiny server for lifecycle tests: one reply per connection; b"boom" makes it fail."""

    role = "test-server"

    def handle(self, conn, client_id):
        data = conn.recv(1024)
        if data == b"boom":
            raise RuntimeError("the handler broke on purpose")
        conn.sendall(data.upper())


def ask(address, data=b"hi", timeout=5.0):
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        return sock.recv(1024)


def test_start_returns_when_listening():
    with LineEcho() as server:
        host, port = server.address
        assert host == "127.0.0.1" and port > 0
        assert ask(server.address) == b"HI"  # no sleep between start() and connect()
        assert server.running
        assert server._thread.daemon


def test_address_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="not started"):
        LineEcho().address


def test_stop_is_prompt_with_an_idle_client_and_frees_the_port():
    server = LineEcho(idle_timeout=30).start()
    port = server.address[1]
    idle = socket.create_connection(server.address, timeout=5)
    time.sleep(0.1)  # let the server accept and block in recv() on the idle client
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0, "stop() waited for the idle client"
    assert not server.running
    assert idle.recv(10) == b""  # the idle client sees the connection end
    idle.close()
    with LineEcho(port=port) as again:  # same port, at once
        assert ask(again.address) == b"HI"


def test_stop_twice_and_exit_after_stop():
    server = LineEcho().start()
    server.stop()
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        ask(server.address)


def test_start_twice_is_harmless():
    with LineEcho() as server:
        assert server.start() is server


def test_a_stopped_server_cannot_restart():
    server = LineEcho().start()
    server.stop()
    with pytest.raises(RuntimeError, match="has stopped"):
        server.start()


def test_same_name_restart_stops_the_old_server():
    first = LineEcho(name="lesson").start()
    second = LineEcho(name="lesson").start()
    assert not first.running
    assert second.running
    assert socketlab.running_servers() == [second]
    with pytest.raises(ConnectionRefusedError):
        ask(first.address)
    assert ask(second.address) == b"HI"
    second.stop()


def test_default_name_is_the_role_so_rerunning_a_cell_is_safe():
    first = LineEcho().start()
    second = LineEcho().start()
    assert not first.running and second.running
    second.stop()


def test_stop_all():
    servers = [LineEcho(name=f"s{i}").start() for i in range(3)]
    assert socketlab.stop_all() == 3
    assert not any(s.running for s in servers)
    assert socketlab.running_servers() == []


def test_port_in_use_gives_a_clear_error():
    with LineEcho(name="holder") as holder:
        with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1:\d+.*'holder'.*port=0"):
            LineEcho(name="other", port=holder.address[1]).start()


def test_a_bad_client_is_logged_and_the_server_goes_on():
    with LineEcho() as server:
        ask(server.address, b"boom")
        assert ask(server.address, b"next") == b"NEXT"
        errors = [e for e in server.events if e.kind == "error"]
        assert errors and "the handler broke on purpose" in errors[0].detail
        assert errors[0].client_id == 1


def test_max_clients_serves_then_stops():
    server = LineEcho(max_clients=2).start()
    assert ask(server.address) == b"HI"
    assert ask(server.address) == b"HI"
    assert server.wait(timeout=2)
    assert not server.running
    assert server.served == 2
    with pytest.raises(ConnectionRefusedError):
        ask(server.address)


def test_events_name_clients_and_are_ordered():
    with LineEcho() as server:
        ask(server.address)
        ask(server.address)
    kinds = [(e.client_id, e.kind) for e in server.events]
    assert kinds == [(0, "listen"), (1, "accept"), (1, "close"), (2, "accept"), (2, "close"), (0, "stop")]
    times = [e.t for e in server.events]
    assert times == sorted(times)


def test_event_log_is_bounded():
    with LineEcho(log_size=5) as server:
        for _ in range(5):
            ask(server.address)
    assert len(server.events) == 5
    assert server.events[-1].kind == "stop"


def test_subscribe_and_unsubscribe():
    seen = queue.Queue()
    with LineEcho() as server:
        unsubscribe = server.subscribe(seen.put)
        ask(server.address)
        kinds = [seen.get(timeout=5).kind for _ in range(2)]  # "close" may come just after the reply
        unsubscribe()
        ask(server.address)
    assert kinds == ["accept", "close"]
    assert seen.empty()


def test_a_failing_listener_does_not_break_the_server():
    def broken(event):
        raise ValueError("listener bug")

    with LineEcho() as server:
        server.subscribe(broken)
        assert ask(server.address) == b"HI"


def test_bad_arguments():
    with pytest.raises(ValueError, match="idle_timeout"):
        LineEcho(idle_timeout=0)
    with pytest.raises(ValueError, match="max_clients"):
        LineEcho(max_clients=0)


def test_format_event_names_role_and_connection():
    event = socketlab.Event(1.5, 3, "recv", 5, "'hello'")
    assert format_event(event, "echo-server") == "   1.500s echo-server #3 recv 5 bytes 'hello'"
    assert "echo-server listen" in format_event(socketlab.Event(0, 0, "listen"), "echo-server")


def test_a_start_that_fails_after_binding_frees_the_port_and_the_name(monkeypatch):
    def no_more_files():
        raise OSError(errno.EMFILE, "Too many open files")

    server = LineEcho(name="half-started")
    monkeypatch.setattr(socket, "socketpair", no_more_files)
    with pytest.raises(OSError, match="Too many open files"):
        server.start()
    monkeypatch.undo()
    assert not server.running
    assert socketlab.running_servers() == []
    server.stop()  # harmless
    with socket.create_server(("127.0.0.1", server.address[1])):  # the port is free
        pass
    with LineEcho(name="half-started") as again:
        assert ask(again.address) == b"HI"


def test_concurrent_starts_of_one_name_leave_one_server():
    failures = []
    for _ in range(50):
        barrier = threading.Barrier(2)
        servers = [LineEcho(name="race"), LineEcho(name="race")]

        def start(server):
            barrier.wait(5)
            try:
                server.start()
            except Exception as exc:  # noqa: BLE001 - every failure is the bug under test
                failures.append(repr(exc))

        threads = [threading.Thread(target=start, args=(s,)) for s in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sum(s.running for s in servers) == 1, servers
        assert len(socketlab.running_servers()) == 1
    socketlab.stop_all()
    assert failures == []


class StopsItself(ThreadingMixIn, LineEcho):
    def handle(self, conn, client_id):
        conn.recv(1024)
        started = time.monotonic()
        self.stop()
        self.stop_took = time.monotonic() - started
        conn.sendall(b"bye")


def test_stop_from_inside_a_threading_handler_is_prompt_and_quiet():
    server = StopsItself().start()
    port = server.address[1]
    assert ask(server.address, b"stop") == b"bye"
    assert server.wait(timeout=5)
    assert server.stop_took < 0.5
    assert [e.detail for e in server.events if e.kind == "error"] == []
    assert server.events[-1].kind == "stop"
    with socket.create_server(("127.0.0.1", port)):
        pass


def test_a_handler_bug_keeps_its_traceback():
    with LineEcho() as server:
        ask(server.address, b"boom")
        ask(server.address)  # the first client's events are all in by now
        error = next(e for e in server.events if e.kind == "error")
        assert "(in handle, " in error.detail and "test_server.py:" in error.detail
        text = server.tracebacks[1]
        assert text.startswith("Traceback") and 'raise RuntimeError("the handler broke on purpose")' in text


def test_hooks_a_subclass_may_override_are_public_and_listed():
    from socketlab.concurrency import AsyncioEchoServer, SelectorEchoServer

    for hook in ("handle", "process_connection", "handle_error", "select_timeout", "service_actions",
                 "server_close"):
        assert f"``{hook}(" in Server.__doc__, hook
        assert callable(getattr(Server, hook))
    for kind in (SelectorEchoServer, AsyncioEchoServer):
        private = [name for name in vars(kind) if name.startswith("_") and not name.startswith("__")
                   and hasattr(Server, name)]
        assert private == [], f"{kind.__name__} overrides private methods of Server: {private}"


def test_deadline_bounds_a_whole_connection_not_each_recv():
    with LineEcho(idle_timeout=0.5) as server:
        assert server.deadline == 30.0  # the sequential default
    with Trickle(idle_timeout=1.0, deadline=0.8) as server:
        with socket.create_connection(server.address, timeout=5) as trickler:
            started = time.monotonic()
            for _ in range(30):  # one byte every 0.2 s: never idle for 1 s
                try:
                    trickler.sendall(b"x")
                except OSError:
                    break
                if not Trickle.wait_readable(trickler, 0.2):
                    continue
                break  # the server ended the connection
            assert time.monotonic() - started < 3.0
        assert ask(server.address, b"q") == b"Q"  # the next client is served
    timeouts = [e for e in server.events if e.kind == "timeout"]
    assert [e.client_id for e in timeouts] == [1] and "0.8 s deadline" in timeouts[0].detail
    with pytest.raises(ValueError, match="deadline"):
        LineEcho(deadline=float("nan"))


class Trickle(LineEcho):
    """Reads one byte at a time until b"\\n", then answers like LineEcho."""

    def handle(self, conn, client_id):
        while (byte := conn.recv(1)) not in (b"", b"\n"):
            if byte != b"x":
                conn.sendall(byte.upper())
                return

    @staticmethod
    def wait_readable(sock, seconds):
        import select

        return bool(select.select([sock], [], [], seconds)[0])


# ---- binding on each system (Windows and macOS simulated on Linux) --------------------


def test_on_linux_and_macos_a_restarted_server_reuses_its_port_at_once(monkeypatch):
    from socketlab import server as server_module

    for platform in ("linux", "darwin"):
        monkeypatch.setattr(server_module.sys, "platform", platform)
        assert server_module.reuse_address_option() == socket.SO_REUSEADDR
    with LineEcho() as first:
        port = first.address[1]
        assert ask(first.address) == b"HI"  # a connection the server closed first: TIME_WAIT
    with LineEcho(port=port) as again:
        assert again._listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        assert ask(again.address) == b"HI"


def test_on_windows_no_reuse_option_is_set_so_two_servers_never_share_a_port(monkeypatch):
    from socketlab import server as server_module

    for platform in ("win32", "cygwin"):
        monkeypatch.setattr(server_module.sys, "platform", platform)
        assert server_module.reuse_address_option() is None
    set_options = []
    real_setsockopt = socket.socket.setsockopt

    class Recording(socket.socket):
        def setsockopt(self, *args):
            set_options.append(args)
            return real_setsockopt(self, *args)

    monkeypatch.setattr(server_module.socket, "socket", Recording)
    with LineEcho() as first:
        assert set_options == [] and not first._listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        with pytest.raises(OSError) as refused:
            LineEcho(name="second", port=first.address[1]).start()
        assert refused.value.errno == errno.EADDRINUSE
        assert ask(first.address) == b"HI"  # the first one still gets the clients


def test_a_second_server_on_a_port_in_use_is_refused_on_linux_too():
    with LineEcho() as first:
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1:"):
            LineEcho(name="second", port=first.address[1]).start()
        assert ask(first.address) == b"HI"
