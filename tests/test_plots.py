import hashlib
import re
import threading
import time

import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.text import Text

import socketlab
from socketlab.concurrency import LoadResult
from socketlab.echo import ClientRun, run_clients
from socketlab.plots import PAPER, WAITING, bytes_in, comparison, sequence_diagram, timeline, timelines
from socketlab.server import Event



def luminance(colour) -> float:
    def linear(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b, _ = to_rgba(colour)
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(a, b) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def is_colour(patch, colour) -> bool:
    return tuple(round(c, 3) for c in patch.get_facecolor()) == tuple(round(c, 3) for c in to_rgba(colour))


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_text()]


def labels(ax) -> list[str]:
    """The sequence diagram's texts without the times and the lifelines' heads."""
    return [t for t in texts(ax) if not t.endswith(" ms") and not t.startswith("client ") and t != "server"]


def test_timeline_has_one_row_per_client_and_shows_waiting():
    with socketlab.EchoServer(idle_timeout=0.3) as server:
        runs = run_clients(server, 4, "hi", slow_first=0.6, clock=server.clock)
    fig = timeline(server.events, runs)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"client {i}" for i in range(1, 5)]
    waiting = [p for p in ax.patches if is_colour(p, WAITING)]
    assert len(waiting) == 4
    # clients 2-4 waited about as long as the idle timeout, behind the silent client
    assert all(p.get_width() > 0.2 for p in waiting[1:])
    assert ax.get_xlabel() == "seconds since the server started"
    assert len(ax.lines) == 1  # one red mark: the dropped client


def test_clients_are_numbered_from_one_in_each_picture():
    with socketlab.EchoServer() as server:
        for i in range(5):
            socketlab.echo(f"m{i}", server)
        server.clear_events()
        runs = run_clients(server, 3, "hi", together=False, clock=server.clock)
        fig = timeline(server, runs)
        diagram = sequence_diagram(server)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["client 1", "client 2", "client 3"]
    assert [t for t in texts(diagram.axes[0]) if t.startswith("client")] == ["client 1", "client 2", "client 3"]


def test_waiting_starts_when_the_connection_was_made():
    events = [Event(0.0, 0, "listen"), Event(1.0, 1, "accept", 0, "from 127.0.0.1:5000"),
              Event(1.2, 1, "recv", 2, "'hi'"), Event(1.2, 1, "send", 2), Event(1.3, 1, "close")]
    # connect() took 0.4 s (e.g. a slow name lookup): that is not waiting in the server's queue
    run = ClientRun(1, 5000, started=0.1, finished=1.3, reply="hi", connected=0.5)
    ax = timeline(events, [run]).axes[0]
    (waiting,) = [p for p in ax.patches if is_colour(p, WAITING)]
    assert waiting.get_x() == pytest.approx(0.5) and waiting.get_width() == pytest.approx(0.5)


def test_run_clients_records_when_each_client_connected():
    with socketlab.EchoServer() as server:
        runs = run_clients(server, 3, "hi", clock=server.clock)
    assert all(run.started <= run.connected <= run.finished for run in runs)


def test_timeline_without_client_records():
    with socketlab.EchoServer() as server:
        socketlab.echo("a", server)
        socketlab.echo("b", server)
        ax = timeline(server).axes[0]
    assert len(ax.patches) == 2
    assert texts(ax) == ["1 B", "1 B"]


def test_timeline_of_no_clients_is_empty_but_drawn():
    with socketlab.EchoServer() as server:
        pass
    assert len(timeline(server.events).axes[0].patches) == 0


def test_sequence_diagram_draws_one_arrow_per_event_in_order():
    with socketlab.EchoServer() as server:
        socketlab.echo("Привіт", server)
        fig = sequence_diagram(server)
    ax = fig.axes[0]
    assert texts(ax)[:2] == ["client 1", "server"]
    assert labels(ax) == ["connect", "data 12 B 'Привіт'", "echo 12 B", "close"]
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 4


def test_sequence_diagram_limits_clients_and_rows():
    with socketlab.EchoServer() as server:
        for i in range(6):
            socketlab.echo(f"m{i}", server)
    ax = sequence_diagram(server.events, max_clients=2).axes[0]
    assert [t for t in texts(ax) if t.startswith("client ")] == ["client 1", "client 2"]


def test_sequence_diagram_of_a_file_upload_shows_the_protocol(tmp_path):
    path = tmp_path / "звіт.txt"
    path.write_bytes("Привіт, файле!\n".encode("utf-8") * 100)
    size, digest = path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest()
    with socketlab.FileServer(tmp_path / "up") as server:
        socketlab.send_file(path, server, name="picture.txt")
        ax = sequence_diagram(server).axes[0]
    assert labels(ax) == [
        "connect",
        f"header: FILE {size} picture.txt",  # the header announces the file's size
        "READY",
        f"body {size} B",
        "saved as picture.txt",
        f"OK {size} {digest[:12]}… picture.txt",
        "close",
    ]
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 6  # "saved" happens in the server: a note, not an arrow


def test_sequence_diagram_of_a_large_upload_shows_the_body_arriving(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 3_000_000)
    with socketlab.FileServer(tmp_path / "up") as server:
        socketlab.send_file(path, server)
        shown = labels(sequence_diagram(server).axes[0])
    body = [label for label in shown if label.startswith("body")]
    sizes = [int(label.split()[1]) for label in body]
    assert sum(sizes) == 3_000_000 and len(body) > 1  # each piece as it came
    assert shown.index("READY") < shown.index(body[0]) and shown[-1] == "close"


def test_sequence_diagram_of_a_refused_file_shows_the_error_reply(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 100)
    with socketlab.FileServer(tmp_path / "up", max_size=10) as server:
        with pytest.raises(socketlab.TransferError):
            socketlab.send_file(path, server)
        shown = labels(sequence_diagram(server).axes[0])
    assert shown[0] == "connect" and shown[1].startswith("ERROR too-large: ") and shown[2:] == ["close"]


class HeldCloseServer(socketlab.EchoServer):
    """Records each connection's close only once ``release`` is set: a server thread running late."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.release = threading.Event()

    def handle(self, conn, client_id):
        super().handle(conn, client_id)
        self.release.wait(5.0)


def echo_and_leave(server):
    with socketlab.EchoClient(server) as client:
        assert client.send("hi") == "hi"  # the client has its reply; the server has not closed yet


def test_pictures_of_a_server_wait_for_the_last_close():
    with HeldCloseServer() as server:
        echo_and_leave(server)
        assert server.events[-1].kind != "close"
        threading.Timer(0.2, server.release.set).start()
        fig = sequence_diagram(server, wait=2.0)
        assert labels(fig.axes[0])[-1] == "close"
        assert server.events[-1].kind == "close"


def test_pictures_wait_only_so_long_for_a_close():
    with HeldCloseServer() as server:
        echo_and_leave(server)
        started = time.monotonic()
        ax = timeline(server, wait=0.3).axes[0]
        waited = time.monotonic() - started
        server.release.set()
    assert 0.3 <= waited < 1.0
    assert len(ax.patches) == 1  # the connection is drawn as still open


def test_timeline_waits_for_the_close_of_every_client():
    with HeldCloseServer() as server:
        server.release.set()
        runs = run_clients(server, 3, "hi", clock=server.clock)
        fig = timeline(server, runs)
        closes = [e for e in server.events if e.kind == "close"]
    assert len(closes) == 3 and len(fig.axes[0].get_yticklabels()) == 3


def loads():
    return {name: [LoadResult(n, 100 * n, 1.0, 0, (0.001, 0.002)) for n in (1, 10, 100)]
            for name in ("sequential", "threads", "selectors", "asyncio")}


def every_picture(tmp_path):
    """One of each kind of picture, with as much in them as a notebook draws."""
    with socketlab.EchoServer(idle_timeout=0.3) as server:
        runs = run_clients(server, 4, "hi", slow_first=0.4, clock=server.clock)
        echo = (server.events, runs)
    with socketlab.FileServer(tmp_path / "up") as files:
        socketlab.send_file(__file__, files, name="picture.txt")
    return {
        "timeline": timeline(*echo),
        "timelines": timelines({"sequential": echo, "threads": echo, "selectors": echo}),
        "sequence diagram": sequence_diagram(echo[0]),
        "file sequence diagram": sequence_diagram(files),
        "comparison": comparison(loads()),
    }


def shown_texts(fig):
    fig.draw_without_rendering()  # lays out the ticks
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_pictures_fit_the_notebook_with_readable_text(tmp_path):
    for name, fig in every_picture(tmp_path).items():
        width_px = fig.get_figwidth() * 96
        assert width_px <= 800, f"{name} is {width_px:.0f} px wide: JupyterLab would scale it down"
        for text in shown_texts(fig):
            px = text.get_fontsize() * 96 / 72
            assert px >= 10, f"{name}: {text.get_text()!r} is {px:.1f} px"


def queued_clients():
    """A sequential server and three clients, the first slow: the two others wait."""
    with socketlab.EchoServer() as server:
        runs = run_clients(server, 3, "hi", slow_first=0.2, clock=server.clock)
    return server, runs


def test_pictures_read_on_their_white_paper_in_either_theme(tmp_path):
    """No one grey reads at 4.5:1 on both white and the dark theme's #111, so a picture brings its own
    white paper: its text at 4.5:1 or more on it, its bars, marks and arrows at 3:1 or more."""
    for name, fig in every_picture(tmp_path).items():
        assert to_rgba(fig.patch.get_facecolor()) == to_rgba(PAPER), name
        for text in shown_texts(fig):
            ratio = contrast(text.get_color(), PAPER)
            assert ratio >= 4.5, f"{name}: {text.get_text()!r} has {ratio:.2f}:1 on {PAPER}"
        if name == "comparison":
            continue  # matplotlib's default bar colours, told apart by the legend
        for ax in fig.axes:
            marks = [p.get_facecolor() for p in ax.patches] + [line.get_color() for line in ax.lines]
            marks += [t.arrow_patch.get_edgecolor() for t in ax.texts if getattr(t, "arrow_patch", None)]
            for colour in marks:
                assert contrast(colour, PAPER) >= 3.0, f"{name}: {colour} on {PAPER}"


def test_waiting_and_being_served_differ_by_more_than_colour():
    server, runs = queued_clients()
    ax = timeline(server, runs).axes[0]
    waiting = [p for p in ax.patches if is_colour(p, WAITING)]
    served = [p for p in ax.patches if not is_colour(p, WAITING)]
    assert waiting and served
    assert all(p.get_hatch() for p in waiting) and not any(p.get_hatch() for p in served)


def test_a_picture_shows_with_its_words():
    """In a notebook: the PNG on white, a short text alternative, and the whole story in words."""
    import io

    from PIL import Image

    server, runs = queued_clients()
    fig = timeline(server, runs)
    image = Image.open(io.BytesIO(fig._repr_png_()))
    assert image.width <= 800 and image.convert("RGBA").getpixel((1, 1)) == (255, 255, 255, 255)
    shown = fig._repr_html_()
    alt = re.search(r'alt="([^"]*)"', shown).group(1)
    assert "3 clients" in alt, alt
    words = fig.words.splitlines()
    assert len(words) == 3 and all("waited" in w and "served from" in w for w in words), words
    assert "<details" in shown and "client 3: served from" in shown and "<pre" not in shown
    diagram = sequence_diagram(server)
    assert "→ server: data" in diagram.words and "server → client 1" in diagram.words and diagram.alt


def test_timelines_hides_the_spare_panel():
    with socketlab.EchoServer() as server:
        socketlab.echo("x", server)
        panel = (server.events, None)
    fig = timelines({"a": panel, "b": panel, "c": panel})
    assert len(fig.axes) == 4
    assert [ax.get_visible() for ax in fig.axes] == [True, True, True, False]
    fig.draw_without_rendering()
    above_the_gap = fig.axes[1]
    assert any(t.get_visible() and t.get_text() for t in above_the_gap.get_xticklabels())


def test_bytes_in_counts_echo_data_and_saved_files(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 1234)
    with socketlab.FileServer(tmp_path / "up") as files:
        socketlab.send_file(path, files)
        ax = timeline(files).axes[0]
    assert sum(bytes_in(e) for e in files.events) == 1234  # the header's size is not counted again
    assert texts(ax) == ["1234 B"]
    assert bytes_in(Event(0.0, 1, "recv", 5)) == 5 and bytes_in(Event(0.0, 1, "send", 5)) == 0


def test_a_close_recorded_after_clear_events_is_not_a_client():
    events = [Event(0.5, 4, "close"),  # the last client before clear_events(), closed just after it
              Event(1.0, 5, "accept", 0, "from 127.0.0.1:5000"), Event(1.1, 5, "recv", 2, "'hi'"),
              Event(1.1, 5, "send", 2), Event(1.2, 5, "close")]
    assert [t.get_text() for t in timeline(events).axes[0].get_yticklabels()] == ["client 1"]
    assert [t for t in texts(sequence_diagram(events).axes[0]) if t.startswith("client")] == ["client 1"]


def test_pictures_do_not_wait_for_an_asyncio_server_in_their_own_event_loop():
    import asyncio

    async def main():
        server = await socketlab.AsyncioEchoServer(idle_timeout=5).astart()
        try:
            reader, writer = await asyncio.open_connection(*server.address)  # a client that stays
            for _ in range(100):
                if server.events[-1].kind == "accept":
                    break
                await asyncio.sleep(0.01)
            started = time.monotonic()
            fig = timeline(server)  # blocking here would stop the very loop that serves it
            waited = time.monotonic() - started
            writer.close()
            return fig, waited
        finally:
            server.stop()

    fig, waited = asyncio.run(main())
    assert waited < 0.3 and len(fig.axes[0].patches) == 1


def test_the_comparison_draws_each_rate_with_its_spread():
    spread = LoadResult(10, 1000, 1.0, 0, (0.001,), round_rates=(800.0, 1000.0, 1300.0))
    fig = comparison({"threads": [spread]})
    whiskers = [c for c in fig.axes[0].containers if getattr(c, "has_yerr", False)]
    assert whiskers, "no whiskers on the rates"
    (low, high), = [seg[:, 1] for seg in whiskers[0].lines[2][0].get_segments()]
    assert (low, high) == (800.0, 1300.0)
