import datetime
import html
import time

import pytest

import socketlab
from socketlab.widgets import EchoPanel, FileSendPanel, ServerMonitor


def eventually(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_echo_panel_send_shows_bytes_and_round_trip():
    with socketlab.EchoServer() as server:
        panel = EchoPanel(server.address)
        assert panel.send("Привіт") == "Привіт"
        shown = html.unescape(panel.output.value)
        assert "✔ sent 12 B 'Привіт'  ←  got 12 B 'Привіт'  in " in shown and " ms" in shown
        panel.message.value = "from the box"
        panel.button.click()  # what a click in the browser does
        assert panel.output.value.index("from the box") < panel.output.value.index("Привіт")  # newest first
        assert server.served == 2


def test_echo_panel_shows_a_refused_connection():
    with socketlab.EchoServer() as server:
        address = server.address
    panel = EchoPanel(address)
    assert panel.send("anyone?") is None
    assert "✘ ConnectionRefusedError" in panel.output.value
    assert "is the server running?" in panel.output.value


def test_echo_panel_displays_as_a_widget():
    with socketlab.EchoServer() as server:
        bundle = EchoPanel(server)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_server_monitor_follows_the_server_and_stops_it():
    with socketlab.EchoServer() as server:
        monitor = ServerMonitor(server, interval=0.05)
        for i in range(3):
            socketlab.echo(f"m{i}", server)
        eventually(lambda: "echo-server #3 close" in monitor.log.value)
        assert "3 clients" in monitor.summary.value and "6 bytes in" in monitor.summary.value
        monitor.clear_button.click()
        assert monitor.log.value == ""
        monitor.stop_button.click()
        assert not server.running
        assert "stopped" in monitor.summary.value
        monitor.close()


def test_server_monitor_shows_earlier_events_and_keeps_the_newest():
    with socketlab.EchoServer() as server:
        for i in range(10):
            socketlab.echo("x", server)
        eventually(lambda: server.events[-1].kind == "close")
        monitor = ServerMonitor(server, lines=5)
        assert len(monitor.log.value.splitlines()) == 5
        assert "#10 close" in monitor.log.value.splitlines()[-1]
        monitor.close()


def test_file_panel_sends_a_path(tmp_path):
    path = tmp_path / "звіт.txt"
    path.write_bytes("Привіт".encode("cp1251"))
    with socketlab.FileServer(tmp_path / "up") as server:
        panel = FileSendPanel(server.address)
        result = panel.send_file(path)
        assert result.saved_name == "звіт.txt"
        assert panel.progress.value == 1.0 and panel.progress.bar_style == "success"
        assert "SHA-256" in panel.result.value and "matches ✔" in panel.result.value
        panel.path.value = str(path)
        panel.button.click()
        assert "звіт (1).txt" in panel.result.value


def test_file_panel_sends_the_chosen_file(tmp_path):
    with socketlab.FileServer(tmp_path / "up") as server:
        panel = FileSendPanel(server.address)
        panel.picker.value = ({"name": "вибраний.txt", "type": "text/plain", "size": 5,
                               "content": memoryview(b"hello"),
                               "last_modified": datetime.datetime.now(datetime.timezone.utc)},)
        panel.button.click()
        assert (tmp_path / "up" / "вибраний.txt").read_bytes() == b"hello"
        assert "matches ✔" in panel.result.value


@pytest.mark.parametrize("setup, expected", [
    ("nothing", "choose a file or type a path first"),
    ("missing", "no such file"),
    ("too-large", "too-large"),
])
def test_file_panel_shows_errors(tmp_path, setup, expected):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 100)
    with socketlab.FileServer(tmp_path / "up", max_size=10) as server:
        panel = FileSendPanel(server.address)
        path = {"nothing": None, "missing": tmp_path / "missing.txt", "too-large": big}[setup]
        assert panel.send_file(path) is None
        assert "✘" in panel.result.value and expected in panel.result.value
