from matplotlib.figure import Figure

import socketlab
from socketlab.echo import run_clients
from socketlab.plots import sequence_diagram, timeline

WAITING = (0.941, 0.627, 0.188, 1.0)  # plots.WAITING as RGBA


def test_timeline_has_one_row_per_client_and_shows_waiting():
    with socketlab.EchoServer(idle_timeout=0.3) as server:
        runs = run_clients(server, 4, "hi", slow_first=0.6, clock=server.clock)
    fig = timeline(server.events, runs)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"client #{i}" for i in range(1, 5)]
    waiting = [p for p in ax.patches if tuple(round(c, 3) for c in p.get_facecolor()) == WAITING]
    assert len(waiting) == 4
    # clients 2-4 waited about as long as the idle timeout, behind the silent client
    assert all(p.get_width() > 0.2 for p in waiting[1:])
    assert ax.get_xlabel() == "seconds since the server started"
    assert len(ax.lines) == 1  # one red mark: the dropped client


def test_timeline_without_client_records():
    with socketlab.EchoServer() as server:
        socketlab.echo("a", server)
        socketlab.echo("b", server)
    ax = timeline(server.events).axes[0]
    assert len(ax.patches) == 2
    assert [t.get_text() for t in ax.texts] == ["  1 B", "  1 B"]


def test_timeline_of_no_clients_is_empty_but_drawn():
    with socketlab.EchoServer() as server:
        pass
    assert len(timeline(server.events).axes[0].patches) == 0


def test_sequence_diagram_draws_one_arrow_per_event_in_order():
    with socketlab.EchoServer() as server:
        socketlab.echo("Привіт", server)
    fig = sequence_diagram(server.events)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts if t.get_text() and not t.get_text().endswith("ms")]
    assert labels[:2] == ["client #1", "server"]
    assert labels[2:] == ["connect", "data 12 B 'Привіт'", "echo 12 B", "close"]
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 4


def test_sequence_diagram_limits_clients_and_rows():
    with socketlab.EchoServer() as server:
        for i in range(6):
            socketlab.echo(f"m{i}", server)
    ax = sequence_diagram(server.events, max_clients=2).axes[0]
    heads = [t.get_text() for t in ax.texts if t.get_text().startswith("client #")]
    assert heads == ["client #1", "client #2"]


def test_pictures_show_as_png_in_a_notebook():
    with socketlab.EchoServer() as server:
        socketlab.echo("x", server)
    png = timeline(server.events)._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
