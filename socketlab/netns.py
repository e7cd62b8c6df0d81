"""``python -m socketlab.netns PROGRAM [ARGS…]``: bring up loopback, then run PROGRAM.

Used by the grader inside a fresh network namespace (``unshare --net``),
where the loopback interface starts down: every graded notebook then has a
127.0.0.1 of its own, and two students binding the same port never meet.
"""

import fcntl
import os
import socket
import struct
import sys

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m socketlab.netns PROGRAM [ARGS...]")
    loopback_up()
    os.execvp(sys.argv[1], sys.argv[1:])
