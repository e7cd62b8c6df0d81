"""The grader's screen of solution cells: tricks that reach past the dot are caught, honest code is not."""

import pytest
from test_cheaters import SWAP_HELPERS

from socketlab.instructor.screen import tampering

PROTECTED = {"socketlab", "check"}


@pytest.mark.parametrize("code", [
    SWAP_HELPERS,
    "import functools, sys\nm = functools.reduce(getattr, ['modules'], sys)\n",
    "import sys\nm = list(map(getattr, [sys], ['modules']))\n",
    "import sys\nm = getattr(sys, 'modules')\n",
    "f = object.__getattribute__\n",
    "x = type(print).__dict__\n",
    "name = '__setattr__'\n",
    # code the screen never reads: a module of the student's own, written by %%writefile, imported
    "%%writefile helper.py\nimport sys\n",
    "%%writefile lab/../helper.py\nimport sys\n",
    # a lab program that puts site-packages back and imports the course by a built name
    "%%writefile lab/server.py\nimport sys\nsys.path += ['/usr/lib/python3/dist-packages']\n",
    "%%writefile lab/server.py\nsl = __import__('socket' + 'lab')\n",
    "%%writefile lab/client.py\nimport importlib\nsl = importlib.import_module('socket' + 'lab')\n",
    "import helper\n",
    "import lab.server\n",
    "from . import helper\n",
    # stdlib modules that run code from a string, or patch by dotted name
    "import timeit\ntimeit.timeit(\"import socketlab.checks.echo as m; m.echo_server = print\", number=1)\n",
    "import cProfile\ncProfile.run(\"import socketlab.checks.echo as m; m.echo_server = print\")\n",
    "import runpy\nrunpy.run_path('lab/evil.py')\n",
    "from unittest import mock\nmock.patch('socketlab.checks.echo.echo_server', print).start()\n",
    # the checks' module reached through another name
    "c = check\nc.echo_server = print\n",
    "c = check\nc.fail = print\n",
    "def helper(check):\n    pass\ncheck.echo_server = print\n",
    "def patch(m):\n    m.echo_server = print\npatch(check)\n",
    "import socket\nS = socket.socket\nS.recv = lambda self, *a: b''\n",
    "class Fake:\n    pass\nmatch Fake:\n    case check:\n        pass\n",
    "class P:\n    def apply(self):\n        self.echo_server = print\nP.apply(check)\n",
    "check.HINTS[0] = 'x'\n",
    "import sys\nsys.path.append('/tmp')\n",
    # "its own object" that is not: a name called self, a rebinding, a constructor of its own, a chain
    "self = check\nself.echo_server = print\n",
    "class H:\n    def m(self):\n        def inner(self):\n            self.echo_server = print\n"
    "        inner(check)\nH().m()\n",
    "class H:\n    def __new__(cls):\n        return check\nh = H()\nh.echo_server = print\n",
    "class H:\n    pass\nh = H()\nh = check\nh.echo_server = print\n",
    "class H:\n    def __init__(self):\n        self.a = check\n        self.a.echo_server = print\nH()\n",
    "class H:\n    pass\ndef H():\n    return check\nh = H()\nh.echo_server = print\n",
    # the standard library doing it for the solution
    "import functools\nclass F:\n    echo_server = staticmethod(print)\nfunctools.update_wrapper(check, F)\n",
    "from functools import wraps\n",
    "import string\ng = string.Formatter().get_field('0.x', [print], {})\n",
    "import typing\ndef f(x: 'check.fail'):\n    pass\ntyping.get_type_hints(f)\n",
    "import logging.config\n",
    "import asyncio\nasyncio.get_event_loop().set_task_factory(None)\n",
])
def test_tricks_past_the_screen_are_tampering(code):
    assert tampering(code, PROTECTED), code


@pytest.mark.parametrize("code", [
    "%%writefile lab/server.py\nimport sys\nif __name__ == '__main__':\n    main(sys.argv)\n",
    "if __name__ == '__main__':\n    pass\n",
    "def f(conn):\n    timeout = getattr(conn, 'timeout', None)\n    return hasattr(conn, 'recv'), timeout\n",
    "import functools, threading\nt = threading.Thread(target=functools.partial(print, 1))\n",
    "%%writefile -a lab/client3.py\nprint('done')\n",
    "import asyncio, hashlib, pathlib, selectors, socket, sys, threading, time\n",
    "import threading\nt = threading.Thread(target=print)\nt.daemon = True\n",
    "class Handler:\n    def __init__(self, sock):\n        self.sock = sock\n        self.buffer = bytearray()\n"
    "h = Handler(None)\nh.buffer = bytearray(b'x')\nh.buffer[0:1] = b'y'\nparts = []\nparts.append(b'x')\n",
    "class Counter:\n    def __init__(self):\n        self.n = 0\n    def up(self):\n        self.n += 1\n",
    "from __future__ import annotations\nimport functools, threading\n"
    "threading.Thread(target=functools.partial(print, 'hi'), daemon=True).start()\n",
])
def test_honest_code_is_not_tampering(code):
    assert tampering(code, PROTECTED) == [], code


REFERENCE_BEHIND_A_NAME = {  # the notebook's own EchoServer (``server = socketlab.EchoServer(…).start()``)
    "a list": "helpers = [server]\n\ndef serve_one_client(listener):\n    conn, peer = listener.accept()\n"
              "    with conn:\n        helpers[0].handle(conn, 0)\n",
    "a method": "def serve_one_client(listener):\n    conn, peer = listener.accept()\n    server.handle(conn, 0)\n",
    "its class": "kind = type(server)\n\ndef serve_one_client(listener):\n    conn, peer = listener.accept()\n"
                 "    kind().handle(conn, 0)\n",
}


@pytest.mark.parametrize("answer", REFERENCE_BEHIND_A_NAME.values(), ids=REFERENCE_BEHIND_A_NAME.keys())
def test_the_notebooks_own_servers_are_shortcuts_too(answer):
    from test_cheaters import source, with_cell

    from socketlab.instructor.build import build_graded_notebook
    from socketlab.instructor.screen import screen

    graded = build_graded_notebook(source(), [{"id": c.get("id"), "tags": c.metadata.get("tags", []), "source": c.source}
                                              for c in with_cell("serve_one_client", answer, stub=False).cells
                                              if c.cell_type == "code"])
    findings, used = screen(graded, source())
    assert not findings and "socketlab.EchoServer.start" in used.get("serve_one_client", []), used


def test_an_honest_class_uses_no_shortcut():
    from test_cheaters import source

    from socketlab.instructor.build import build_graded_notebook
    from socketlab.instructor.screen import screen

    answers = [{"id": c.get("id"), "tags": c.metadata.get("tags", []), "source": c.source}
               for c in source().cells if c.cell_type == "code"]
    assert screen(build_graded_notebook(source(), answers), source()) == ([], {})
