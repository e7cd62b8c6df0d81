import datetime
import html
import re
import sys
import time
import warnings
from pathlib import Path

import pytest

import socketlab
from socketlab import widgets
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
        assert monitor.text() == "" and "close" not in monitor.log.value
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
        shown = monitor.text().splitlines()
        assert len(shown) == 5
        assert "#10 close" in shown[0]  # newest first
        assert html.escape(monitor.text()) in monitor.log.value
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
    ("nothing", "choose a file (up to 10 MiB) or type a path first"),
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


def browser_message(widget, data):
    """What the browser sends a widget's model over its comm."""
    widget._handle_msg({"content": {"data": data}, "buffers": []})


def test_enter_in_the_message_box_sends():
    with socketlab.EchoServer() as server:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no deprecated on_submit
            panel = EchoPanel(server.address)
        panel.message.value = "з клавіатури"
        browser_message(panel.message, {"method": "custom", "content": {"event": "submit"}})  # Enter
        assert "з клавіатури" in html.unescape(panel.output.value) and server.served == 1


def test_server_monitor_of_a_server_not_started_fails_before_subscribing():
    server = socketlab.EchoServer()
    with pytest.raises(RuntimeError, match=r"echo-server is not started: start it first \(server.start\(\)\)"):
        ServerMonitor(server)
    assert server._listeners == []


def test_server_monitor_log_is_readable_text_newest_first():
    with socketlab.EchoServer() as server:
        monitor = ServerMonitor(server, interval=0.01)
        socketlab.echo("a", server)
        socketlab.echo("b", server)
        eventually(lambda: "#2 close" in monitor.text())
        monitor.refresh()
        assert "#2 close" in monitor.text().splitlines()[0]
        assert monitor.log.value.index("#2 close") < monitor.log.value.index("#1 close")
        assert "var(--jp-content-font-color1)" in monitor.log.value
        assert not hasattr(monitor.log, "disabled")  # a disabled text area shows its text in faint grey
        monitor.close()


def test_server_monitor_counts_bytes_in_of_saved_files(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 1234)
    with socketlab.FileServer(tmp_path / "up") as server:
        monitor = ServerMonitor(server, interval=0.01)
        socketlab.send_file(path, server)
        eventually(lambda: "#1 close" in monitor.text())
        monitor.refresh()
        assert "1234 bytes in" in monitor.summary.value
        monitor.close()
    assert widgets.bytes_in is socketlab.plots.bytes_in  # one count, shared with the pictures


def chosen(name="вибраний.txt", content=b"hello"):
    return ({"name": name, "type": "text/plain", "size": len(content), "content": memoryview(content),
             "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def test_file_panel_names_the_chosen_file_and_a_typed_path_wins(tmp_path):
    typed = tmp_path / "typed.txt"
    typed.write_bytes(b"typed")
    with socketlab.FileServer(tmp_path / "up") as server:
        panel = FileSendPanel(server.address)
        assert "no file chosen" in panel.chosen.value
        panel.picker.value = chosen()
        assert "chosen: вибраний.txt (5 B)" in panel.chosen.value
        panel.path.value = str(typed)  # typing a path drops the choice
        assert panel.picker.value == () and "no file chosen" in panel.chosen.value
        panel.button.click()
        assert (tmp_path / "up" / "typed.txt").read_bytes() == b"typed"
        assert not (tmp_path / "up" / "вибраний.txt").exists()
        panel.picker.value = chosen()  # choosing a file empties the path
        assert panel.path.value == ""
        panel.button.click()
        assert (tmp_path / "up" / "вибраний.txt").read_bytes() == b"hello"


def test_file_panel_clear_forgets_the_choice_and_the_path(tmp_path):
    with socketlab.FileServer(tmp_path / "up") as server:
        panel = FileSendPanel(server.address)
        panel.picker.value = chosen()
        panel.button.click()
        assert panel.progress.value == 1.0
        panel.path.value = "something"
        panel.clear_button.click()
        assert panel.picker.value == () and panel.path.value == "" and panel.result.value == ""
        assert panel.progress.value == 0.0 and "no file chosen" in panel.chosen.value
        assert panel.send_file() is None and "choose a file" in panel.result.value


def browser_reconnects():
    """What JupyterLab sends when it has reconnected to the kernel: "send me every widget's state"."""
    from ipywidgets import Widget

    sent = []
    comm = Widget._control_comm
    Widget._control_comm = type("Comm", (), {"send": lambda self, *a, **k: sent.append((a, k))})()
    try:
        Widget._handle_control_comm_msg({"content": {"data": {"method": "request_states"}}})
    finally:
        Widget._control_comm = comm
    assert sent, "no states sent back"


def test_file_panel_says_when_a_chosen_file_was_too_large_to_arrive():
    panel = FileSendPanel(("127.0.0.1", 9))
    assert panel.result.value == ""
    # A file over 10 MiB breaks the browser's connection to the kernel: the file never
    # arrives and, once reconnected, the browser asks for every widget's state again.
    browser_reconnects()
    shown = html.unescape(panel.result.value)
    assert "over 10 MiB" in shown and "type its path" in shown and "var(--jp-error-color1)" in shown
    panel.result.value = ""
    panel.picker.value = chosen()
    browser_reconnects()  # e.g. a page reload with a file chosen: nothing is missing
    assert panel.result.value == ""
    panel.picker.value = ()
    browser_message(panel.picker, {"method": "request_state"})  # the same, asked of one widget
    assert "over 10 MiB" in html.unescape(panel.result.value)


THEMES = Path(sys.prefix) / "share" / "jupyter" / "lab" / "themes" / "@jupyterlab"


def theme_colour(css: str, value: str, background=(1.0, 1.0, 1.0)):
    """A colour of a JupyterLab theme as RGB, its var() references and rgba() resolved."""
    value = value.strip()
    if value.startswith("var("):
        name, _, fallback = value[4:-1].partition(",")
        found = re.search(re.escape(name.strip()) + r":([^;}]+)", css)
        return theme_colour(css, found.group(1) if found else fallback, background)
    if value in ("white", "#fff", "#ffffff"):
        return (1.0, 1.0, 1.0)
    if value.startswith("#"):
        digits = value[1:]
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        return tuple(int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4))
    if value.startswith("rgba("):
        *rgb, alpha = (float(v) for v in value[5:-1].split(","))
        return tuple(alpha * c / 255 + (1 - alpha) * b for c, b in zip(rgb, background))
    raise ValueError(value)


def contrast(a, b) -> float:
    def luminance(rgb):
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("theme", ["theme-light-extension", "theme-dark-extension"])
def test_panel_colours_come_from_the_theme_and_read_on_it(theme):
    css = (THEMES / theme / "index.css").read_text()
    background = theme_colour(css, "var(--jp-layout-color0)")
    for colour in (widgets.SUCCESS, widgets.ERROR, widgets.TEXT):
        assert colour.startswith("var(--jp-")
        ratio = contrast(theme_colour(css, colour, background), background)
        assert ratio >= 4.5, f"{colour} has {ratio:.2f}:1 in {theme}"


def test_panels_use_no_fixed_colours(tmp_path):
    with socketlab.FileServer(tmp_path / "up") as server:
        panel = FileSendPanel(server.address)
        panel.picker.value = chosen()
        panel.button.click()
        ok = panel.result.value
        panel.send_file(tmp_path / "missing")
        failed = panel.result.value
    echo = EchoPanel(("127.0.0.1", 9))
    echo.send("x")
    for value in (ok, failed, echo.output.value):
        assert not re.search(r"#[0-9a-fA-F]{3}\b|#[0-9a-fA-F]{6}\b", value), value
        assert "color: var(--jp-" in value


class NotUtf8Server(socketlab.EchoServer):
    def handle(self, conn, client_id):
        while conn.recv(1024):
            pass
        conn.sendall(b"\xff\xfe")


def test_echo_panel_shows_a_reply_that_is_not_utf8():
    with NotUtf8Server() as server:
        panel = EchoPanel(server.address)
        assert panel.send("hi") is None
    assert "✘ UnicodeDecodeError" in panel.output.value


def test_enter_in_the_path_box_sends(tmp_path):
    path = tmp_path / "typed.txt"
    path.write_bytes(b"typed")
    with socketlab.FileServer(tmp_path / "up") as server:
        panel = FileSendPanel(server.address)
        panel.path.value = str(path)
        browser_message(panel.path, {"method": "custom", "content": {"event": "submit"}})
        assert (tmp_path / "up" / "typed.txt").read_bytes() == b"typed"


def test_what_a_screen_reader_needs_is_in_the_panels(tmp_path):
    """Results in a polite live region, the progress as a real progressbar with its value, the log
    reachable by keyboard (axe-core checks the same in the browser test)."""
    path = tmp_path / "a.txt"
    path.write_text("hi", encoding="utf-8")
    with socketlab.FileServer(tmp_path / "up") as server:
        panel = FileSendPanel(server.address)
        panel.send_file(path)
        assert panel.result.value.startswith('<div role="status" aria-live="polite">')
        assert '<progress max="1" value="1.0000"' in panel.progress.widget.value and "100%" in panel.progress.widget.value
        panel.clear()
        assert panel.result.value == "" and 'value="0.0000"' in panel.progress.widget.value
    with socketlab.EchoServer() as server:
        echo_panel = EchoPanel(server.address)
        echo_panel.send("hi")
        assert echo_panel.output.value.count('role="status"') == 1  # one region, whatever it holds
        monitor = ServerMonitor(server)
        assert 'role="log" tabindex="0"' in monitor.log.value
        monitor.close()


def test_loss_panel_sets_the_rates_and_tells_each_ping():
    from socketlab.udp import LossyUDPServer
    from socketlab.widgets import LossPanel

    with LossyUDPServer(name="panel-test") as server:
        panel = LossPanel(server, count=4, timeout=0.2)
        panel.drop.value, panel.seed.value = 100, 3
        results = panel.ping()
        assert server.drop == 1.0 and [p.rtt for p in results] == [None] * 4
        assert "4 sent, 0 received, 100% lost" in panel.output.value and 'role="status"' in panel.output.value
        panel.drop.value = 0
        panel.button.click()
        assert all(p.rtt is not None for p in panel.results) and "0% lost" in panel.output.value
