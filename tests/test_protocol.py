"""protocol.py is sans-IO: these tests use plain bytes, no sockets."""

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketlab import protocol as p


def test_header_round_trip():
    header = p.build_header(12, "звіт за квітень.txt")
    assert header == "FILE 12 звіт за квітень.txt\n".encode()
    assert p.parse_header(header) == p.FileHeader(12, "звіт за квітень.txt")


def test_crlf_line_ending_is_accepted():
    assert p.parse_header(b"FILE 3 a.txt\r\n") == p.FileHeader(3, "a.txt")


@pytest.mark.parametrize(
    "line, code, words",
    [
        (b"FILE 3 a.txt", "bad-header", "newline"),
        (b"SEND 3 a.txt\n", "bad-header", "expected 'FILE <size> <name>'"),
        (b"FILE 3\n", "bad-header", "expected"),
        (b"file 3 a\n", "bad-header", "expected"),
        (b"FILE -3 a\n", "bad-header", "decimal digits"),
        (b"FILE +3 a\n", "bad-header", "decimal digits"),
        (b"FILE 1_000 a\n", "bad-header", "decimal digits"),
        (b"FILE  3 a\n", "bad-header", "decimal digits"),
        (b"FILE 0x10 a\n", "bad-header", "decimal digits"),
        (b"FILE 3 \xff\xfe\n", "bad-header", "UTF-8"),
        (b"FILE 3 " + b"a" * 1100 + b"\n", "bad-header", "longer than 1024"),
        (b"FILE 3 \n", "bad-name", "empty"),
        (b"FILE 3 ../x\n", "bad-name", "'/'"),
        (b"FILE 999999999999999999999 a\n", "too-large", "limit"),
        (b"FILE +5 a\n", "bad-header", "decimal digits"),
        (b"FILE 05 a\n", "bad-header", "leading zero"),
        (b"FILE  5 a\n", "bad-header", "decimal digits"),
        (b"FILE 1e3 a\n", "bad-header", "decimal digits"),
        (b"FILE \xd9\xa5 a\n", "bad-header", "decimal digits"),  # an Arabic-Indic five: int() takes it
        (f"FILE {10**30} a\n".encode(), "too-large", "31 digits"),
        (b"FILE 3 a\r\r\n", "bad-name", "control character"),  # never a name ending in \r
        (b"FILE 3 CON\n", "bad-name", "device name"),
        (b"FILE 3 x\xe2\x80\xaetxt.exe\n", "bad-name", "U+202E"),
    ],
)
def test_bad_headers(line, code, words):
    with pytest.raises(p.RemoteProtocolError) as info:
        p.parse_header(line)
    assert info.value.code == code
    assert words in info.value.message


def test_too_large():
    with pytest.raises(p.RemoteProtocolError) as info:
        p.parse_header(b"FILE 101 a\n", max_size=100)
    assert info.value.code == "too-large" and "100" in info.value.message
    assert p.parse_header(b"FILE 100 a\n", max_size=100).size == 100


def test_build_header_refuses_only_what_breaks_the_line():
    """Whether a name is safe to save is the server's judgement (check_name), not the client's half."""
    assert p.build_header(3, "a/b") == b"FILE 3 a/b\n"
    with pytest.raises(p.RemoteProtocolError):
        p.parse_header(p.build_header(3, "a/b"))
    for broken in ("", "a\nb", "a\rb", "\udcff"):
        with pytest.raises(p.LocalProtocolError) as info:
            p.build_header(3, broken)
        assert info.value.code == "bad-name"
    with pytest.raises(p.LocalProtocolError):
        p.build_header(-1, "a")
    with pytest.raises(p.LocalProtocolError, match="from 0 to"):
        p.build_header(10**20, "a")  # 21 digits: parse_header would refuse it
    longest = p.build_header(p.MAX_SIZE, "я" * 127 + "x")  # 255 bytes of name
    assert len(longest) <= p.MAX_HEADER
    assert p.parse_header(longest).size == p.MAX_SIZE
    assert isinstance(p.LocalProtocolError("bad-name", "x"), ValueError)


GOOD_NAMES = ["report.txt", ".bashrc", "..x", "a b c", "звіт.txt", "C:evil", "%2e%2e%2f", "x" * 255,
              "CONSOLE.txt", "com10", "nulls", "my con.txt", "a.b.c", "٣.txt"]
BAD_NAMES = ["", " ", "   ", ".", "..", "...", "../x", "/etc/passwd", "a/b", "a\\b", "a\x00b", "a\nb",
             "a\rb", "a.txt\r", "tab\t", "\x1b[31mred", "del\x7f", "nel\x85", "line\u2028sep", "x" * 256,
             "я" * 128]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names(name):
    assert p.name_problem(name) is None


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names(name):
    assert p.name_problem(name)


@pytest.mark.parametrize("name", ["CON", "con", "nul.txt", "COM1", "com0", "COM¹", "lpt9.log", "LPT1.tar.gz",
                                  "AUX .txt", "PRN", "conin$"])
def test_windows_device_names_are_refused_everywhere(name):
    assert "device name" in p.name_problem(name)


@pytest.mark.parametrize("name, words", [
    ("report.", "ends with a dot"), ("report.txt.", "ends with a dot"), ("report ", "space"),
    (" report", "space"), ("report.txt ", "space"),
    ("x\u202etxt.exe", "U+202E"), ("a\u202db", "U+202D"), ("a\u2066b", "U+2066"), ("a\u200fb", "U+200F"),
    ("a\u061cb", "U+061C"), ("zero\u200bwidth", "U+200B"), ("a\u200db", "U+200D"), ("a\u2060b", "U+2060"),
    ("\ufeffbom.txt", "U+FEFF"), ("soft\u00adhyphen", "U+00AD"),
])
def test_names_that_deceive_or_vanish_are_refused(name, words):
    assert words in p.name_problem(name)
    with pytest.raises(p.RemoteProtocolError) as info:
        p.parse_header(f"FILE 1 {name}\n".encode())
    assert info.value.code == "bad-name"


def test_crlf_never_leaves_a_carriage_return_in_the_name():
    assert p.parse_header(b"FILE 3 a b.txt\r\n").name == "a b.txt"
    assert p.parse_header(b"FILE 0 a\n") == p.FileHeader(0, "a")


@pytest.mark.parametrize("name, ext", [("x" * 254, ""), ("x" * 255, ""), ("x" * 251 + ".txt", ".txt"),
                                       ("я" * 125 + ".txt", ".txt"), ("я" * 127 + "x", ""),
                                       ("a." + "b" * 253, "")])  # an "extension" that is the whole name
def test_numbered_names_of_long_names_still_fit(name, ext):
    assert p.name_problem(name) is None
    for n in (1, 10, 9999):
        numbered = p.numbered_name(name, n)
        assert p.name_problem(numbered) is None, numbered
        assert numbered.endswith(f" ({n}){ext}")


def test_replies_round_trip():
    sha = hashlib.sha256(b"hello").hexdigest()
    assert p.parse_reply(p.build_ready()) == p.Ready()
    assert p.parse_reply(p.build_ok(5, sha, "hi (1).txt")) == p.Ok(5, sha, "hi (1).txt")
    assert p.parse_reply(p.build_error("too-large", "over\nthe limit")) == p.ErrorReply("too-large", "over the limit")


@pytest.mark.parametrize("line", [b"READY", b"OK 5 abc x\n", b"ERROR nope x\n", b"HELLO\n", b"OK\n", b"\xff\n"])
def test_bad_replies(line):
    with pytest.raises(p.RemoteProtocolError):
        p.parse_reply(line)


def test_build_error_needs_a_known_code():
    with pytest.raises(p.LocalProtocolError):
        p.build_error("oops", "x")


header_like = st.one_of(
    st.binary(max_size=1100),
    st.builds(lambda size, name, end: b"FILE " + size + b" " + name + end,
              st.binary(max_size=25), st.binary(max_size=300), st.sampled_from([b"\n", b"\r\n", b""])),
    st.builds(lambda size, name: f"FILE {size} {name}\n".encode("utf-8", "surrogatepass"),
              st.integers(-5, 10**25), st.text(max_size=300)),
)


@settings(max_examples=500, deadline=None)
@given(header_like)
def test_parse_header_never_raises_anything_else(line):
    try:
        header = p.parse_header(line, max_size=10**9)
    except p.RemoteProtocolError as exc:
        assert exc.code in p.ERROR_CODES
    else:
        assert p.name_problem(header.name) is None
        assert 0 <= header.size <= 10**9


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**12), st.text(min_size=1, max_size=120))
def test_any_valid_name_round_trips(size, name):
    if p.name_problem(name) is None:
        assert p.parse_header(p.build_header(size, name)) == p.FileHeader(size, name)
    else:
        with pytest.raises(p.ProtocolError):  # the client's check, or the server's on what it sent
            p.check_name(name)
            p.parse_header(p.build_header(size, name))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parse_reply_never_raises_anything_else(line):
    try:
        p.parse_reply(line)
    except p.RemoteProtocolError:
        pass


def test_protocol_module_has_no_socket():
    import socketlab.protocol as module

    assert "socket" not in module.__dict__
    source = open(module.__file__, encoding="utf-8").read()
    assert "import socket" not in source
