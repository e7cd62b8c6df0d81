"""Pictures of pings and of the deadlock's buffers: drawn, and told in words."""

from socketlab.traffic_plots import buffers, fate, pings
from socketlab.udp import LossyUDPServer, Ping, ping


def test_each_fate_of_a_ping_has_its_own_shape_and_words():
    results = [Ping(1, 0.0, 0.002), Ping(2, 0.1, None), Ping(3, 0.2, 0.003, strays=1), Ping(4, 0.3, None, strays=1)]
    assert [fate(p) for p in results] == ["answered", "lost", "duplicated", "late"]
    fig = pings(results, timeout=0.1)
    markers = {c.get_paths()[0].vertices.shape[0] for c in fig.axes[0].collections}
    assert len(fig.axes[0].collections) == 4 and len(markers) == 4  # four shapes, not only four colours
    assert "ping 2: lost" in fig.words and "ping 4: lost: its reply came after the timeout" in fig.words
    assert "4 pings, 2 lost" in fig.alt and fig._repr_png_().startswith(b"\x89PNG")


def test_pings_of_a_lossy_server_are_drawn():
    with LossyUDPServer(fates=["echo", "drop", "echo"]) as server:
        results = ping(server.address, 3, timeout=0.2)
    assert [p.rtt is None for p in results] == [False, True, False]
    assert "ping 2: lost" in pings(results, timeout=0.2).words


def test_the_buffers_picture_says_what_is_stuck():
    samples = [{"t": 0.0, "a_sent": 0, "b_sent": 0, "a_queued": 0, "b_queued": 0},
               {"t": 1.0, "a_sent": 114688, "b_sent": 65536, "a_queued": 114688, "b_queued": 65536}]
    fig = buffers(samples)
    assert "A has sent 112 KiB, B has sent 64 KiB" in fig.words and "stuck in the buffers" in fig.words
    assert len(fig.axes[0].lines) == 4
