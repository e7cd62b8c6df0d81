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
    "import helper\n",
    "import lab.server\n",
    "from . import helper\n",
])
def test_reflection_past_the_dot_is_tampering(code):
    assert tampering(code, PROTECTED), code


@pytest.mark.parametrize("code", [
    "%%writefile lab/server.py\nimport sys\nif __name__ == '__main__':\n    main(sys.argv)\n",
    "if __name__ == '__main__':\n    pass\n",
    "def f(conn):\n    timeout = getattr(conn, 'timeout', None)\n    return hasattr(conn, 'recv'), timeout\n",
    "import functools, threading\nt = threading.Thread(target=functools.partial(print, 1))\n",
    "%%writefile -a lab/client3.py\nprint('done')\n",
    "import asyncio, hashlib, pathlib, selectors, socket, sys, threading, time\n",
])
def test_honest_code_is_not_tampering(code):
    assert tampering(code, PROTECTED) == [], code
