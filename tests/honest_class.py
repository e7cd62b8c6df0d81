"""Correct answers as a class writes them: many hands, many habits, every one of them honest.

Second-year students (many of them Ukrainian) answer the exercises of the notebooks in
the styles real students use: logging, type hints, dataclasses, their own helpers and exception
classes, socketserver, select and selectors, argparse, signal handlers, Ukrainian comments and
messages, try-it lines at the end of a cell. Every answer is socket code written by hand (only
``recv_line`` and ``protocol`` in notebook 03, where the notebook allows them) and earns full
marks from the checks.

``ANSWERS[notebook][cell id]`` is a list of ``(style, source)``: ``source`` is the whole solution
cell as the student left it (for a lab program, starting with its ``%%writefile`` line).
"""

ANSWERS = {
    "01_echo.ipynb": {
        # ---- Exercise 1: serve_one_client --------------------------------------------------------
        "echo-30": [
            ("logging", r'''import logging

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
log = logging.getLogger("echo-server")


def serve_one_client(listener):
    """Accept one client and echo everything it sends until it closes."""
    ### BEGIN SOLUTION
    conn, address = listener.accept()
    log.info("клієнт підключився: %s:%s", *address)
    total = 0
    with conn:
        while True:
            data = conn.recv(4096)
            if not data:
                break
            total += len(data)
            log.debug("отримано %d байт", len(data))
            conn.sendall(data)
    log.info("клієнт закрив з'єднання, всього %d байт", total)
    ### END SOLUTION'''),
            ("type hints", r'''from typing import Optional


def serve_one_client(listener: socket.socket, bufsize: int = 4096, timeout: Optional[float] = 5.0) -> None:
    """Accept one client and echo everything it sends until it closes."""
    ### BEGIN SOLUTION
    conn, _addr = listener.accept()
    if timeout is not None:
        conn.settimeout(timeout)
    try:
        while chunk := conn.recv(bufsize):
            conn.sendall(chunk)
    finally:
        conn.close()
    ### END SOLUTION'''),
            ("own helper", r'''def echo_until_closed(conn):
    """Повертає клієнту все, що він надіслав, поки він не закриє свій бік. Повертає кількість байтів."""
    received = 0
    while True:
        data = conn.recv(4096)
        if data == b"":  # кінець потоку: клієнт закрив з'єднання
            return received
        conn.sendall(data)  # sendall, а не send: send може взяти лише частину
        received += len(data)


def serve_one_client(listener):
    """Accept one client and echo everything it sends until it closes."""
    ### BEGIN SOLUTION
    conn, addr = listener.accept()
    with conn:
        n = echo_until_closed(conn)
    print(f"сервер: {addr[0]}:{addr[1]} надіслав {n} байт")
    ### END SOLUTION'''),
            ("dataclass stats", r'''import time
from dataclasses import dataclass, field


@dataclass
class EchoStats:
    peer: tuple = ()
    chunks: int = 0
    nbytes: int = 0
    started: float = field(default_factory=time.monotonic)

    def seconds(self):
        return time.monotonic() - self.started


def serve_one_client(listener):
    """Accept one client and echo everything it sends until it closes."""
    ### BEGIN SOLUTION
    conn, peer = listener.accept()
    stats = EchoStats(peer=peer)
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)
            stats.chunks += 1
            stats.nbytes += len(data)
    print(f"{stats} за {stats.seconds():.3f} с")
    ### END SOLUTION'''),
            ("socketserver handler", r'''import socketserver


class EchoHandler(socketserver.BaseRequestHandler):
    """Обробник у стилі socketserver: self.request — це сокет клієнта."""

    def handle(self):
        while True:
            data = self.request.recv(4096)
            if not data:
                break
            self.request.sendall(data)


def serve_one_client(listener):
    """Accept one client and echo everything it sends until it closes."""
    ### BEGIN SOLUTION
    conn, address = listener.accept()
    with conn:
        EchoHandler(conn, address, None)  # BaseRequestHandler сам викликає setup(), handle(), finish()
    ### END SOLUTION'''),
            ("recv_into, try-it", r'''def serve_one_client(listener):
    """Accept one client and echo everything it sends until it closes."""
    ### BEGIN SOLUTION
    # приймаємо одного клієнта і повертаємо йому все, що прийшло
    conn, addr = listener.accept()
    buf = bytearray(64 * 1024)
    view = memoryview(buf)
    with conn:
        while True:
            n = conn.recv_into(buf)
            if n == 0:  # клієнт закрив свій бік
                break
            conn.sendall(view[:n])
    ### END SOLUTION


# спробуємо руками: сервер у потоці, клієнт тут
test_listener = socket.create_server(("127.0.0.1", 0))
t = threading.Thread(target=serve_one_client, args=(test_listener,), daemon=True)
t.start()
with socket.create_connection(test_listener.getsockname(), timeout=5) as c:
    c.sendall("Привіт, сервере!".encode())
    c.shutdown(socket.SHUT_WR)
    print(c.recv(1024).decode())
t.join(5)
test_listener.close()'''),
            ("select", r'''import select


def serve_one_client(listener):
    """Accept one client and echo everything it sends until it closes."""
    ### BEGIN SOLUTION
    conn, addr = listener.accept()
    with conn:
        while True:
            readable, _, _ = select.select([conn], [], [], 10)
            if not readable:
                print("клієнт мовчить 10 с, закриваю")
                break
            data = conn.recv(4096)
            if not data:
                break
            conn.sendall(data)
    ### END SOLUTION'''),
        ],
        # ---- Exercise 2: my_echo ---------------------------------------------------------------
        "echo-35": [
            ("list of parts, try-it", r'''def my_echo(message, address):
    """Send message to an echo server and return its reply."""
    ### BEGIN SOLUTION
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode("utf-8"))
        sock.shutdown(socket.SHUT_WR)  # кажемо серверу: я все надіслав
        parts = []
        while True:
            part = sock.recv(4096)
            if not part:
                break
            parts.append(part)
    return b"".join(parts).decode("utf-8")  # декодуємо один раз, коли все прийшло
    ### END SOLUTION


print(my_echo("Привіт!", server.address))
print(repr(my_echo("", server.address)))'''),
            ("type hints", r'''from typing import Optional, Tuple


def my_echo(message: str, address: Tuple[str, int], timeout: Optional[float] = 10.0) -> str:
    """Send message to an echo server and return its reply."""
    ### BEGIN SOLUTION
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(tuple(address))
        sock.sendall(message.encode("utf-8"))
        sock.shutdown(socket.SHUT_WR)
        reply = bytearray()
        while chunk := sock.recv(65536):
            reply.extend(chunk)
    finally:
        sock.close()
    return reply.decode("utf-8")
    ### END SOLUTION'''),
            ("logging", r'''import logging

logger = logging.getLogger(__name__)


def my_echo(message, address):
    """Send message to an echo server and return its reply."""
    ### BEGIN SOLUTION
    data = message.encode("utf-8")
    logger.info("з'єднуюсь з %s:%s, надсилаю %d байт", address[0], address[1], len(data))
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
            logger.debug("ще %d байт", len(chunk))
    logger.info("відповідь: %d байт", len(received))
    return received.decode("utf-8")
    ### END SOLUTION'''),
            ("codecs incremental decoder", r'''import codecs


def recv_all_text(sock, bufsize=4096):
    """Читає до кінця потоку і декодує UTF-8 поступово: літера може розірватися між двома recv."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    text = []
    while chunk := sock.recv(bufsize):
        text.append(decoder.decode(chunk))
    text.append(decoder.decode(b"", final=True))
    return "".join(text)


def my_echo(message, address):
    """Send message to an echo server and return its reply."""
    ### BEGIN SOLUTION
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(codecs.encode(message, "utf-8"))
        sock.shutdown(socket.SHUT_WR)
        return recv_all_text(sock)
    ### END SOLUTION'''),
            ("makefile", r'''def my_echo(message, address):
    """Send message to an echo server and return its reply."""
    ### BEGIN SOLUTION
    sock = socket.create_connection(address, timeout=5)
    with sock, sock.makefile("rb") as stream:
        sock.sendall(message.encode("utf-8"))
        sock.shutdown(socket.SHUT_WR)
        reply = stream.read()  # read() без аргументу читає, доки сервер не закриє з'єднання
    return reply.decode("utf-8")
    ### END SOLUTION'''),
            ("BytesIO and select", r'''import io
import select


def my_echo(message, address):
    """Send message to an echo server and return its reply."""
    ### BEGIN SOLUTION
    buffer = io.BytesIO()
    with socket.create_connection(address) as sock:
        sock.sendall(message.encode("utf-8"))
        sock.shutdown(socket.SHUT_WR)
        while True:
            ready, _, _ = select.select([sock], [], [], 5)
            if not ready:
                raise TimeoutError("сервер не відповідає вже 5 секунд")
            chunk = sock.recv(4096)
            if not chunk:
                break
            buffer.write(chunk)
    return buffer.getvalue().decode("utf-8")
    ### END SOLUTION'''),
        ],
        # ---- lab/server.py (task 1) ------------------------------------------------------------
        "echo-42": [
            ("argparse", r'''%%writefile lab/server.py
"""Task 1: an echo server. It accepts one connection, sends back what it receives, and ends.

Run:  python lab/server.py [HOST] [PORT]          (defaults: 127.0.0.1 65432)
"""
import argparse
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432

### BEGIN SOLUTION
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("host", nargs="?", default=HOST, help="адреса (типово 127.0.0.1)")
parser.add_argument("port", nargs="?", type=int, default=PORT, help="порт (типово 65432)")
args = parser.parse_args()
print("server: параметри", vars(args))

with socket.create_server((args.host, args.port)) as listener:
    print(f"server: слухаю {args.host}:{args.port}")
    conn, (ip, port) = listener.accept()
    with conn:
        print(f"server: з'єднання від {ip}:{port}")
        total = 0
        while data := conn.recv(4096):
            total += len(data)
            conn.sendall(data)
    print(f"server: клієнт закрив з'єднання; повернуто {total} байт")
### END SOLUTION
'''),
            ("main and sys.exit", r'''%%writefile lab/server.py
"""Task 1: an echo server. It accepts one connection, sends back what it receives, and ends.

Run:  python lab/server.py [HOST] [PORT]          (defaults: 127.0.0.1 65432)
"""
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432

### BEGIN SOLUTION
def echo_back(conn: socket.socket) -> int:
    """Send back everything until the client closes; return the number of bytes."""
    total = 0
    while True:
        data = conn.recv(4096)
        if not data:
            return total
        conn.sendall(data)
        total += len(data)


def main() -> int:
    if len(sys.argv) > 3:
        print("usage: python lab/server.py [HOST] [PORT]", file=sys.stderr)
        return 2
    try:
        listener = socket.create_server((HOST, PORT))
    except OSError as exc:
        print(f"server: cannot listen on {HOST}:{PORT}: {exc}", file=sys.stderr)
        return 1
    with listener:
        print(f"server: listening on {HOST}:{PORT}")
        conn, address = listener.accept()
    with conn:
        print(f"server: connection from {address[0]}:{address[1]}")
        total = echo_back(conn)
    print(f"server: echoed {total} bytes, the client closed its side; bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
### END SOLUTION
'''),
            ("logging, classic socket()", r'''%%writefile lab/server.py
"""Task 1: an echo server. It accepts one connection, sends back what it receives, and ends.

Run:  python lab/server.py [HOST] [PORT]          (defaults: 127.0.0.1 65432)
"""
import logging
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432

### BEGIN SOLUTION
logging.basicConfig(level=logging.INFO, format="%(asctime)s server: %(message)s", stream=sys.stdout)
log = logging.getLogger("server")

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # щоб перезапуск не падав з "Address already in use"
listener.bind((HOST, PORT))
listener.listen(1)
log.info("listening on %s:%d", HOST, PORT)
try:
    conn, address = listener.accept()
finally:
    listener.close()  # лише один клієнт: більше не слухаємо
log.info("connection from %s:%d", *address)
with conn:
    while True:
        data = conn.recv(4096)
        if not data:
            break
        log.info("received %d bytes, sending them back", len(data))
        conn.sendall(data)
log.info("the client closed its side; done")
### END SOLUTION
'''),
            ("signal, utf-8 stdout", r'''%%writefile lab/server.py
"""Task 1: an echo server. It accepts one connection, sends back what it receives, and ends.

Run:  python lab/server.py [HOST] [PORT]          (defaults: 127.0.0.1 65432)
"""
import io
import signal
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432

### BEGIN SOLUTION
sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8")  # кирилиця в консолі Windows


def on_ctrl_c(signum, frame):
    print("\nсервер: зупинено (Ctrl-C), клієнта так і не дочекався")
    sys.exit(0)


signal.signal(signal.SIGINT, on_ctrl_c)

with socket.create_server((HOST, PORT)) as listener:
    print(f"сервер: слухаю {HOST}:{PORT}, чекаю на одного клієнта")
    conn, address = listener.accept()
with conn:
    print(f"сервер: підключився клієнт {address[0]}:{address[1]}")
    while True:
        data = conn.recv(4096)
        if not data:
            break
        print(f"сервер: отримав {len(data)} байт, відсилаю назад")
        conn.sendall(data)
print("сервер: клієнт закрив з'єднання, завершую роботу")
### END SOLUTION
'''),
            ("platform, bytearray", r'''%%writefile lab/server.py
"""Task 1: an echo server. It accepts one connection, sends back what it receives, and ends.

Run:  python lab/server.py [HOST] [PORT]          (defaults: 127.0.0.1 65432)
"""
import platform
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432

### BEGIN SOLUTION
print(f"server: Python {platform.python_version()} на {platform.system()}")
listener = socket.create_server((HOST, PORT))
print(f"server: чекаю на клієнта на {HOST}:{PORT}")
try:
    conn, address = listener.accept()
finally:
    listener.close()
received = bytearray()
with conn:
    print("server: підключився", address)
    while True:
        chunk = conn.recv(1024)
        if not chunk:
            break
        received += chunk
        conn.sendall(chunk)
print(f"server: клієнт надіслав {len(received)} байт: {received.decode('utf-8', errors='replace')}")
### END SOLUTION
'''),
        ],
        # ---- lab/client.py (task 1a) -----------------------------------------------------------
        "echo-43": [
            ("argparse", r'''%%writefile lab/client.py
"""Task 1a: an echo client. It connects, sends a text, and prints the reply.

Run:  python lab/client.py [HOST] [PORT] [MESSAGE...]   (defaults: 127.0.0.1 65432 "Привіт, сервере!")
"""
import argparse
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432
MESSAGE = " ".join(sys.argv[3:]) or "Привіт, сервере!"

### BEGIN SOLUTION
parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("host", nargs="?", default=HOST)
parser.add_argument("port", nargs="?", type=int, default=PORT)
parser.add_argument("message", nargs="*", default=[MESSAGE])
parser.add_argument("--timeout", type=float, default=10.0, help="секунд на кожну операцію")
args = parser.parse_args()
text = " ".join(args.message) or MESSAGE
print("client: debug", {k: v for k, v in vars(args).items() if k != "message"})

with socket.create_connection((args.host, args.port), timeout=args.timeout) as sock:
    data = text.encode("utf-8")
    print(f"client: connected to {args.host}:{args.port}, sending {len(data)} bytes")
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
reply = b"".join(chunks).decode("utf-8")
print(f"client: got back {len(reply)} characters: {reply}")
### END SOLUTION
'''),
            ("sys.exit on refusal", r'''%%writefile lab/client.py
"""Task 1a: an echo client. It connects, sends a text, and prints the reply.

Run:  python lab/client.py [HOST] [PORT] [MESSAGE...]   (defaults: 127.0.0.1 65432 "Привіт, сервере!")
"""
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432
MESSAGE = " ".join(sys.argv[3:]) or "Привіт, сервере!"

### BEGIN SOLUTION
data = MESSAGE.encode("utf-8")
try:
    sock = socket.create_connection((HOST, PORT), timeout=10)
except ConnectionRefusedError:
    print(f"client: на {HOST}:{PORT} ніхто не слухає — спершу запустіть server.py", file=sys.stderr)
    sys.exit(1)
with sock:
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)  # більше нічого не надсилаю, але відповідь ще читаю
    chunks = []
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        chunks.append(chunk)
reply = b"".join(chunks).decode("utf-8")
print(f"client: відповідь сервера ({len(reply)} символів): {reply}")
### END SOLUTION
'''),
            ("timing decorator, utf-8 stdout", r'''%%writefile lab/client.py
"""Task 1a: an echo client. It connects, sends a text, and prints the reply.

Run:  python lab/client.py [HOST] [PORT] [MESSAGE...]   (defaults: 127.0.0.1 65432 "Привіт, сервере!")
"""
import functools
import io
import socket
import sys
import time

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432
MESSAGE = " ".join(sys.argv[3:]) or "Привіт, сервере!"

### BEGIN SOLUTION
sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8")  # для консолі Windows


def timed(func):
    """Друкує, скільки тривав виклик."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            print(f"client: {func.__name__} took {(time.perf_counter() - start) * 1000:.1f} ms")
    return wrapper


@timed
def echo_roundtrip(text):
    with socket.create_connection((HOST, PORT), timeout=10) as sock:
        sock.sendall(text.encode("utf-8"))
        sock.shutdown(socket.SHUT_WR)
        reply = bytearray()
        while chunk := sock.recv(65536):
            reply += chunk
    return reply.decode("utf-8")


print(f"client: sending to {HOST}:{PORT}")
print("client: reply:", echo_roundtrip(MESSAGE))
### END SOLUTION
'''),
            ("makefile, locale", r'''%%writefile lab/client.py
"""Task 1a: an echo client. It connects, sends a text, and prints the reply.

Run:  python lab/client.py [HOST] [PORT] [MESSAGE...]   (defaults: 127.0.0.1 65432 "Привіт, сервере!")
"""
import locale
import platform
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432
MESSAGE = " ".join(sys.argv[3:]) or "Привіт, сервере!"

### BEGIN SOLUTION
print(f"client: {platform.system()} {platform.release()}, кодування системи {locale.getpreferredencoding(False)}")
with socket.create_connection((HOST, PORT), timeout=10) as sock, sock.makefile("rb") as replies:
    sock.sendall(MESSAGE.encode("utf-8"))
    sock.shutdown(socket.SHUT_WR)
    reply = replies.read().decode("utf-8")  # до кінця потоку
print("client: отримано:", reply)
### END SOLUTION
'''),
            ("dataclass result", r'''%%writefile lab/client.py
"""Task 1a: an echo client. It connects, sends a text, and prints the reply.

Run:  python lab/client.py [HOST] [PORT] [MESSAGE...]   (defaults: 127.0.0.1 65432 "Привіт, сервере!")
"""
import socket
import sys
import time
from dataclasses import dataclass

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432
MESSAGE = " ".join(sys.argv[3:]) or "Привіт, сервере!"

### BEGIN SOLUTION
@dataclass
class EchoResult:
    sent: int
    reply: str
    seconds: float


def talk(host: str, port: int, message: str) -> EchoResult:
    started = time.perf_counter()
    data = message.encode("utf-8")
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = []
        while True:
            piece = sock.recv(4096)
            if piece == b"":
                break
            received.append(piece)
    return EchoResult(len(data), b"".join(received).decode("utf-8"), time.perf_counter() - started)


result = talk(HOST, PORT, MESSAGE)
print(f"client: надіслано {result.sent} байт за {result.seconds * 1000:.1f} мс")
print(f"client: відповідь: {result.reply}")
### END SOLUTION
'''),
        ],
    },
    "02_many_clients.ipynb": {
        # ---- Exercise 3: serve_clients ---------------------------------------------------------
        "many-21": [
            ("class with dataclass stats", r'''from dataclasses import dataclass


@dataclass
class ServerStats:
    clients: int = 0
    dropped: int = 0
    echoed: int = 0


class SequentialEchoServer:
    """Послідовний echo-сервер: один клієнт за раз."""

    def __init__(self, listener, timeout=1.0):
        self.listener = listener
        self.timeout = timeout
        self.stats = ServerStats()

    def serve_next(self):
        conn, address = self.listener.accept()
        self.stats.clients += 1
        with conn:
            conn.settimeout(self.timeout)
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
                    self.stats.echoed += len(data)
            except OSError as exc:  # клієнт зник або мовчить: обслуговуємо наступного
                self.stats.dropped += 1
                print(f"клієнт {address} відпав: {exc!r}")


def serve_clients(listener, count):
    """Serve count clients one after another, surviving clients that misbehave."""
    ### BEGIN SOLUTION
    srv = SequentialEchoServer(listener)
    for _ in range(count):
        srv.serve_next()
    print(srv.stats)
    ### END SOLUTION'''),
            ("logging", r'''import logging

log = logging.getLogger("task2")


def serve_clients(listener, count):
    """Serve count clients one after another, surviving clients that misbehave."""
    ### BEGIN SOLUTION
    for number in range(1, count + 1):
        conn, addr = listener.accept()
        log.info("клієнт %d з %s", number, addr)
        with conn:
            conn.settimeout(2)
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    conn.sendall(data)
            except (ConnectionResetError, BrokenPipeError) as exc:
                log.warning("клієнт %d обірвав з'єднання: %s", number, exc)
            except TimeoutError:
                log.warning("клієнт %d мовчить, переходжу до наступного", number)
            except OSError as exc:
                log.error("клієнт %d: %s", number, exc)
    ### END SOLUTION'''),
            ("helper updates a dict", r'''from typing import Dict


def echo_one(conn: socket.socket, totals: Dict[str, int]) -> None:
    """Обслуговує одного клієнта і дописує лічильники в totals."""
    conn.settimeout(1.5)
    try:
        while data := conn.recv(4096):
            conn.sendall(data)
            totals["bytes"] += len(data)
        totals["ok"] += 1
    except OSError:
        totals["failed"] += 1


def serve_clients(listener: socket.socket, count: int) -> None:
    """Serve count clients one after another, surviving clients that misbehave."""
    ### BEGIN SOLUTION
    totals = {"ok": 0, "failed": 0, "bytes": 0}
    for _ in range(count):
        conn, _ = listener.accept()
        with conn:
            echo_one(conn, totals)
    print("статистика:", totals)
    ### END SOLUTION'''),
            ("socketserver handler", r'''import socketserver


class EchoHandler(socketserver.BaseRequestHandler):
    idle = 1.0  # секунд тиші, після яких клієнта відключаємо

    def setup(self):
        self.request.settimeout(self.idle)

    def handle(self):
        try:
            while data := self.request.recv(4096):
                self.request.sendall(data)
        except OSError as exc:  # клієнт зник або мовчить — не страшно
            print("клієнт", self.client_address, "—", exc)


def serve_clients(listener, count):
    """Serve count clients one after another, surviving clients that misbehave."""
    ### BEGIN SOLUTION
    for _ in range(count):
        conn, address = listener.accept()
        with conn:
            EchoHandler(conn, address, None)
    ### END SOLUTION'''),
            ("select, while loop", r'''import select


def serve_clients(listener, count):
    """Serve count clients one after another, surviving clients that misbehave."""
    ### BEGIN SOLUTION
    served = 0
    while served < count:
        conn, addr = listener.accept()
        served += 1
        conn.settimeout(2)  # і на sendall: клієнт, що не читає, теж не вічний
        try:
            while True:
                ready, _, _ = select.select([conn], [], [], 1.0)
                if not ready:
                    print(f"клієнт {served} мовчить — відключаю")
                    break
                data = conn.recv(4096)
                if not data:
                    break
                conn.sendall(data)
        except OSError as e:
            print(f"клієнт {served}: {e}")
        finally:
            conn.close()
    ### END SOLUTION'''),
            ("timing decorator", r'''import functools
import time


def timed(func):
    """Друкує, скільки тривав виклик."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            print(f"{func.__name__}: {time.perf_counter() - started:.3f} s")
    return wrapper


@timed
def echo_client(conn):
    with conn:
        conn.settimeout(1)
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass


def serve_clients(listener, count):
    """Serve count clients one after another, surviving clients that misbehave."""
    ### BEGIN SOLUTION
    for _ in range(count):
        conn, _ = listener.accept()
        echo_client(conn)
    ### END SOLUTION'''),
        ],
        # ---- lab/server2.py (task 2) -----------------------------------------------------------
        "many-36": [
            ("signal", r'''%%writefile lab/server2.py
"""Task 2: an echo server that runs until Ctrl-C and serves many clients, one after another.

Run:  python lab/server2.py [HOST] [PORT]          (defaults: 127.0.0.1 65432)
"""
import signal
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432

### BEGIN SOLUTION
def stop(signum, frame):
    print(f"\nserver: сигнал {signal.Signals(signum).name}, зупиняюсь")
    sys.exit(0)


signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)

with socket.create_server((HOST, PORT)) as listener:
    print(f"server: слухаю {HOST}:{PORT}; Ctrl-C — зупинити")
    clients = 0
    while True:
        conn, (ip, port) = listener.accept()
        clients += 1
        print(f"server: клієнт №{clients} з {ip}:{port}")
        with conn:
            conn.settimeout(10)
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError as exc:
                print(f"server: клієнт №{clients}: {exc}")
        print(f"server: клієнт №{clients} відключився")
### END SOLUTION
'''),
            ("socketserver serve_forever", r'''%%writefile lab/server2.py
"""Task 2: an echo server that runs until Ctrl-C and serves many clients, one after another.

Run:  python lab/server2.py [HOST] [PORT]          (defaults: 127.0.0.1 65432)
"""
import socket
import socketserver
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432

### BEGIN SOLUTION
class EchoHandler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.settimeout(10)

    def handle(self):
        host, port = self.client_address
        print(f"server: client from {host}:{port}")
        try:
            while data := self.request.recv(4096):
                self.request.sendall(data)
        except OSError as exc:
            print(f"server: {host}:{port}: {exc}")
        print(f"server: {host}:{port} done")


class ReusableTCPServer(socketserver.TCPServer):
    allow_reuse_address = True  # restart at once, even with the old connection in TIME_WAIT


with ReusableTCPServer((HOST, PORT), EchoHandler) as server:
    print(f"server: listening on {HOST}:{PORT}; Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("server: stopped")
### END SOLUTION
'''),
            ("logging, class with stats", r'''%%writefile lab/server2.py
"""Task 2: an echo server that runs until Ctrl-C and serves many clients, one after another.

Run:  python lab/server2.py [HOST] [PORT]          (defaults: 127.0.0.1 65432)
"""
import logging
import socket
import sys
from dataclasses import dataclass

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432

### BEGIN SOLUTION
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
log = logging.getLogger("server2")


@dataclass
class Stats:
    clients: int = 0
    failed: int = 0
    bytes_echoed: int = 0


class Server:
    def __init__(self, host, port):
        self.address = (host, port)
        self.stats = Stats()

    def run(self):
        with socket.create_server(self.address) as listener:
            log.info("listening on %s:%s; Ctrl-C stops it", *self.address)
            while True:
                conn, address = listener.accept()
                self.stats.clients += 1
                with conn:
                    self.serve(conn, address)

    def serve(self, conn, address):
        conn.settimeout(10)
        log.info("client %d from %s:%s", self.stats.clients, *address)
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
                self.stats.bytes_echoed += len(data)
        except OSError as exc:
            self.stats.failed += 1
            log.warning("client %d: %s", self.stats.clients, exc)


echo_server = Server(HOST, PORT)
try:
    echo_server.run()
except KeyboardInterrupt:
    log.info("stopped: %s", echo_server.stats)
### END SOLUTION
'''),
            ("argparse, accept timeout for Windows", r'''%%writefile lab/server2.py
"""Task 2: an echo server that runs until Ctrl-C and serves many clients, one after another.

Run:  python lab/server2.py [HOST] [PORT]          (defaults: 127.0.0.1 65432)
"""
import argparse
import io
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432

### BEGIN SOLUTION
sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", line_buffering=True)

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("host", nargs="?", default=HOST)
parser.add_argument("port", nargs="?", type=int, default=PORT)
parser.add_argument("--idle", type=float, default=10.0, help="секунд тиші до відключення клієнта")
args = parser.parse_args()

listener = socket.create_server((args.host, args.port))
listener.settimeout(1.0)  # accept прокидається щосекунди, тож Ctrl-C спрацьовує і на Windows
print(f"сервер: слухаю {args.host}:{args.port} (Ctrl-C — стоп)")
served = 0
try:
    while True:
        try:
            conn, addr = listener.accept()
        except TimeoutError:
            continue
        served += 1
        with conn:
            conn.settimeout(args.idle)
            print(f"сервер: клієнт {served}: {addr[0]}:{addr[1]}")
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    conn.sendall(data)
            except OSError as exc:
                print(f"сервер: клієнт {served} зник: {exc}")
except KeyboardInterrupt:
    print(f"\nсервер: зупинено, обслуговано клієнтів: {served}")
finally:
    listener.close()
### END SOLUTION
'''),
            ("socketserver handle_request", r'''%%writefile lab/server2.py
"""Task 2: an echo server that runs until Ctrl-C and serves many clients, one after another.

Run:  python lab/server2.py [HOST] [PORT]          (defaults: 127.0.0.1 65432)
"""
import socket
import socketserver
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432

### BEGIN SOLUTION
class Handler(socketserver.StreamRequestHandler):
    timeout = 10  # StreamRequestHandler ставить його на з'єднання

    def handle(self):
        print("server: клієнт", self.client_address)
        try:
            while True:
                data = self.request.recv(4096)
                if not data:
                    break
                self.request.sendall(data)
        except OSError as exc:
            print("server: клієнт відвалився:", exc)


class Server(socketserver.TCPServer):
    allow_reuse_address = True


with Server((HOST, PORT), Handler) as srv:
    print(f"server: слухаю {HOST}:{PORT}; Ctrl-C — зупинити")
    try:
        while True:
            srv.handle_request()  # один клієнт за раз, по черзі
    except KeyboardInterrupt:
        print("server: зупинено")
### END SOLUTION
'''),
        ],
    },
    "03_file_transfer.ipynb": {
        # ---- Exercise 4: my_recv_exactly -------------------------------------------------------
        "files-09": [
            ("own EOFError subclass", r'''class ConnectionClosedEarly(EOFError):
    """З'єднання закрилось раніше, ніж прийшли всі байти."""

    def __init__(self, expected, received):
        super().__init__(f"очікував {expected} байт, а прийшло лише {received}: з'єднання закрито")
        self.expected = expected
        self.received = received


def my_recv_exactly(sock, n):
    """Receive exactly n bytes from sock, or raise EOFError."""
    ### BEGIN SOLUTION
    buf = b""
    while len(buf) < n:
        piece = sock.recv(min(n - len(buf), 65536))
        if not piece:
            raise ConnectionClosedEarly(n, len(buf))
        buf += piece
    return buf
    ### END SOLUTION'''),
            ("recv_into", r'''def my_recv_exactly(sock, n):
    """Receive exactly n bytes from sock, or raise EOFError."""
    ### BEGIN SOLUTION
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], min(n - got, 65536))
        if k == 0:
            raise EOFError(f"expected {n} bytes, got {got} before the connection closed")
        got += k
    return bytes(buf)
    ### END SOLUTION'''),
            ("type hints", r'''from typing import List


def my_recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Receive exactly n bytes from sock, or raise EOFError."""
    ### BEGIN SOLUTION
    chunks: List[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = sock.recv(min(remaining, 65536))
        if chunk == b"":
            raise EOFError(f"чекали {n} байт, отримали {n - remaining}")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
    ### END SOLUTION'''),
            ("logging, while True", r'''import logging

log = logging.getLogger("files")


def my_recv_exactly(sock, n):
    """Receive exactly n bytes from sock, or raise EOFError."""
    ### BEGIN SOLUTION
    data = bytearray()
    while True:
        missing = n - len(data)
        if missing == 0:
            break
        chunk = sock.recv(min(missing, 65536))
        log.debug("recv -> %d bytes (%d still missing)", len(chunk), missing - len(chunk))
        if not chunk:
            raise EOFError(f"expected {n} bytes, got {len(data)}")
        data.extend(chunk)
    return bytes(data)
    ### END SOLUTION'''),
            ("BytesIO, try-it", r'''import io


def my_recv_exactly(sock, n):
    """Receive exactly n bytes from sock, or raise EOFError."""
    ### BEGIN SOLUTION
    out = io.BytesIO()
    while out.tell() < n:
        chunk = sock.recv(min(n - out.tell(), 65536))
        if not chunk:
            raise EOFError(f"з'єднання закрилось: очікувалось {n} байт, прийшло {out.tell()}")
        out.write(chunk)
    return out.getvalue()
    ### END SOLUTION


# перевірка на парі сокетів
a, b = socket.socketpair()
a.sendall(b"hello, world")
print(my_recv_exactly(b, 5), my_recv_exactly(b, 7))
a.close()
try:
    my_recv_exactly(b, 3)
except EOFError as e:
    print("EOFError:", e)
b.close()'''),
            ("constants and helper", r'''CHUNK = 64 * 1024


def eof_message(expected, got):
    return f"expected {expected} bytes, but the peer closed after {got}"


def my_recv_exactly(sock, n):
    """Receive exactly n bytes from sock, or raise EOFError."""
    ### BEGIN SOLUTION
    if n == 0:
        return b""
    parts = []
    got = 0
    while got != n:
        part = sock.recv(min(CHUNK, n - got))
        if len(part) == 0:
            raise EOFError(eof_message(n, got))
        parts.append(part)
        got += len(part)
    return b"".join(parts)
    ### END SOLUTION'''),
        ],
        # ---- Exercise 5a: safe_name ------------------------------------------------------------
        "files-29b": [
            ("own ValueError subclass", r'''class BadFileName(ValueError):
    """Ім'я файлу, яке сервер не прийме."""


def safe_name(name):
    """Return name if it is a plain file name, else raise ValueError saying why."""
    ### BEGIN SOLUTION
    if name == "":
        raise BadFileName("порожнє ім'я")
    if name in (".", ".."):
        raise BadFileName(f"{name!r} — це не ім'я файлу")
    for ch in name:
        if ch in "/\\":
            raise BadFileName(f"ім'я містить {ch!r}: папки не дозволені")
        if ord(ch) < 32 or ord(ch) == 127:
            raise BadFileName(f"ім'я містить керівний символ {ch!r}")
    size = len(name.encode("utf-8"))
    if size > 255:
        raise BadFileName(f"ім'я займає {size} байт у UTF-8, а можна щонайбільше 255")
    return name
    ### END SOLUTION'''),
            ("regex", r'''import re

FORBIDDEN = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_name(name):
    """Return name if it is a plain file name, else raise ValueError saying why."""
    ### BEGIN SOLUTION
    if name in ("", ".", ".."):
        raise ValueError(f"not a file name: {name!r}")
    bad = FORBIDDEN.search(name)
    if bad:
        raise ValueError(f"forbidden character {bad.group()!r} at position {bad.start()}")
    if len(name.encode("utf-8")) > 255:
        raise ValueError("name longer than 255 bytes in UTF-8")
    return name
    ### END SOLUTION'''),
            ("Optional helper", r'''from typing import Optional

MAX_NAME_BYTES = 255


def why_not_safe(name: str) -> Optional[str]:
    """Чому ім'я не годиться, або None, якщо годиться."""
    if not name:
        return "the name is empty"
    if name in {".", ".."}:
        return f"{name!r} is not a file name"
    if "/" in name or "\\" in name:
        return "no folders allowed: the name contains a slash"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "the name contains a control character"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"the name is over {MAX_NAME_BYTES} bytes in UTF-8"
    return None


def safe_name(name: str) -> str:
    """Return name if it is a plain file name, else raise ValueError saying why."""
    ### BEGIN SOLUTION
    problem = why_not_safe(name)
    if problem is not None:
        raise ValueError(problem)
    return name
    ### END SOLUTION'''),
            ("unicodedata", r'''import unicodedata


def safe_name(name):
    """Return name if it is a plain file name, else raise ValueError saying why."""
    ### BEGIN SOLUTION
    if name in ("", ".", ".."):
        raise ValueError("порожнє ім'я, або . чи ..")
    if any(sep in name for sep in ("/", "\\")):
        raise ValueError("у імені є / або \\ — лише ім'я файлу, без шляху")
    for ch in name:
        if unicodedata.category(ch) == "Cc":  # керівні символи: 0-31, 127 (і 128-159)
            raise ValueError(f"керівний символ U+{ord(ch):04X} у імені")
    if len(name.encode("utf-8")) > 255:
        raise ValueError("задовге ім'я (більше 255 байт у UTF-8)")
    return name
    ### END SOLUTION'''),
            ("string, table of rules", r'''import string

CONTROL = {chr(i) for i in range(32)} | {chr(127)}


def safe_name(name):
    """Return name if it is a plain file name, else raise ValueError saying why."""
    ### BEGIN SOLUTION
    rules = [
        (lambda n: n != "", "empty name"),
        (lambda n: n.strip(string.whitespace) != "", "the name is only whitespace"),
        (lambda n: n not in (".", ".."), "'.' and '..' are folders, not files"),
        (lambda n: not set(n) & {"/", "\\"}, "a plain name cannot contain / or \\"),
        (lambda n: not set(n) & CONTROL, "control characters are not allowed"),
        (lambda n: len(n.encode("utf-8")) <= 255, "longer than 255 bytes in UTF-8"),
    ]
    for ok, why in rules:
        if not ok(name):
            raise ValueError(why)
    return name
    ### END SOLUTION'''),
            ("plain ifs, try-it", r'''def safe_name(name):
    """Return name if it is a plain file name, else raise ValueError saying why."""
    ### BEGIN SOLUTION
    if len(name) == 0:
        raise ValueError("ім'я порожнє")
    if name == "." or name == "..":
        raise ValueError("це не файл, а папка")
    if "/" in name:
        raise ValueError("ім'я містить '/'")
    if "\\" in name:
        raise ValueError("ім'я містить '\\'")
    for i, ch in enumerate(name):
        code = ord(ch)
        if code < 32 or code == 127:
            raise ValueError(f"керівний символ {code} на позиції {i}")
    if len(name.encode("utf-8")) > 255:
        raise ValueError(f"ім'я довше за 255 байт ({len(name.encode('utf-8'))})")
    return name
    ### END SOLUTION


for test in ["звіт.txt", "../evil.txt", "", "a\x00b", "я" * 128 + ".txt"]:
    try:
        print(repr(test[:20]), "->", safe_name(test))
    except ValueError as err:
        print(repr(test[:20]), "-> ValueError:", err)'''),
        ],
        # ---- Exercise 5b: receive_file ---------------------------------------------------------
        "files-30": [
            ("itertools.count", r'''import itertools

from socketlab.streams import recv_line  # дозволено в цій вправі


def receive_file(conn, folder):
    """Receive one upload on conn, save it in folder; return its Path, or None if refused."""
    ### BEGIN SOLUTION
    header = recv_line(conn)
    try:
        kind, size, name = header.decode("utf-8").removesuffix("\n").split(" ", 2)
    except ValueError:
        conn.sendall(b"ERROR bad-header expected FILE <size> <name>\n")
        return None
    if kind != "FILE" or not (size.isascii() and size.isdigit()):
        conn.sendall(b"ERROR bad-header expected FILE <size> <name>\n")
        return None
    try:
        safe_name(name)
    except ValueError as why:
        conn.sendall(f"ERROR bad-name {why}\n".encode("utf-8"))
        return None
    conn.sendall(b"READY\n")
    try:
        body = my_recv_exactly(conn, int(size))
    except EOFError:
        return None  # клієнт пропав посеред файлу: нічого не зберігаємо
    folder = Path(folder)
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in itertools.count():
        target = folder / (name if n == 0 else f"{stem} ({n}){suffix}")
        try:
            with open(target, "xb") as f:
                f.write(body)
        except FileExistsError:
            continue
        break
    digest = hashlib.sha256(body).hexdigest()
    conn.sendall(f"OK {len(body)} {digest} {target.name}\n".encode("utf-8"))
    return target
    ### END SOLUTION'''),
            ("helper around recv_line", r'''def read_header(conn):
    """Читає рядок заголовка і повертає (розмір, ім'я); ValueError, якщо заголовок поганий."""
    line = recv_line(conn)
    kind, size, name = line.decode("utf-8").removesuffix("\n").split(" ", 2)
    if kind != "FILE":
        raise ValueError(f"expected FILE, got {kind!r}")
    if not (size.isascii() and size.isdigit()):
        raise ValueError(f"the size must be digits, got {size!r}")
    return int(size), name


def free_path(folder, name):
    """Перший вільний шлях: name, name (1).ext, name (2).ext, ..., разом з відкритим файлом."""
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 0
    while True:
        path = Path(folder) / (name if n == 0 else f"{stem} ({n}){suffix}")
        try:
            return path, open(path, "xb")
        except FileExistsError:
            n += 1


def receive_file(conn, folder):
    """Receive one upload on conn, save it in folder; return its Path, or None if refused."""
    ### BEGIN SOLUTION
    try:
        size, name = read_header(conn)
    except (ValueError, EOFError) as exc:
        conn.sendall(f"ERROR bad-header {exc}\n".encode("utf-8"))
        return None
    try:
        safe_name(name)
    except ValueError as exc:
        conn.sendall(f"ERROR bad-name {exc}\n".encode("utf-8"))
        return None
    conn.sendall(b"READY\n")
    try:
        body = my_recv_exactly(conn, size)
    except EOFError as exc:
        print("завантаження обірвалось:", exc)
        return None
    path, out = free_path(folder, name)
    with out:
        out.write(body)
    conn.sendall(f"OK {size} {hashlib.sha256(body).hexdigest()} {path.name}\n".encode("utf-8"))
    return path
    ### END SOLUTION'''),
            ("own recv_line", r'''import re


def recv_line(conn, limit=1024):
    """Свій recv_line: читаємо по одному байту до \n, щоб не захопити байти тіла файлу."""
    line = bytearray()
    while not line.endswith(b"\n"):
        if len(line) >= limit:
            raise ValueError(f"no newline within {limit} bytes")
        byte = conn.recv(1)
        if not byte:
            if line:
                raise EOFError("the connection closed in the middle of a line")
            return b""
        line += byte
    return bytes(line)


def receive_file(conn, folder):
    """Receive one upload on conn, save it in folder; return its Path, or None if refused."""
    ### BEGIN SOLUTION
    try:
        line = recv_line(conn).decode("utf-8")
        kind, size_text, name = line.removesuffix("\n").split(" ", 2)
        if kind != "FILE" or re.fullmatch(r"[0-9]+", size_text) is None:
            raise ValueError("expected: FILE <size> <name>")
    except (ValueError, EOFError) as exc:
        conn.sendall(f"ERROR bad-header {exc}\n".encode("utf-8"))
        return None
    try:
        safe_name(name)
    except ValueError as exc:
        conn.sendall(f"ERROR bad-name {exc}\n".encode("utf-8"))
        return None
    conn.sendall(b"READY\n")
    size = int(size_text)
    try:
        body = my_recv_exactly(conn, size)
    except EOFError:
        return None
    target = Path(folder) / name
    n = 0
    while True:
        try:
            with open(target, "xb") as f:
                f.write(body)
            break
        except FileExistsError:
            n += 1
            target = Path(folder) / f"{Path(name).stem} ({n}){Path(name).suffix}"
    conn.sendall(f"OK {size} {hashlib.sha256(body).hexdigest()} {target.name}\n".encode("utf-8"))
    return target
    ### END SOLUTION'''),
            ("logging, temporary file", r'''import logging
import shutil

log = logging.getLogger("uploads")


def receive_file(conn, folder):
    """Receive one upload on conn, save it in folder; return its Path, or None if refused."""
    ### BEGIN SOLUTION
    folder = Path(folder)
    try:
        kind, size, name = recv_line(conn).decode("utf-8").removesuffix("\n").split(" ", 2)
        if kind != "FILE" or not size.isascii() or not size.isdigit():
            raise ValueError("expected FILE <size> <name>")
    except ValueError as exc:
        log.warning("bad header: %s", exc)
        conn.sendall(f"ERROR bad-header {exc}\n".encode("utf-8"))
        return None
    try:
        safe_name(name)
    except ValueError as exc:
        log.warning("refused the name %r: %s", name, exc)
        conn.sendall(f"ERROR bad-name {exc}\n".encode("utf-8"))
        return None
    conn.sendall(b"READY\n")
    size = int(size)

    # тіло спершу йде в анонімний тимчасовий файл: обірване завантаження не лишає в папці нічого
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as tmp:
        left = size
        try:
            while left > 0:
                chunk = my_recv_exactly(conn, min(left, 1 << 16))
                tmp.write(chunk)
                digest.update(chunk)
                left -= len(chunk)
        except EOFError as exc:
            log.warning("upload of %s broke off: %s", name, exc)
            return None
        tmp.seek(0)
        stem, suffix = Path(name).stem, Path(name).suffix
        n = 0
        while True:
            target = folder / (name if n == 0 else f"{stem} ({n}){suffix}")
            try:
                out = open(target, "xb")  # "x": ніколи не перезаписує
            except FileExistsError:
                n += 1
                continue
            with out:
                shutil.copyfileobj(tmp, out)
            break
    conn.sendall(f"OK {size} {digest.hexdigest()} {target.name}\n".encode("utf-8"))
    log.info("saved %s (%d bytes)", target, size)
    return target
    ### END SOLUTION'''),
            ("own refusal class, locals() debug", r'''class Refused(Exception):
    """Заголовок, який сервер відхиляє: code — код помилки протоколу."""

    def __init__(self, code, why):
        super().__init__(why)
        self.code = code


def split_header(line):
    try:
        kind, size, name = line.decode("utf-8").removesuffix("\n").split(" ", 2)
    except ValueError as exc:  # UnicodeDecodeError — теж ValueError
        raise Refused("bad-header", f"cannot read the header: {exc}") from None
    if kind != "FILE":
        raise Refused("bad-header", f"unknown message {kind!r}, expected FILE")
    if not size.isascii() or not size.isdigit():
        raise Refused("bad-header", f"size must be decimal digits, got {size!r}")
    try:
        safe_name(name)
    except ValueError as exc:
        raise Refused("bad-name", str(exc)) from None
    return int(size), name


def receive_file(conn, folder):
    """Receive one upload on conn, save it in folder; return its Path, or None if refused."""
    ### BEGIN SOLUTION
    try:
        size, name = split_header(recv_line(conn))
    except Refused as refusal:
        message = " ".join(str(refusal).split())  # відповідь — один рядок
        conn.sendall(f"ERROR {refusal.code} {message}\n".encode("utf-8"))
        return None
    print("debug:", locals())
    conn.sendall(b"READY\n")
    try:
        body = my_recv_exactly(conn, size)
    except EOFError as exc:
        print("upload broke off:", exc)
        return None
    path = Path(folder) / name
    number = 0
    while True:
        try:
            with path.open("xb") as out:
                out.write(body)
            break
        except FileExistsError:
            number += 1
            path = Path(folder) / f"{Path(name).stem} ({number}){Path(name).suffix}"
    conn.sendall(f"OK {size} {hashlib.sha256(body).hexdigest()} {path.name}\n".encode())
    return path
    ### END SOLUTION'''),
            ("dataclass, helper fills it in", r'''from dataclasses import dataclass
from typing import Optional


@dataclass
class Upload:
    name: str
    size: int
    saved: Optional[Path] = None


def save_without_overwriting(folder: Path, body: bytes, upload: Upload) -> None:
    """Зберігає body під вільним ім'ям і записує шлях в upload.saved."""
    stem, suffix = Path(upload.name).stem, Path(upload.name).suffix
    for i in range(10_000):
        candidate = folder / (upload.name if i == 0 else f"{stem} ({i}){suffix}")
        try:
            with open(candidate, "xb") as f:
                f.write(body)
        except FileExistsError:
            continue
        upload.saved = candidate
        return
    raise FileExistsError(f"no free name for {upload.name}")


def receive_file(conn: socket.socket, folder) -> Optional[Path]:
    """Receive one upload on conn, save it in folder; return its Path, or None if refused."""
    ### BEGIN SOLUTION
    line = recv_line(conn)
    try:
        kind, size, name = line.decode("utf-8").removesuffix("\n").split(" ", 2)
        if kind != "FILE" or not size.isdecimal() or not size.isascii():
            raise ValueError("the header must be FILE <size> <name>")
    except ValueError as exc:
        conn.sendall(f"ERROR bad-header {exc}\n".encode("utf-8"))
        return None
    try:
        safe_name(name)
    except ValueError as exc:
        conn.sendall(f"ERROR bad-name {exc}\n".encode("utf-8"))
        return None
    upload = Upload(name=name, size=int(size))
    conn.sendall(b"READY\n")
    try:
        body = my_recv_exactly(conn, upload.size)
    except EOFError:
        try:
            conn.sendall(b"ERROR incomplete the body ended early\n")
        except OSError:
            pass
        return None
    save_without_overwriting(Path(folder), body, upload)
    conn.sendall(f"OK {upload.size} {hashlib.sha256(body).hexdigest()} {upload.saved.name}\n".encode("utf-8"))
    return upload.saved
    ### END SOLUTION'''),
        ],
        # ---- Exercise 6: my_send_file ----------------------------------------------------------
        "files-34": [
            ("own exception class", r'''from socketlab import protocol
from socketlab.streams import recv_line


class UploadFailed(Exception):
    """Сервер відмовив або зберіг не ті байти."""


def my_send_file(path, address):
    """Send the file at path; return the name the server saved it under."""
    ### BEGIN SOLUTION
    path = Path(path)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(len(data), path.name))
        reply = protocol.parse_reply(recv_line(sock))
        if isinstance(reply, protocol.ErrorReply):
            raise UploadFailed(f"сервер відмовив: {reply.code} {reply.message}")
        sock.sendall(data)
        reply = protocol.parse_reply(recv_line(sock))
    if isinstance(reply, protocol.ErrorReply):
        raise UploadFailed(f"помилка після надсилання: {reply.code} {reply.message}")
    if reply.sha256 != digest:
        raise UploadFailed(f"SHA-256 не збігається: у нас {digest}, у сервера {reply.sha256}")
    return reply.saved_name
    ### END SOLUTION'''),
            ("match statement", r'''def my_send_file(path, address):
    """Send the file at path; return the name the server saved it under."""
    ### BEGIN SOLUTION
    data = Path(path).read_bytes()
    name = Path(path).name
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(len(data), name))
        match protocol.parse_reply(recv_line(sock)):
            case protocol.Ready():
                pass
            case protocol.ErrorReply(code=code, message=message):
                raise RuntimeError(f"refused before the body: {code}: {message}")
            case other:
                raise RuntimeError(f"expected READY, got {other}")
        sock.sendall(data)
        final = protocol.parse_reply(recv_line(sock))
    match final:
        case protocol.Ok(sha256=digest, saved_name=saved) if digest == hashlib.sha256(data).hexdigest():
            return saved
        case protocol.Ok():
            raise RuntimeError("the server's SHA-256 differs from ours")
        case protocol.ErrorReply(code=code, message=message):
            raise RuntimeError(f"upload failed: {code}: {message}")
        case other:
            raise RuntimeError(f"unexpected reply {other}")
    ### END SOLUTION'''),
            ("by hand, makefile", r'''def my_send_file(path, address):
    """Send the file at path; return the name the server saved it under."""
    ### BEGIN SOLUTION
    path = Path(path)
    data = path.read_bytes()  # файл — це байти, хоч utf-8, хоч cp1251
    with socket.create_connection(address, timeout=10) as sock, sock.makefile("rb") as replies:
        sock.sendall(f"FILE {len(data)} {path.name}\n".encode("utf-8"))
        first = replies.readline(1024).decode("utf-8").rstrip("\n")
        if first != "READY":
            raise ConnectionError(f"server refused the file: {first}")
        sock.sendall(data)
        last = replies.readline(1024).decode("utf-8").rstrip("\n")
    kind, _, rest = last.partition(" ")
    if kind != "OK":
        raise ConnectionError(f"upload failed: {last}")
    size, digest, saved = rest.split(" ", 2)
    if int(size) != len(data) or digest != hashlib.sha256(data).hexdigest():
        raise ConnectionError("the server saved different bytes")
    return saved
    ### END SOLUTION'''),
            ("helper around recv_line", r'''def read_reply(sock):
    """Одна відповідь сервера; ErrorReply — одразу виняток з кодом і поясненням."""
    reply = protocol.parse_reply(recv_line(sock))
    if isinstance(reply, protocol.ErrorReply):
        raise IOError(f"{reply.code}: {reply.message}")
    return reply


def my_send_file(path, address):
    """Send the file at path; return the name the server saved it under."""
    ### BEGIN SOLUTION
    data = Path(path).read_bytes()
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(len(data), Path(path).name))
        read_reply(sock)  # READY, або виняток
        sock.sendall(data)
        ok = read_reply(sock)
    if ok.sha256 != hashlib.sha256(data).hexdigest():
        raise IOError("the SHA-256 differs: the server saved other bytes")
    return ok.saved_name
    ### END SOLUTION'''),
            ("logging, try-it", r'''import logging

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("client")


def my_send_file(path, address):
    """Send the file at path; return the name the server saved it under."""
    ### BEGIN SOLUTION
    data = Path(path).read_bytes()
    name = Path(path).name
    log.info("sending %s (%d bytes) to %s:%s", name, len(data), *address)
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(len(data), name))
        reply = protocol.parse_reply(recv_line(sock))
        if isinstance(reply, protocol.ErrorReply):
            log.error("refused: %s %s", reply.code, reply.message)
            raise RuntimeError(f"{reply.code}: {reply.message}")
        sock.sendall(data)
        reply = protocol.parse_reply(recv_line(sock))
    if isinstance(reply, protocol.ErrorReply):
        raise RuntimeError(f"{reply.code}: {reply.message}")
    if reply.sha256 != hashlib.sha256(data).hexdigest():
        raise RuntimeError("SHA-256 mismatch")
    log.info("saved as %s", reply.saved_name)
    return reply.saved_name
    ### END SOLUTION


print(my_send_file(sample, files.address))
print(my_send_file(sample, files.address))  # вдруге: сервер має зберегти як "lab_report_uk (1).txt"'''),
            ("type hints, file in chunks", r'''from typing import Tuple, Union


def my_send_file(path: Union[str, Path], address: Tuple[str, int]) -> str:
    """Send the file at path; return the name the server saved it under."""
    ### BEGIN SOLUTION
    path = Path(path)
    size = path.stat().st_size  # розмір у байтах, не в символах
    sha = hashlib.sha256()
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(protocol.build_header(size, path.name))
        answer = protocol.parse_reply(recv_line(sock))
        if isinstance(answer, protocol.ErrorReply):
            raise ValueError(f"refused: {answer.code}: {answer.message}")
        with path.open("rb") as f:
            while chunk := f.read(64 * 1024):
                sock.sendall(chunk)
                sha.update(chunk)
        answer = protocol.parse_reply(recv_line(sock))
    if isinstance(answer, protocol.ErrorReply):
        raise ValueError(f"failed: {answer.code}: {answer.message}")
    if not isinstance(answer, protocol.Ok) or answer.sha256 != sha.hexdigest():
        raise ValueError(f"the server did not save what we sent: {answer}")
    return answer.saved_name
    ### END SOLUTION'''),
        ],
        # ---- lab/server3.py (task 3) -----------------------------------------------------------
        "files-52": [
            ("own exceptions, folder beside the program", r'''%%writefile lab/server3.py
"""Task 3: a TCP server that receives text files and saves them in a folder.

Run:  python lab/server3.py [HOST] [PORT] [FOLDER]      (defaults: 127.0.0.1 65433 uploads)
Protocol (docs/protocol.md): FILE <size> <name>\n, READY\n, the bytes, OK <size> <sha256> <saved name>\n
"""
import hashlib
import socket
import sys
from pathlib import Path

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65433
FOLDER = Path(sys.argv[3] if len(sys.argv) > 3 else "uploads")


### BEGIN SOLUTION
if len(sys.argv) <= 3:  # без аргументу — папка uploads поруч із самою програмою
    FOLDER = Path(__file__).parent / "uploads"


class BadHeader(ValueError):
    pass


class BadName(ValueError):
    pass


def recv_line(conn, limit=1024):
    data = bytearray()
    while not data.endswith(b"\n"):
        if len(data) >= limit:
            raise BadHeader("the header line is too long")
        b = conn.recv(1)
        if not b:
            raise EOFError("the client closed before the end of the header")
        data += b
    return bytes(data)


def recv_exactly(conn, n):
    data = bytearray()
    while len(data) < n:
        chunk = conn.recv(min(n - len(data), 65536))
        if not chunk:
            raise EOFError(f"expected {n} bytes, got {len(data)}")
        data += chunk
    return bytes(data)


def check_name(name):
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise BadName(f"{name!r} is not a plain file name")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise BadName("control character in the name")
    if len(name.encode("utf-8")) > 255:
        raise BadName("the name is over 255 bytes")


def save(name, body):
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 0
    while True:
        target = FOLDER / (name if n == 0 else f"{stem} ({n}){suffix}")
        try:
            with open(target, "xb") as f:
                f.write(body)
            return target
        except FileExistsError:
            n += 1


def handle(conn):
    try:
        kind, size, name = recv_line(conn).decode("utf-8").rstrip("\r\n").split(" ", 2)
        if kind != "FILE" or not (size.isascii() and size.isdigit()):
            raise BadHeader("expected FILE <size> <name>")
        check_name(name)
    except BadName as exc:
        conn.sendall(f"ERROR bad-name {exc}\n".encode("utf-8"))
        return
    except ValueError as exc:  # BadHeader, розпакування, UnicodeDecodeError
        conn.sendall(f"ERROR bad-header {exc}\n".encode("utf-8"))
        return
    conn.sendall(b"READY\n")
    body = recv_exactly(conn, int(size))
    target = save(name, body)
    conn.sendall(f"OK {len(body)} {hashlib.sha256(body).hexdigest()} {target.name}\n".encode("utf-8"))
    print(f"server: saved {target.name} ({len(body)} bytes)")


FOLDER.mkdir(parents=True, exist_ok=True)
with socket.create_server((HOST, PORT)) as listener:
    print(f"server: listening on {HOST}:{PORT}, saving into {FOLDER}")
    try:
        while True:
            conn, addr = listener.accept()
            with conn:
                conn.settimeout(10)
                try:
                    handle(conn)
                except (OSError, EOFError) as exc:
                    print(f"server: {addr[0]}:{addr[1]}: {exc}")
    except KeyboardInterrupt:
        print("server: stopped")
### END SOLUTION
'''),
            ("socketserver StreamRequestHandler", r'''%%writefile lab/server3.py
"""Task 3: a TCP server that receives text files and saves them in a folder.

Run:  python lab/server3.py [HOST] [PORT] [FOLDER]      (defaults: 127.0.0.1 65433 uploads)
Protocol (docs/protocol.md): FILE <size> <name>\n, READY\n, the bytes, OK <size> <sha256> <saved name>\n
"""
import hashlib
import socket
import socketserver
import sys
from pathlib import Path

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65433
FOLDER = Path(sys.argv[3] if len(sys.argv) > 3 else "uploads")


### BEGIN SOLUTION
def why_bad(name):
    """Чому ім'я не можна зберегти, або None."""
    if name in ("", ".", ".."):
        return "not a file name"
    if "/" in name or "\\" in name:
        return "only a plain file name is allowed, no folders"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "control character in the name"
    if len(name.encode("utf-8")) > 255:
        return "the name is longer than 255 bytes"
    return None


def save_new(name, body):
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(10_000):
        target = FOLDER / (name if n == 0 else f"{stem} ({n}){suffix}")
        try:
            with open(target, "xb") as f:
                f.write(body)
            return target.name
        except FileExistsError:
            pass
    raise OSError("no free name")


class UploadHandler(socketserver.StreamRequestHandler):
    timeout = 10  # секунд на кожне читання

    def reply(self, text):
        self.wfile.write(text.encode("utf-8"))

    def handle(self):
        try:
            self.upload()
        except OSError as exc:
            print(f"server: {self.client_address[0]}: {exc}")

    def upload(self):
        line = self.rfile.readline(1025)
        try:
            if not line.endswith(b"\n"):
                raise ValueError("no complete header line")
            kind, size, name = line.decode("utf-8").removesuffix("\n").split(" ", 2)
            if kind != "FILE" or not (size.isascii() and size.isdigit()):
                raise ValueError("expected FILE <size> <name>")
        except ValueError as exc:
            return self.reply(f"ERROR bad-header {exc}\n")
        problem = why_bad(name)
        if problem:
            return self.reply(f"ERROR bad-name {problem}\n")
        self.reply("READY\n")
        body = self.rfile.read(int(size))  # BufferedReader.read(n) читає, доки не набере n байтів
        if len(body) < int(size):
            print(f"server: the upload of {name} broke off at {len(body)} bytes")
            return
        saved = save_new(name, body)
        self.reply(f"OK {len(body)} {hashlib.sha256(body).hexdigest()} {saved}\n")
        print(f"server: saved {saved} ({len(body)} bytes)")


class Server(socketserver.TCPServer):
    allow_reuse_address = True


FOLDER.mkdir(parents=True, exist_ok=True)
with Server((HOST, PORT), UploadHandler) as srv:
    print(f"server: listening on {HOST}:{PORT}, saving into {FOLDER}")
    try:
        while True:
            srv.handle_request()
    except KeyboardInterrupt:
        print("server: stopped")
### END SOLUTION
'''),
            ("signal, logging, temporary file", r'''%%writefile lab/server3.py
"""Task 3: a TCP server that receives text files and saves them in a folder.

Run:  python lab/server3.py [HOST] [PORT] [FOLDER]      (defaults: 127.0.0.1 65433 uploads)
Protocol (docs/protocol.md): FILE <size> <name>\n, READY\n, the bytes, OK <size> <sha256> <saved name>\n
"""
import hashlib
import io
import logging
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65433
FOLDER = Path(sys.argv[3] if len(sys.argv) > 3 else "uploads")


### BEGIN SOLUTION
sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", line_buffering=True)
logging.basicConfig(level=logging.INFO, format="%(asctime)s server: %(message)s", stream=sys.stdout)
log = logging.getLogger("server3")


def stop(signum, frame):
    log.info("отримав %s — зупиняюсь", signal.Signals(signum).name)
    sys.exit(0)


signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)


def read_header(conn):
    raw = bytearray()
    while not raw.endswith(b"\n"):
        if len(raw) >= 1024:
            raise ValueError("header longer than 1024 bytes")
        byte = conn.recv(1)
        if not byte:
            raise EOFError("connection closed inside the header")
        raw += byte
    kind, size, name = raw.decode("utf-8").removesuffix("\n").split(" ", 2)
    if kind != "FILE" or not size.isascii() or not size.isdigit():
        raise ValueError("expected FILE <size> <name>")
    return int(size), name


def name_error(name):
    if name in ("", ".", ".."):
        return "not a file name"
    if "/" in name or "\\" in name:
        return "no folders in the name"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "control character in the name"
    if len(name.encode("utf-8")) > 255:
        return "name over 255 bytes"
    return None


def receive_body(conn, size, out):
    sha = hashlib.sha256()
    left = size
    while left:
        chunk = conn.recv(min(left, 65536))
        if not chunk:
            raise EOFError(f"expected {size} bytes, got {size - left}")
        out.write(chunk)
        sha.update(chunk)
        left -= len(chunk)
    return sha.hexdigest()


def link_free_name(tmp_path, name):
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(10_000):
        target = FOLDER / (name if n == 0 else f"{stem} ({n}){suffix}")
        try:
            os.link(tmp_path, target)  # як open(..., "xb"): FileExistsError, якщо ім'я зайняте
            return target
        except FileExistsError:
            continue
    raise OSError(f"no free name for {name}")


def serve(conn, address):
    try:
        size, name = read_header(conn)
    except ValueError as exc:
        conn.sendall(f"ERROR bad-header {exc}\n".encode("utf-8"))
        return
    problem = name_error(name)
    if problem:
        log.info("%s: refused %r: %s", address[0], name, problem)
        conn.sendall(f"ERROR bad-name {problem}\n".encode("utf-8"))
        return
    conn.sendall(b"READY\n")
    # прихований тимчасовий файл: обірване завантаження не лишає напівфайлу під справжнім ім'ям
    tmp = tempfile.NamedTemporaryFile(dir=FOLDER, prefix=".upload-", delete=False)
    try:
        with tmp:
            digest = receive_body(conn, size, tmp)
        target = link_free_name(tmp.name, name)
    finally:
        os.unlink(tmp.name)
    conn.sendall(f"OK {size} {digest} {target.name}\n".encode("utf-8"))
    log.info("%s: saved %s (%d bytes)", address[0], target.name, size)


FOLDER.mkdir(parents=True, exist_ok=True)
with socket.create_server((HOST, PORT)) as listener:
    log.info("listening on %s:%s, saving into %s", HOST, PORT, FOLDER)
    while True:
        conn, address = listener.accept()
        with conn:
            conn.settimeout(10)
            try:
                serve(conn, address)
            except (OSError, EOFError, ValueError) as exc:
                log.warning("%s: %s", address[0], exc)
### END SOLUTION
'''),
            ("argparse, selectors, stats", r'''%%writefile lab/server3.py
"""Task 3: a TCP server that receives text files and saves them in a folder.

Run:  python lab/server3.py [HOST] [PORT] [FOLDER]      (defaults: 127.0.0.1 65433 uploads)
Protocol (docs/protocol.md): FILE <size> <name>\n, READY\n, the bytes, OK <size> <sha256> <saved name>\n
"""
import argparse
import hashlib
import selectors
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65433
FOLDER = Path(sys.argv[3] if len(sys.argv) > 3 else "uploads")


### BEGIN SOLUTION
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("host", nargs="?", default=HOST)
parser.add_argument("port", nargs="?", type=int, default=PORT)
parser.add_argument("folder", nargs="?", type=Path, default=FOLDER)
args = parser.parse_args()


@dataclass
class Stats:
    saved: int = 0
    refused: int = 0
    broken: int = 0


def recv_line(conn):
    line = b""
    while not line.endswith(b"\n"):
        byte = conn.recv(1)
        if not byte or len(line) > 1024:
            raise EOFError("no complete header line")
        line += byte
    return line


def recv_exactly(conn, n):
    parts, got = [], 0
    while got < n:
        part = conn.recv(min(n - got, 65536))
        if not part:
            raise EOFError(f"expected {n} bytes, got {got}")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def plain_name(name):
    return (name not in ("", ".", "..") and "/" not in name and "\\" not in name
            and all(ord(c) >= 32 and ord(c) != 127 for c in name) and len(name.encode("utf-8")) <= 255)


def save_unique(folder, name, body):
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 0
    while True:
        path = folder / (name if n == 0 else f"{stem} ({n}){suffix}")
        try:
            with open(path, "xb") as out:
                out.write(body)
            return path
        except FileExistsError:
            n += 1


def handle(conn, stats):
    """Одне завантаження; лічильники — у stats."""
    try:
        kind, size, name = recv_line(conn).decode("utf-8").removesuffix("\n").split(" ", 2)
    except ValueError:
        stats.refused += 1
        conn.sendall(b"ERROR bad-header expected FILE <size> <name>\n")
        return
    if kind != "FILE" or not size.isascii() or not size.isdigit():
        stats.refused += 1
        conn.sendall(b"ERROR bad-header expected FILE <size> <name>\n")
        return
    if not plain_name(name):
        stats.refused += 1
        conn.sendall(b"ERROR bad-name only a plain file name is allowed\n")
        return
    conn.sendall(b"READY\n")
    body = recv_exactly(conn, int(size))
    path = save_unique(args.folder, name, body)
    conn.sendall(f"OK {len(body)} {hashlib.sha256(body).hexdigest()} {path.name}\n".encode("utf-8"))
    stats.saved += 1
    print(f"server: saved {path.name} ({len(body)} bytes)")


stats = Stats()
args.folder.mkdir(parents=True, exist_ok=True)
selector = selectors.DefaultSelector()
with socket.create_server((args.host, args.port)) as listener:
    selector.register(listener, selectors.EVENT_READ)
    print(f"server: listening on {args.host}:{args.port}, saving into {args.folder}")
    try:
        while True:
            if not selector.select(timeout=1.0):  # раз на секунду: Ctrl-C спрацьовує і на Windows
                continue
            conn, address = listener.accept()
            with conn:
                conn.settimeout(10)
                try:
                    handle(conn, stats)
                except (OSError, EOFError) as exc:
                    stats.broken += 1
                    print(f"server: {address[0]}: {exc}")
    except KeyboardInterrupt:
        print(f"server: stopped; {stats}")
    finally:
        selector.close()
### END SOLUTION
'''),
        ],
        # ---- lab/client3.py (task 3a) ----------------------------------------------------------
        "files-53": [
            ("argparse", r'''%%writefile lab/client3.py
"""Task 3a: a client that sends any text file to the file server.

Run:  python lab/client3.py [HOST] [PORT] FILE          (defaults: 127.0.0.1 65433)
"""
import argparse
import hashlib
import socket
import sys
from pathlib import Path

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65433
FILE = Path(sys.argv[3] if len(sys.argv) > 3 else "data/lab_report_uk.txt")


### BEGIN SOLUTION
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("host", nargs="?", default=HOST)
parser.add_argument("port", nargs="?", type=int, default=PORT)
parser.add_argument("file", nargs="?", type=Path, default=FILE, help="будь-який текстовий файл")
args = parser.parse_args()
print("client: arguments:", vars(args))

if not args.file.is_file():
    parser.error(f"{args.file} is not a file")


def read_reply(sock):
    """Один рядок відповіді сервера, без кінця рядка."""
    line = b""
    while not line.endswith(b"\n"):
        b = sock.recv(1)
        if not b:
            raise ConnectionError("the server closed the connection without a reply")
        line += b
    return line[:-1].decode("utf-8")


data = args.file.read_bytes()
try:
    with socket.create_connection((args.host, args.port), timeout=10) as sock:
        sock.sendall(f"FILE {len(data)} {args.file.name}\n".encode("utf-8"))
        reply = read_reply(sock)
        if reply != "READY":
            print(f"client: the server refused the file: {reply}")
            sys.exit(1)
        sock.sendall(data)
        reply = read_reply(sock)
except OSError as exc:
    print(f"client: {exc}")
    sys.exit(1)
kind, _, rest = reply.partition(" ")
if kind != "OK":
    print(f"client: upload failed: {reply}")
    sys.exit(1)
size, digest, saved = rest.split(" ", 2)
if digest != hashlib.sha256(data).hexdigest():
    print("client: the SHA-256 differs: the server saved other bytes")
    sys.exit(1)
print(f"client: {args.file.name} ({len(data)} bytes) saved as {saved}; SHA-256 matches")
### END SOLUTION
'''),
            ("makefile, exit(1)", r'''%%writefile lab/client3.py
"""Task 3a: a client that sends any text file to the file server.

Run:  python lab/client3.py [HOST] [PORT] FILE          (defaults: 127.0.0.1 65433)
"""
import hashlib
import socket
import sys
from pathlib import Path

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65433
FILE = Path(sys.argv[3] if len(sys.argv) > 3 else "data/lab_report_uk.txt")


### BEGIN SOLUTION
if not FILE.is_file():
    print(f"usage: python lab/client3.py [HOST] [PORT] FILE   ({FILE} not found)")
    exit(1)

data = FILE.read_bytes()
with socket.create_connection((HOST, PORT), timeout=10) as sock, sock.makefile("rb") as answers:
    sock.sendall(f"FILE {len(data)} {FILE.name}\n".encode("utf-8"))
    ready = answers.readline().decode("utf-8").rstrip("\n")
    if ready != "READY":
        print("client: refused:", ready)
        sys.exit(1)
    sock.sendall(data)
    result = answers.readline().decode("utf-8").rstrip("\n")

parts = result.split(" ", 3)
if len(parts) != 4 or parts[0] != "OK":
    print("client: failed:", result)
    sys.exit(1)
if parts[2] != hashlib.sha256(data).hexdigest():
    print("client: SHA-256 differs!")
    sys.exit(1)
print(f"client: {FILE} -> {parts[3]} ({parts[1]} bytes), SHA-256 ok")
### END SOLUTION
'''),
            ("sendfile, logging, timing decorator", r'''%%writefile lab/client3.py
"""Task 3a: a client that sends any text file to the file server.

Run:  python lab/client3.py [HOST] [PORT] FILE          (defaults: 127.0.0.1 65433)
"""
import functools
import hashlib
import logging
import socket
import sys
import time
from pathlib import Path

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65433
FILE = Path(sys.argv[3] if len(sys.argv) > 3 else "data/lab_report_uk.txt")


### BEGIN SOLUTION
logging.basicConfig(level=logging.INFO, format="client: %(message)s", stream=sys.stdout)
log = logging.getLogger("client3")


def timed(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = func(*args, **kwargs)
        log.info("%s took %.1f ms", func.__name__, (time.perf_counter() - start) * 1000)
        return result
    return wrapper


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            h.update(block)
    return h.hexdigest()


def reply_line(sock):
    line = bytearray()
    while True:
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError("the server closed the connection")
        if byte == b"\n":
            return line.decode("utf-8")
        line += byte


@timed
def upload(path):
    size = path.stat().st_size
    with socket.create_connection((HOST, PORT), timeout=10) as sock:
        sock.sendall(f"FILE {size} {path.name}\n".encode("utf-8"))
        first = reply_line(sock)
        if first != "READY":
            raise RuntimeError(f"refused: {first}")
        with open(path, "rb") as f:
            sock.sendfile(f)
        return reply_line(sock)


try:
    reply = upload(FILE)
except (OSError, RuntimeError) as exc:
    log.error("%s", exc)
    sys.exit(1)
if not reply.startswith("OK "):
    log.error("the server answered: %s", reply)
    sys.exit(1)
_, size, digest, saved = reply.split(" ", 3)
if digest != sha256_of(FILE):
    log.error("SHA-256 differs: sent %s, the server has %s", sha256_of(FILE), digest)
    sys.exit(1)
log.info("sent %s (%s bytes), saved as %s", FILE.name, size, saved)
### END SOLUTION
'''),
            ("utf-8 stdout, own exception, main", r'''%%writefile lab/client3.py
"""Task 3a: a client that sends any text file to the file server.

Run:  python lab/client3.py [HOST] [PORT] FILE          (defaults: 127.0.0.1 65433)
"""
import hashlib
import io
import socket
import sys
from pathlib import Path

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65433
FILE = Path(sys.argv[3] if len(sys.argv) > 3 else "data/lab_report_uk.txt")


### BEGIN SOLUTION
sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8")  # для консолі Windows


class ServerRefused(Exception):
    pass


def read_line(sock):
    buf = b""
    while True:
        ch = sock.recv(1)
        if ch == b"":
            raise ConnectionError("сервер закрив з'єднання без відповіді")
        if ch == b"\n":
            break
        buf += ch
    return buf.decode("utf-8")


def upload(path: Path) -> str:
    data = path.read_bytes()
    with socket.create_connection((HOST, PORT), timeout=10) as sock:
        sock.sendall(f"FILE {len(data)} {path.name}\n".encode("utf-8"))
        answer = read_line(sock)
        if answer != "READY":
            raise ServerRefused(answer)
        sock.sendall(data)
        answer = read_line(sock)
    if not answer.startswith("OK "):
        raise ServerRefused(answer)
    _, size, digest, saved = answer.split(" ", 3)
    if digest != hashlib.sha256(data).hexdigest():
        raise ServerRefused("сервер зберіг інші байти (SHA-256 не збігається)")
    return saved


def main():
    try:
        saved = upload(FILE)
    except ServerRefused as exc:
        print(f"клієнт: сервер відмовив: {exc}")
        return 1
    except OSError as exc:
        print(f"клієнт: помилка мережі: {exc}")
        return 2
    print(f"клієнт: надіслано {FILE.name}, збережено як {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
### END SOLUTION
'''),
            ("getpass and platform, while True", r'''%%writefile lab/client3.py
"""Task 3a: a client that sends any text file to the file server.

Run:  python lab/client3.py [HOST] [PORT] FILE          (defaults: 127.0.0.1 65433)
"""
import getpass
import hashlib
import platform
import socket
import sys
from pathlib import Path

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65433
FILE = Path(sys.argv[3] if len(sys.argv) > 3 else "data/lab_report_uk.txt")


### BEGIN SOLUTION
try:
    user = getpass.getuser()
except Exception:  # буває, що користувача не визначити (контейнер)
    user = "?"
print(f"client: {user}@{platform.node()} sends {FILE} to {HOST}:{PORT}")

data = FILE.read_bytes()
sock = socket.create_connection((HOST, PORT), timeout=10)
try:
    sock.sendall(f"FILE {len(data)} {FILE.name}\n".encode("utf-8"))
    buffer = b""
    replies = []
    sent_body = False
    while len(replies) < 2:
        chunk = sock.recv(1024)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            replies.append(line.decode("utf-8"))
        if replies and replies[0] != "READY":
            break
        if replies == ["READY"] and not sent_body:
            sock.sendall(data)
            sent_body = True
finally:
    sock.close()

if len(replies) < 2 or not replies[1].startswith("OK "):
    print("client: the server did not save the file:", replies[-1] if replies else "no reply")
    sys.exit(1)
_, size, digest, saved = replies[1].split(" ", 3)
if digest != hashlib.sha256(data).hexdigest():
    print("client: SHA-256 mismatch")
    sys.exit(1)
print(f"client: saved as {saved} ({size} bytes)")
### END SOLUTION
'''),
        ],
    },
    "04_concurrency.ipynb": {
        # ---- Exercise 7: serve_concurrently ----------------------------------------------------
        "conc-16": [
            ("named threads", r'''def serve_concurrently(listener, count):
    """Serve count clients at the same time, a thread each; return when all are done."""
    ### BEGIN SOLUTION
    def serve(conn, number):
        with conn:
            conn.settimeout(5)
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    conn.sendall(data)
            except OSError as exc:
                print(f"клієнт {number}: {exc}")

    threads = []
    for number in range(1, count + 1):
        conn, _ = listener.accept()
        t = threading.Thread(target=serve, args=(conn, number), name=f"client-{number}")
        t.start()  # одразу назад до accept, не чекаючи на цього клієнта
        threads.append(t)
    for t in threads:
        t.join(10)
    ### END SOLUTION'''),
            ("ThreadPoolExecutor", r'''from concurrent.futures import ThreadPoolExecutor


def echo_client(conn):
    with conn:
        conn.settimeout(5)
        try:
            while chunk := conn.recv(4096):
                conn.sendall(chunk)
        except OSError:
            return False
    return True


def serve_concurrently(listener, count):
    """Serve count clients at the same time, a thread each; return when all are done."""
    ### BEGIN SOLUTION
    # по потоку на клієнта: max_workers=count, тож ніхто не чекає на вільний потік
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="echo") as pool:
        futures = [pool.submit(echo_client, listener.accept()[0]) for _ in range(count)]
    ok = sum(f.result() for f in futures)
    print(f"{ok} з {count} клієнтів обслуговано без помилок")
    ### END SOLUTION'''),
            ("Thread subclass, shared stats", r'''from dataclasses import dataclass, field


@dataclass
class Stats:
    clients: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class EchoThread(threading.Thread):
    def __init__(self, conn, stats):
        super().__init__(daemon=True)
        self.conn = conn
        self.stats = stats

    def run(self):
        with self.conn:
            self.conn.settimeout(5)
            try:
                while data := self.conn.recv(4096):
                    self.conn.sendall(data)
            except OSError:
                with self.stats.lock:
                    self.stats.errors += 1
        with self.stats.lock:
            self.stats.clients += 1


def serve_concurrently(listener, count):
    """Serve count clients at the same time, a thread each; return when all are done."""
    ### BEGIN SOLUTION
    stats = Stats()
    workers = []
    for _ in range(count):
        conn, _addr = listener.accept()
        worker = EchoThread(conn, stats)
        worker.start()
        workers.append(worker)
    for worker in workers:
        worker.join(timeout=10)
    print(stats)
    ### END SOLUTION'''),
            ("logging, one deadline", r'''import logging
import time

logging.basicConfig(level=logging.INFO, format="%(threadName)s: %(message)s")
log = logging.getLogger("threads")


def handle_client(conn, address):
    log.info("підключився %s:%s", *address)
    try:
        with conn:
            conn.settimeout(5)
            while data := conn.recv(4096):
                conn.sendall(data)
    except OSError as exc:
        log.warning("%s:%s — %s", *address, exc)
    else:
        log.info("%s:%s закрив з'єднання", *address)


def serve_concurrently(listener, count):
    """Serve count clients at the same time, a thread each; return when all are done."""
    ### BEGIN SOLUTION
    threads = []
    for i in range(count):
        conn, address = listener.accept()
        thread = threading.Thread(target=handle_client, args=(conn, address), daemon=True)
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + 15  # на всіх разом, а не по 15 с на кожного
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    ### END SOLUTION'''),
            ("decorator, select, type hints", r'''import functools
import select
from typing import List


def never_raises(func):
    """Декоратор: потік клієнта не повинен падати через OSError."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except OSError as exc:
            print(f"{func.__name__}: {exc!r}")
    return wrapper


@never_raises
def echo_safely(conn: socket.socket) -> None:
    with conn:
        conn.settimeout(5)
        while True:
            ready, _, _ = select.select([conn], [], [], 5)
            if not ready:
                return  # мовчить 5 секунд — відключаємо
            data = conn.recv(4096)
            if not data:
                return
            conn.sendall(data)


def serve_concurrently(listener: socket.socket, count: int) -> None:
    """Serve count clients at the same time, a thread each; return when all are done."""
    ### BEGIN SOLUTION
    threads: List[threading.Thread] = []
    while len(threads) < count:
        conn, _ = listener.accept()
        threads.append(threading.Thread(target=echo_safely, args=(conn,)))
        threads[-1].start()
    for t in threads:
        t.join(timeout=10)
    ### END SOLUTION'''),
            ("socketserver handler, try-it", r'''import socketserver


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(5)
        try:
            while data := self.request.recv(4096):
                self.request.sendall(data)
        except OSError:
            pass  # клієнт зник — нічого страшного

    def finish(self):
        self.request.close()


def serve_concurrently(listener, count):
    """Serve count clients at the same time, a thread each; return when all are done."""
    ### BEGIN SOLUTION
    threads = []
    for _ in range(count):
        conn, address = listener.accept()
        t = threading.Thread(target=Handler, args=(conn, address, None))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(10)
    ### END SOLUTION


# спробувати: два клієнти одночасно
listener = socket.create_server(("127.0.0.1", 0))
runner = threading.Thread(target=serve_concurrently, args=(listener, 2))
runner.start()
clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(2)]
for i, c in enumerate(clients):
    c.sendall(f"привіт {i}".encode())
    c.shutdown(socket.SHUT_WR)
for c in clients:
    print(c.recv(100).decode())
    c.close()
runner.join(5)
listener.close()'''),
        ],
        # ---- Exercise 8: handle_echo -----------------------------------------------------------
        "conc-19": [
            ("async for", r'''async def chunks(reader, size=4096):
    """Асинхронний генератор шматків, поки клієнт не закриє свій бік."""
    while True:
        data = await reader.read(size)
        if not data:
            return
        yield data


async def handle_echo(reader, writer):
    """Echo one client, in the event loop."""
    ### BEGIN SOLUTION
    async for data in chunks(reader):
        writer.write(data)
        await writer.drain()  # клієнт не читає — чекаємо, а не накопичуємо
    writer.close()
    await writer.wait_closed()
    ### END SOLUTION'''),
            ("wait_for idle timeout", r'''import contextlib


async def handle_echo(reader, writer):
    """Echo one client, in the event loop."""
    ### BEGIN SOLUTION
    peer = writer.get_extra_info("peername")
    try:
        while True:
            try:
                data = await asyncio.wait_for(reader.read(4096), timeout=30)
            except asyncio.TimeoutError:
                print(f"{peer}: мовчить 30 с, відключаю")
                break
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError as exc:
        print(f"{peer}: {exc}")
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    ### END SOLUTION'''),
            ("logging, type hints", r'''import logging

log = logging.getLogger("asyncio-echo")


async def handle_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo one client, in the event loop."""
    ### BEGIN SOLUTION
    host, port = writer.get_extra_info("peername")[:2]
    log.info("client %s:%s connected", host, port)
    total = 0
    try:
        while data := await reader.read(65536):
            total += len(data)
            writer.write(data)
            await writer.drain()
    finally:
        log.info("client %s:%s done, %d bytes", host, port, total)
        writer.close()
        await writer.wait_closed()
    ### END SOLUTION'''),
            ("contextlib.closing", r'''import contextlib


async def handle_echo(reader, writer):
    """Echo one client, in the event loop."""
    ### BEGIN SOLUTION
    with contextlib.closing(writer):  # writer.close() у будь-якому разі
        while True:
            data = await reader.read(4096)
            if data == b"":
                break
            writer.write(data)
            await writer.drain()
    ### END SOLUTION'''),
            ("callable class with stats", r'''from dataclasses import dataclass


@dataclass
class EchoStats:
    clients: int = 0
    active: int = 0
    echoed: int = 0


class AsyncEcho:
    def __init__(self):
        self.stats = EchoStats()

    async def __call__(self, reader, writer):
        self.stats.clients += 1
        self.stats.active += 1
        try:
            while data := await reader.read(4096):
                self.stats.echoed += len(data)
                writer.write(data)
                await writer.drain()
        finally:
            self.stats.active -= 1
            writer.close()


echo_service = AsyncEcho()


async def handle_echo(reader, writer):
    """Echo one client, in the event loop."""
    ### BEGIN SOLUTION
    await echo_service(reader, writer)
    ### END SOLUTION'''),
            ("try-it with start_server", r'''async def handle_echo(reader, writer):
    """Echo one client, in the event loop."""
    ### BEGIN SOLUTION
    try:
        while chunk := await reader.read(4096):
            writer.write(chunk)
            await writer.drain()
    except ConnectionResetError:
        pass  # клієнт зник — нічого не робимо
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    ### END SOLUTION


# спробуємо: свій сервер у циклі подій ноутбука, клієнт — у потоці, щоб цикл не став
test_server = await asyncio.start_server(handle_echo, "127.0.0.1", 0)
address = test_server.sockets[0].getsockname()[:2]


def one_client(text):
    with socket.create_connection(address, timeout=3) as s:
        s.sendall(text.encode())
        s.shutdown(socket.SHUT_WR)
        return s.recv(1024).decode()


print(await asyncio.to_thread(one_client, "Привіт, asyncio!"))
test_server.close()
await test_server.wait_closed()'''),
        ],
    },

    "05_udp.ipynb": {
        # ---- Exercise 9: udp_echo_server ---------------------------------------------------------
        "udp-18": [
            ("logging, while loop", r'''import logging

log = logging.getLogger("udp")


def udp_echo_server(sock, count):
    """Echo count datagrams, each to its own sender."""
    ### BEGIN SOLUTION
    served = 0
    while served < count:
        data, address = sock.recvfrom(65535)
        log.info("датаграма %d байт від %s:%s", len(data), *address)
        sock.sendto(data, address)
        served += 1
    ### END SOLUTION'''),
            ("type hints, constant", r'''import socket

BUFFER = 65_507  # найбільша датаграма IPv4


def udp_echo_server(sock: socket.socket, count: int) -> None:
    """Echo count datagrams, each to its own sender."""
    ### BEGIN SOLUTION
    for i in range(count):
        payload, sender = sock.recvfrom(BUFFER)
        sent = sock.sendto(payload, sender)
        assert sent == len(payload)
    ### END SOLUTION'''),
            ("recvfrom_into and a counter", r'''def udp_echo_server(sock, count):
    """Echo count datagrams, each to its own sender."""
    ### BEGIN SOLUTION
    buffer = bytearray(65536)
    stats = {}
    for _ in range(count):
        n, address = sock.recvfrom_into(buffer)
        stats[address] = stats.get(address, 0) + 1
        sock.sendto(buffer[:n], address)
    print("клієнти:", len(stats))
    ### END SOLUTION'''),
        ],
        # ---- Exercise 10: ping ---------------------------------------------------------------------
        "udp-21": [
            ("own helper and exception", r'''class NoReply(Exception):
    pass


def wait_for(sock, seq, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise NoReply(seq)
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(4096)
        except socket.timeout:
            raise NoReply(seq)
        parts = data.split()
        if len(parts) > 1 and parts[1] == str(seq).encode():
            return


def ping(address, count, timeout=1.0):
    """Send count pings; return (round-trip times in seconds, None if lost; the lost fraction)."""
    ### BEGIN SOLUTION
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtts = []
    try:
        for seq in range(count):
            t0 = time.perf_counter()
            sock.sendto(f"Ping {seq} {time.ctime()}".encode(), address)
            try:
                wait_for(sock, seq, timeout)
                rtts.append(time.perf_counter() - t0)
            except NoReply:
                rtts.append(None)
    finally:
        sock.close()
    lost = sum(1 for r in rtts if r is None)
    return rtts, lost / count
    ### END SOLUTION'''),
            ("select and a dict", r'''import select


def ping(address: tuple[str, int], count: int, timeout: float = 1.0) -> tuple[list[float | None], float]:
    """Send count pings; return (round-trip times in seconds, None if lost; the lost fraction)."""
    ### BEGIN SOLUTION
    times: dict[int, float | None] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for n in range(1, count + 1):
            msg = b"Ping %d %.3f" % (n, time.time())
            start = time.monotonic()
            s.sendto(msg, address)
            times[n] = None
            while True:
                left = start + timeout - time.monotonic()
                ready, _, _ = select.select([s], [], [], max(left, 0))
                if not ready:
                    break
                reply, server = s.recvfrom(65535)
                if reply == msg and server == address:
                    times[n] = time.monotonic() - start
                    break
    rtts = list(times.values())
    return rtts, rtts.count(None) / len(rtts)
    ### END SOLUTION'''),
        ],
        # ---- Exercise 11: request ------------------------------------------------------------------
        "udp-24": [
            ("uuid and a loop of waits", r'''import uuid


def request(sock, address, data, first_wait=0.1, attempts=5):
    """Send data, retrying with a doubling wait; return the reply's data (raise TimeoutError if none)."""
    ### BEGIN SOLUTION
    rid = uuid.uuid4().bytes  # 16 байтів
    for attempt in range(attempts):
        wait = first_wait * 2 ** attempt
        sock.sendto(rid + data, address)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            sock.settimeout(max(end - time.monotonic(), 0.001))
            try:
                reply, sender = sock.recvfrom(65535)
            except socket.timeout:
                break
            if reply[:16] == rid and sender == address:
                return reply[16:]
    raise TimeoutError("сервер не відповів")
    ### END SOLUTION'''),
            ("a counter, struct and own exception", r'''import itertools
import struct

_ids = itertools.count(1)


class GaveUp(TimeoutError):
    """Жодної відповіді після всіх спроб."""


def request(sock, address, data: bytes, first_wait: float = 0.1, attempts: int = 5) -> bytes:
    """Send data, retrying with a doubling wait; return the reply's data (raise TimeoutError if none)."""
    ### BEGIN SOLUTION
    header = struct.pack("!I", next(_ids))
    wait = first_wait
    for _ in range(attempts):
        sock.sendto(header + data, address)
        sock.settimeout(wait)
        try:
            while True:
                reply, _ = sock.recvfrom(65535)
                if reply[:4] == header:
                    return reply[4:]
        except TimeoutError:
            wait *= 2
    raise GaveUp(f"{attempts} спроб, відповіді немає")
    ### END SOLUTION'''),
        ],
        # ---- udp_server.py -------------------------------------------------------------------------
        "udp-28": [
            ("argparse and logging", r'''%%writefile lab/udp_server.py
"""Task 5: a UDP echo server. It sends each datagram back to its sender, until it is stopped.

Run:  python lab/udp_server.py [HOST] [PORT]          (defaults: 127.0.0.1 65435)
"""
import argparse
import logging
import socket

### BEGIN SOLUTION
parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("host", nargs="?", default="127.0.0.1")
parser.add_argument("port", nargs="?", type=int, default=65435)
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((args.host, args.port))
logging.info("UDP-сервер слухає %s:%d", args.host, args.port)
try:
    while True:
        data, addr = sock.recvfrom(65535)
        logging.info("%d байт від %s", len(data), addr)
        sock.sendto(data, addr)
except KeyboardInterrupt:
    pass
finally:
    sock.close()
### END SOLUTION'''),
            ("socketserver", r'''%%writefile lab/udp_server.py
"""Task 5: a UDP echo server. It sends each datagram back to its sender, until it is stopped.

Run:  python lab/udp_server.py [HOST] [PORT]          (defaults: 127.0.0.1 65435)
"""
import socket
import socketserver
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65435

### BEGIN SOLUTION
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


class Server(socketserver.UDPServer):
    max_packet_size = 65535


with Server((HOST, PORT), Echo) as server:
    print("сервер працює", flush=True)
    server.serve_forever()
### END SOLUTION'''),
        ],
        # ---- udp_client.py -------------------------------------------------------------------------
        "udp-29": [
            ("functions, Ukrainian output", r'''%%writefile lab/udp_client.py
"""Task 5a: a UDP pinger. It sends COUNT pings with a 1 s timeout and prints each round trip and the loss.

Run:  python lab/udp_client.py [HOST] [PORT] [COUNT]   (defaults: 127.0.0.1 65435 10)
"""
import socket
import sys
import time

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65435
COUNT = int(sys.argv[3]) if len(sys.argv) > 3 else 10

### BEGIN SOLUTION
def one_ping(sock, n):
    message = f"Ping {n} {time.time()}".encode()
    start = time.perf_counter()
    sock.sendto(message, (HOST, PORT))
    while True:
        left = start + 1.0 - time.perf_counter()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            reply, _ = sock.recvfrom(65535)
        except socket.timeout:
            return None
        if reply == message:
            return (time.perf_counter() - start) * 1000


def main():
    got = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n in range(1, COUNT + 1):
            ms = one_ping(sock, n)
            if ms is None:
                print(f"ping {n}: час очікування вичерпано")
            else:
                got += 1
                print(f"ping {n}: {ms:.1f} мс")
    lost = (COUNT - got) / COUNT * 100
    print(f"Надіслано {COUNT}, отримано {got}, втрачено {lost:.1f}%")


if __name__ == "__main__":
    main()
### END SOLUTION'''),
            ("sequence numbers, statistics", r'''%%writefile lab/udp_client.py
"""Task 5a: a UDP pinger. It sends COUNT pings with a 1 s timeout and prints each round trip and the loss.

Run:  python lab/udp_client.py [HOST] [PORT] [COUNT]   (defaults: 127.0.0.1 65435 10)
"""
import socket
import statistics
import sys
import time

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65435
COUNT = int(sys.argv[3]) if len(sys.argv) > 3 else 10

### BEGIN SOLUTION
rtts = []
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(1.0)
for seq in range(COUNT):
    sent_at = time.monotonic()
    sock.sendto(f"Ping {seq} {sent_at}".encode(), (HOST, PORT))
    try:
        while True:
            data, _ = sock.recvfrom(65535)
            if data.split()[1] == str(seq).encode():
                rtts.append(time.monotonic() - sent_at)
                print(f"Reply {seq}: rtt={rtts[-1] * 1000:.3f} ms")
                break
            sock.settimeout(max(sent_at + 1.0 - time.monotonic(), 0.001))
    except socket.timeout:
        print(f"Request {seq} timed out")
    sock.settimeout(1.0)
sock.close()
if rtts:
    print(f"min/avg/max = {min(rtts) * 1000:.2f}/{statistics.mean(rtts) * 1000:.2f}/{max(rtts) * 1000:.2f} ms")
print(f"{COUNT} packets transmitted, {len(rtts)} received, {100 * (COUNT - len(rtts)) // COUNT}% packet loss")
### END SOLUTION'''),
        ],
    },

    "06_framing.ipynb": {
        # ---- Exercise 12: recv_exactly, send_msg, recv_msg -----------------------------------------
        "frame-14": [
            ("recv_into and own exceptions", r'''class StreamEnded(ConnectionError):
    """Потік закінчився посеред повідомлення."""


class TooLong(ValueError):
    pass


HEADER = struct.Struct("!I")


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Exactly n bytes from sock; ConnectionError if the stream ends first."""
    ### BEGIN SOLUTION
    buffer = bytearray(n)
    view = memoryview(buffer)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise StreamEnded(f"отримано {got} з {n} байтів")
        got += k
    return bytes(buffer)
    ### END SOLUTION


def send_msg(sock: socket.socket, data: bytes) -> None:
    """One message: a 4-byte big-endian length, then the bytes."""
    ### BEGIN SOLUTION
    sock.sendall(HEADER.pack(len(data)))
    sock.sendall(data)
    ### END SOLUTION


def recv_msg(sock: socket.socket, limit: int = 1_048_576) -> bytes | None:
    """The next message; None at the end of the stream."""
    ### BEGIN SOLUTION
    first = sock.recv(HEADER.size)
    if first == b"":
        return None
    rest = recv_exactly(sock, HEADER.size - len(first)) if len(first) < HEADER.size else b""
    (length,) = HEADER.unpack(first + rest)
    if length > limit:
        raise TooLong(f"{length} > {limit}")
    return recv_exactly(sock, length)
    ### END SOLUTION'''),
            ("int.from_bytes and a loop", r'''def recv_exactly(sock, n):
    """Exactly n bytes from sock; ConnectionError if the stream ends first."""
    ### BEGIN SOLUTION
    parts, count = [], 0
    while count < n:
        part = sock.recv(min(n - count, 65536))
        if not part:
            raise EOFError("з'єднання закрито посеред повідомлення")
        parts.append(part)
        count += len(part)
    return b"".join(parts)
    ### END SOLUTION


def send_msg(sock, data):
    """One message: a 4-byte big-endian length, then the bytes."""
    ### BEGIN SOLUTION
    sock.sendall(len(data).to_bytes(4, byteorder="big") + bytes(data))
    ### END SOLUTION


def recv_msg(sock, limit=1_048_576):
    """The next message; None at the end of the stream."""
    ### BEGIN SOLUTION
    header = b""
    while len(header) < 4:
        piece = sock.recv(4 - len(header))
        if not piece:
            if header:
                raise ConnectionError("обірваний заголовок")
            return None
        header += piece
    size = int.from_bytes(header, "big")
    if size > limit:
        raise ValueError("повідомлення завелике")
    return recv_exactly(sock, size) if size else b""
    ### END SOLUTION'''),
        ],
        # ---- Exercise 13: exchange -----------------------------------------------------------------
        "frame-18": [
            ("ThreadPoolExecutor", r'''from concurrent.futures import ThreadPoolExecutor


def exchange(sock, data):
    """Send data as a framed message while receiving the other side's; return theirs."""
    ### BEGIN SOLUTION
    with ThreadPoolExecutor(max_workers=1) as pool:
        sent = pool.submit(send_msg, sock, data)
        theirs = recv_msg(sock, limit=64 * 2**20)
        sent.result(timeout=30)
    return theirs
    ### END SOLUTION'''),
            ("selectors by hand", r'''import selectors


def exchange(sock, data):
    """Send data as a framed message while receiving the other side's; return theirs."""
    ### BEGIN SOLUTION
    outgoing = memoryview(struct.pack("!I", len(data)) + data)
    incoming = bytearray()
    need = None
    timeout = sock.gettimeout()
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    try:
        while len(outgoing) or need is None or len(incoming) < need:
            events = sel.select(timeout=10)
            if not events:
                raise TimeoutError("нічого не відбувається 10 с")
            for key, mask in events:
                if mask & selectors.EVENT_WRITE and len(outgoing):
                    outgoing = outgoing[sock.send(outgoing):]
                if mask & selectors.EVENT_READ:
                    chunk = sock.recv(1 << 16)
                    if not chunk:
                        raise ConnectionError("співрозмовник закрив з'єднання")
                    incoming += chunk
                    if need is None and len(incoming) >= 4:
                        need = 4 + struct.unpack("!I", incoming[:4])[0]
            if not len(outgoing):
                sel.modify(sock, selectors.EVENT_READ)
    finally:
        sel.close()
        sock.settimeout(timeout)
    return bytes(incoming[4:need])
    ### END SOLUTION'''),
        ],
        # ---- framed_server.py ----------------------------------------------------------------------
        "frame-22": [
            ("socketserver and makefile", r'''%%writefile lab/framed_server.py
"""Task 6: a framed echo server. Each message (a 4-byte big-endian length, then the bytes) is answered with
itself, framed; clients are served one after another, until the server is stopped.

Run:  python lab/framed_server.py [HOST] [PORT]          (defaults: 127.0.0.1 65434)
"""
import socketserver
import struct
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65434
LIMIT = 1_048_576

### BEGIN SOLUTION
class FramedEcho(socketserver.StreamRequestHandler):
    timeout = 10

    def handle(self):
        while True:
            header = self.rfile.read(4)      # один файл на все з'єднання: нічого не губиться
            if len(header) < 4:
                return
            (size,) = struct.unpack("!I", header)
            if size > LIMIT:
                return
            body = self.rfile.read(size)
            if len(body) < size:
                return
            self.wfile.write(header + body)


class Server(socketserver.TCPServer):
    allow_reuse_address = True


with Server((HOST, PORT), FramedEcho) as server:
    print(f"сервер на {HOST}:{PORT}", flush=True)
    server.serve_forever()
### END SOLUTION'''),
        ],
        # ---- framed_client.py ----------------------------------------------------------------------
        "frame-23": [
            ("argparse and functions", r'''%%writefile lab/framed_client.py
"""Task 6a: a framed client. It sends each MESSAGE as a framed message and prints the reply to each.

Run:  python lab/framed_client.py [HOST] [PORT] [MESSAGE...]   (defaults: 127.0.0.1 65434 Привіт)
"""
import argparse
import socket
import struct

### BEGIN SOLUTION
def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            raise ConnectionError("сервер закрив з'єднання")
        data += more
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("port", nargs="?", type=int, default=65434)
    parser.add_argument("messages", nargs="*", default=["Привіт"])
    args = parser.parse_args()
    with socket.create_connection((args.host, args.port), timeout=10) as sock:
        for text in args.messages:
            payload = text.encode()
            sock.sendall(struct.pack("!I", len(payload)) + payload)
            size = struct.unpack("!I", recv_exactly(sock, 4))[0]
            print("відповідь:", recv_exactly(sock, size).decode())


main()
### END SOLUTION'''),
        ],
    },
}
