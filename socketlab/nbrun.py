"""``python -m socketlab.nbrun ARGS…``: pytest, for one graded notebook, started quickly.

jsonschema (which nbformat uses) imports ``rfc3987_syntax`` when it is
installed, to check "iri" formats, and that import compiles a grammar: about
a second, paid by every graded notebook.  Notebook schemas use no such
format, so the grader's runs go without it.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # "not installed" for jsonschema

import pytest  # noqa: E402

sys.exit(pytest.main(sys.argv[1:]))
