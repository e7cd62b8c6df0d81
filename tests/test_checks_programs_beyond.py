"""The wrong programs students write for notebooks 05 and 06 (``udp_server.py``, ``udp_client.py``,
``framed_server.py``, ``framed_client.py``), and the one line each check gives them; right ones pass."""

import pytest

from socketlab.checks import CheckFailed, framed_programs, udp_programs

ARGS = "import socket, struct, sys, time\nHOST, PORT = sys.argv[1], int(sys.argv[2])\n"

UDP_SERVER = ARGS + """s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((HOST, PORT))
while True:
    data, addr = s.recvfrom(65535)
    s.sendto(data, addr)
"""
UDP_CLIENT = ARGS + """COUNT = int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
got = 0
for n in range(COUNT):
    msg = f"Ping {n} {time.time()}".encode()
    start = time.monotonic()
    s.sendto(msg, (HOST, PORT))
    while (left := start + 1 - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            reply, _ = s.recvfrom(65535)
        except TimeoutError:
            break
        if reply == msg:
            got += 1
            print(f"ping {n}: {(time.monotonic() - start) * 1000:.1f} ms")
            break
    else:
        print(f"ping {n}: timed out")
print(f"{COUNT} sent, {got} received, {(COUNT - got) * 100 // COUNT}% lost")
"""
RECV_EXACTLY = """def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("ended")
        data += chunk
    return data
"""
FRAMED_SERVER = ARGS + RECV_EXACTLY + """with socket.create_server((HOST, PORT)) as listener:
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                while header := conn.recv(4):
                    header += recv_exactly(conn, 4 - len(header))
                    body = recv_exactly(conn, struct.unpack("!I", header)[0])
                    conn.sendall(header + body)
            except OSError:
                pass
"""
FRAMED_CLIENT = ARGS + RECV_EXACTLY + """with socket.create_connection((HOST, PORT), timeout=5) as s:
    for text in sys.argv[3:]:
        data = text.encode()
        s.sendall(struct.pack("!I", len(data)) + data)
        print(recv_exactly(s, struct.unpack("!I", recv_exactly(s, 4))[0]).decode())
"""

WRONG = {
    "udp server answers the first sender": (udp_programs.udp_server_script, UDP_SERVER.replace(
        "    data, addr = s.recvfrom(65535)\n", "    data, new = s.recvfrom(65535)\n    addr = globals().setdefault('first', new)\n"),
        "own sender"),
    "udp server with a small buffer": (udp_programs.udp_server_script, UDP_SERVER.replace("65535", "1024"),
                                       "recvfrom(65535)"),
    "udp server on a fixed port": (udp_programs.udp_server_script, UDP_SERVER.replace("(HOST, PORT)", "(HOST, 50125)"),
                                   "from the command line"),
    "udp client takes any reply": (udp_programs.udp_client_script, UDP_CLIENT.replace("if reply == msg:", "if True:"),
                                   "skip the replies to other pings"),
    "udp client with no loss line": (udp_programs.udp_client_script, UDP_CLIENT.replace(
        'print(f"{COUNT} sent', 'print(f"done; {COUNT} sent').replace("% lost", " lost"), "gives no loss"),
    "udp client stops at the first loss": (udp_programs.udp_client_script, UDP_CLIENT.replace(
        "        except TimeoutError:\n            break\n", "        except TimeoutError:\n            raise\n"),
        "pings"),
    "framed server with native order": (framed_programs.framed_server_script, FRAMED_SERVER.replace(
        'conn.sendall(header + body)', 'conn.sendall(struct.pack("I", len(body)) + body)'), "same framing"),
    "framed server with one recv for the body": (framed_programs.framed_server_script, FRAMED_SERVER.replace(
        'body = recv_exactly(conn, struct.unpack("!I", header)[0])', 'body = conn.recv(struct.unpack("!I", header)[0])'),
        "exactly that many"),
    "framed client with native order": (framed_programs.framed_client_script, FRAMED_CLIENT.replace(
        'struct.pack("!I", len(data))', 'struct.pack("I", len(data))'), "network byte order"),
    "framed client with one recv": (framed_programs.framed_client_script, FRAMED_CLIENT.replace(
        'print(recv_exactly(s, struct.unpack("!I", recv_exactly(s, 4))[0]).decode())',
        'print(s.recv(65536)[4:].decode(errors="replace"))'), "exactly that many"),
}


@pytest.mark.parametrize("case", WRONG, ids=str)
def test_every_wrong_program_fails_with_its_hint(tmp_path, case, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_function, source, hint = WRONG[case]
    (tmp_path / "prog.py").write_text(source, encoding="utf-8")
    with pytest.raises(CheckFailed) as caught:
        check_function(tmp_path / "prog.py")
    message = str(caught.value)
    assert hint in message and message.startswith("✘ "), message


def test_right_programs_pass_alone_and_together(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, source in (("udp_server.py", UDP_SERVER), ("udp_client.py", UDP_CLIENT),
                         ("framed_server.py", FRAMED_SERVER), ("framed_client.py", FRAMED_CLIENT)):
        (tmp_path / name).write_text(source, encoding="utf-8")
    udp_programs.udp_server_script(tmp_path / "udp_server.py")
    udp_programs.udp_client_script(tmp_path / "udp_client.py")
    udp_programs.udp_scripts_together(tmp_path / "udp_server.py", tmp_path / "udp_client.py")
    framed_programs.framed_server_script(tmp_path / "framed_server.py")
    framed_programs.framed_client_script(tmp_path / "framed_client.py")
    framed_programs.framed_scripts_together(tmp_path / "framed_server.py", tmp_path / "framed_client.py")
    assert capsys.readouterr().out.count("✔") == 6
