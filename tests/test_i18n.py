"""The package's text in English and Ukrainian: the catalogs, their loading, a check and the CLI speaking each.

The Ukrainian catalog must translate every message (none empty, none fuzzy) with the
same placeholders, and be up to date with the code (the messages re-extracted with
Babel, as `make translations` does, are the catalog's).  The catalog compiled by
socketlab.i18n (standard library only, as the build and a source tree do) must equal
Babel's compilation of it.
"""

import gettext
import importlib.util
import io
import os
import shutil
import socket
import string
import subprocess
import sys
from pathlib import Path

import pytest

import socketlab
from socketlab import i18n
from socketlab.checks import CheckFailed
from socketlab.checks import echo as check

babel = pytest.importorskip("babel", reason="Babel reads and extracts the catalogs (the `test` extra)")
from babel.messages.mofile import write_mo  # noqa: E402
from babel.messages.pofile import read_po  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "socketlab" / "locale"
PO = LOCALE / "uk" / "LC_MESSAGES" / "socketlab.po"
POT = LOCALE / "socketlab.pot"
CLI = [sys.executable, "-m", "socketlab"]


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    socketlab.use_language("en")


def catalog(path: Path = PO):
    with open(path, "rb") as f:
        return read_po(f)


def messages(cat):
    return [m for m in cat if m.id]


def ids(m) -> tuple:
    return m.id if isinstance(m.id, tuple) else (m.id,)


def strings(m) -> tuple:
    return m.string if isinstance(m.string, tuple) else (m.string,)


def fields(text: str) -> set[tuple[str, str]]:
    """The placeholders of a message: ``{name}`` and ``{seconds:.0f}`` as (name, format spec)."""
    return {(name, spec or "") for _lit, name, spec, _conv in string.Formatter().parse(text) if name is not None}


# ---- the catalogs ---------------------------------------------------------------------------------------


def test_there_are_messages_and_a_ukrainian_catalog():
    assert len(messages(catalog())) >= 100
    assert catalog().locale.language == "uk"
    assert catalog().num_plurals == 3  # 1 клієнт, 2 клієнти, 5 клієнтів


def test_every_message_has_a_ukrainian_translation():
    cat = catalog()
    untranslated = [m.id for m in messages(cat) if not all(s.strip() for s in strings(m))
                    or len(strings(m)) != (cat.num_plurals if m.pluralizable else 1)]
    fuzzy = [m.id for m in messages(cat) if m.fuzzy]
    assert not untranslated, f"not translated in {PO.name}: {untranslated}"
    assert not fuzzy, f"fuzzy in {PO.name} (check the translation, then remove the flag): {fuzzy}"
    assert not cat.fuzzy, "the catalog's header is marked fuzzy"


def test_placeholders_are_the_same_in_the_translation():
    for m in messages(catalog()):
        wanted = set().union(*(fields(i) for i in ids(m)))
        for form in strings(m):
            assert fields(form) == wanted, f"{m.id!r}: {form!r} has {fields(form)}, the English has {wanted}"


def test_the_ukrainian_reads_as_ukrainian():
    """A translation that is the English again (a copied msgid) is no translation."""
    same = [m.id for m in messages(catalog()) if strings(m)[0] == ids(m)[0]]
    assert not same, same


def test_the_catalogs_are_up_to_date_with_the_code(tmp_path):
    pybabel = shutil.which("pybabel", path=str(Path(sys.executable).parent)) or shutil.which("pybabel")
    if pybabel is None:
        pytest.skip("pybabel is not installed")
    fresh = tmp_path / "socketlab.pot"
    done = subprocess.run([pybabel, "extract", "-F", "babel.cfg", "-c", "TRANSLATORS:", "-o", str(fresh),
                           "socketlab"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    extracted = {m.id for m in messages(catalog(fresh))}
    fix = "run `make translations` and translate what it adds"
    assert {m.id for m in messages(catalog(POT))} == extracted, f"{POT.name} is out of date: {fix}"
    in_po = {m.id for m in messages(catalog())}
    assert extracted - in_po == set(), f"new messages, not in {PO.name}: {fix}"
    assert in_po - extracted == set(), f"messages no longer in the code, still in {PO.name}: {fix}"


def test_the_standard_library_compiler_agrees_with_babel():
    ours = gettext.GNUTranslations(io.BytesIO(i18n.compile_po(PO.read_text(encoding="utf-8"))))
    buffer = io.BytesIO()
    write_mo(buffer, catalog())
    buffer.seek(0)
    theirs = gettext.GNUTranslations(buffer)
    assert ours._catalog == theirs._catalog
    assert [ours.plural(n) for n in (1, 2, 5, 11, 21, 22, 25)] == [0, 1, 2, 2, 0, 1, 2]


def test_the_po_reader_skips_fuzzy_and_untranslated_entries_and_reads_continued_lines():
    text = '\n'.join([
        'msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"', '',
        '#, fuzzy', 'msgid "old"', 'msgstr "стара"', '',
        'msgid "empty"', 'msgstr ""', '',
        '#: somewhere.py', 'msgid "two "', '"lines"', 'msgstr "два "', '"рядки \\"так\\""', '',
        'msgctxt "menu"', 'msgid "Open"', 'msgstr "Відкрити"', '',
        '#~ msgid "gone"', '#~ msgstr "зникло"', ''])
    read = i18n.read_po(text)
    assert read["two lines"] == 'два рядки "так"' and read["menu\x04Open"] == "Відкрити"
    assert "old" not in read and "empty" not in read and "gone" not in read and "" in read


# ---- choosing the language ------------------------------------------------------------------------------


def test_use_language_switches_and_falls_back_to_english():
    assert socketlab.use_language("uk") == "uk" and i18n.language() == "uk"
    assert i18n._("Send") == "Надіслати"
    assert i18n.ngettext("{n} client", "{n} clients", 5).format(n=5) == "5 клієнтів"
    assert i18n.ngettext("{n} client", "{n} clients", 3).format(n=3) == "3 клієнти"
    assert socketlab.use_language("en") == "en" and i18n._("Send") == "Send"
    for lang in ("uk_UA.UTF-8", "uk-UA", "UK", "uk_UA@euro"):
        assert socketlab.use_language(lang) == "uk", lang
    for lang in ("fr", "xx_YY", "", None, "C", "en_GB.UTF-8", "../../etc", "uk/../uk", "uk/"):
        assert socketlab.use_language(lang) == "en", lang
        assert i18n._("Send") == "Send"


def test_the_environment_chooses_as_gettext_does():
    env = i18n.language_from_environment
    assert env({}) == "en"
    assert env({"LANG": "uk_UA.UTF-8"}) == "uk"
    assert env({"LANG": "C.UTF-8"}) == "en"
    assert env({"LANGUAGE": "uk:en", "LANG": "en_US.UTF-8"}) == "uk"
    assert env({"LANGUAGE": "fr:uk"}) == "uk"  # the first one with a catalog
    assert env({"LC_ALL": "en_US.UTF-8", "LANG": "uk_UA.UTF-8"}) == "en"
    assert env({"LC_MESSAGES": "uk_UA.UTF-8", "LANG": "en_US.UTF-8"}) == "uk"
    assert env({"LANG": "de_DE.UTF-8"}) == "en"


def test_the_language_changes_what_the_widgets_say():
    from socketlab.widgets import EchoPanel

    socketlab.use_language("uk")
    panel = EchoPanel(("127.0.0.1", 9))
    assert panel.button.description == "Надіслати"
    socketlab.use_language("en")
    assert EchoPanel(("127.0.0.1", 9)).button.description == "Send"


# ---- a real check, failing in each language -------------------------------------------------------------


def single_recv(listener):  # the classic wrong answer: one recv() for the whole message
    conn, _ = listener.accept()
    with conn:
        conn.sendall(conn.recv(1024))


def failure(run, *args) -> str:
    with pytest.raises(CheckFailed) as caught:
        run(*args)
    return str(caught.value)


def test_a_failing_check_gives_its_hint_in_ukrainian_then_in_english_again():
    socketlab.use_language("uk")
    message = failure(check.echo_server_pieces, single_recv)
    assert message.startswith("✘ надіслано ") and "шматками" in message
    assert "викликайте recv у циклі, доки він не поверне b'' (кінець потоку даних)" in message
    assert "recv in a loop" not in message
    socketlab.use_language("en")
    message = failure(check.echo_server_pieces, single_recv)
    assert message.startswith("✘ sent ") and "call recv in a loop until it returns b''" in message


def test_a_student_function_that_raised_is_reported_in_ukrainian():
    def my_echo(message, address):
        raise NotImplementedError("your code here")

    socketlab.use_language("uk")
    assert failure(check.echo_client, my_echo).startswith("✘ my_echo — виняток NotImplementedError: your code here")


def test_the_line_that_an_answer_will_fail_when_graded_is_in_ukrainian(capsys):
    from socketlab.checks import no_shortcuts

    def my_echo(message, address):
        return socketlab.echo(message, address)

    socketlab.use_language("uk")
    no_shortcuts(my_echo)
    said = capsys.readouterr().out
    assert said.startswith("⚠ my_echo використовує socketlab.echo.echo") and "під час оцінювання" in said


def test_the_course_code_says_in_ukrainian_that_it_is_not_there_when_graded(tmp_path):
    from socketlab.studentside import build

    build(tmp_path)
    code = ("import socketlab; socketlab.use_language('uk')\n"
            "try:\n    socketlab.EchoServer()\nexcept Exception as exc:\n    print(exc)")
    said = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + code],
                          capture_output=True, text=True, timeout=30).stdout
    assert said.startswith("socketlab.EchoServer — це код курсу, а під час оцінювання його немає"), said


def test_socketlab_check_speaks_the_language_of_the_notebooks_edition(tmp_path):
    """The judge speaks the edition's language, and so does what `socketlab check` prints of its verdicts."""
    from socketlab.instructor.release import release_notebook
    from socketlab.instructor.selfcheck import check as check_notebook, format_results

    import nbformat

    path = tmp_path / "01_echo.ipynb"
    nbformat.write(release_notebook(nbformat.read(ROOT / "notebooks" / "uk" / "01_echo.ipynb", as_version=4)), path)
    shown = format_results(check_notebook(path))
    assert "виняток NotImplementedError" in shown and "балів" in shown, shown
    assert "raised" not in shown and "points" not in shown


# ---- the command line -----------------------------------------------------------------------------------


def cli(*args, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    environ.update(env)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30, env=environ)


def closed_port() -> int:
    with socket.socket() as s:  # a port nobody listens on: connecting to it is refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_cli_speaks_ukrainian_when_lang_says_so():
    done = cli("echo", "--port", str(closed_port()), "привіт", LANG="uk_UA.UTF-8")
    assert done.returncode == 1
    assert "у з'єднанні відмовлено (чи запущено сервер?)" in done.stderr, done.stderr
    assert done.stderr.startswith("socketlab echo: не вдається з'єднатися з 127.0.0.1:")


def test_the_cli_speaks_ukrainian_with_lang_option_and_english_without():
    port = str(closed_port())
    done = cli("--lang", "uk", "echo", "--port", port, "hi", LANG="C.UTF-8")
    assert done.returncode == 1 and "у з'єднанні відмовлено" in done.stderr, done.stderr
    done = cli("--lang=uk", "echo", "--port", port, "hi")
    assert "у з'єднанні відмовлено" in done.stderr, done.stderr
    for options, env in (((), {}), (("--lang", "en"), {"LANG": "uk_UA.UTF-8"}), (("--lang", "xx"), {})):
        done = cli(*options, "echo", "--port", port, "hi", **env)
        assert done.returncode == 1, done.stderr
        assert "connection refused (is the server running?)" in done.stderr, (options, env, done.stderr)


def test_the_cli_says_a_bad_option_value_in_ukrainian():
    done = cli("--lang", "uk", "echo", "--port", "70000", "hi")
    assert done.returncode == 2 and "70000 — не номер порту (від 0 до 65535)" in done.stderr, done.stderr


# ---- loading from a source tree -------------------------------------------------------------------------


def load_copy(folder: Path):
    """socketlab/i18n.py and the .po copied to ``folder``, loaded from there: a source tree of its own."""
    (folder / "locale" / "uk" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copyfile(ROOT / "socketlab" / "i18n.py", folder / "i18n.py")
    shutil.copyfile(PO, folder / "locale" / "uk" / "LC_MESSAGES" / "socketlab.po")
    spec = importlib.util.spec_from_file_location(f"i18n_copy_{folder.name}", folder / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_source_tree_compiles_its_catalog_at_first_use(tmp_path):
    copy = load_copy(tmp_path)
    mo = tmp_path / "locale" / "uk" / "LC_MESSAGES" / "socketlab.mo"
    assert not mo.exists()
    assert copy.use_language("uk") == "uk" and copy._("Send") == "Надіслати"
    assert mo.is_file(), "the compiled catalog is kept for the next start"
    po = mo.with_suffix(".po")
    po.write_text(po.read_text(encoding="utf-8").replace('msgstr "Надіслати"', 'msgstr "Відправити"'),
                  encoding="utf-8")
    os.utime(mo, (1, 1))  # older than the changed .po: compiled again
    assert copy.use_language("uk") == "uk" and copy._("Send") == "Відправити"
    assert mo.stat().st_mtime > 1


def test_a_tree_it_cannot_write_to_still_speaks_ukrainian(tmp_path):
    copy = load_copy(tmp_path)
    messages_dir = tmp_path / "locale" / "uk" / "LC_MESSAGES"
    (messages_dir / "socketlab.mo").mkdir()  # in the way of the compiled catalog, even for root
    assert copy.use_language("uk") == "uk" and copy._("Send") == "Надіслати"  # compiled in memory
    assert sorted(p.name for p in messages_dir.iterdir()) == ["socketlab.mo", "socketlab.po"]


def test_a_broken_catalog_means_english_not_an_error(tmp_path):
    copy = load_copy(tmp_path)
    (tmp_path / "locale" / "uk" / "LC_MESSAGES" / "socketlab.po").write_text('msgid "a"\nnonsense\n')
    assert copy.use_language("uk") == "en" and copy._("Send") == "Send"


def test_a_wheel_gets_the_compiled_catalogs_only(tmp_path):
    """What setup.py does to the build folder: each .po compiled into its .mo, the .po left out."""
    copy = load_copy(tmp_path)
    written = copy.compile_catalogs(tmp_path / "locale", remove_po=True)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == ["locale/uk/LC_MESSAGES/socketlab.mo"]
    assert not list((tmp_path / "locale").rglob("*.po"))
    assert copy.use_language("uk") == "uk" and copy._("Send") == "Надіслати"


def test_why_a_check_failed_is_known_without_reading_its_words():
    """The message is in the student's language; what raised, or that it overran, travels beside it."""
    from socketlab.checks import call_student

    def raises():
        raise EOFError("expected 1000 bytes, got 437")

    def hangs():
        import time
        time.sleep(3)

    socketlab.use_language("uk")
    with pytest.raises(CheckFailed) as caught:
        call_student(raises)
    assert isinstance(caught.value.error, EOFError) and not caught.value.timed_out
    with pytest.raises(CheckFailed) as caught:
        call_student(hangs, timeout=0.2)
    assert caught.value.timed_out and caught.value.error is None
    assert "не завершилася за 0.2 с" in str(caught.value)


def test_the_file_checks_judge_alike_in_ukrainian(tmp_path, capsys):
    """Their verdicts must not hang on English words: the reference answers pass, a wrong one fails, in Ukrainian."""
    from socketlab.checks import files as file_checks
    from test_checks_files import as_student, my_send_file, no_sha_check, receive_file

    socketlab.use_language("uk")
    file_checks.file_server_refuses(receive_file, tmp_path / "server")
    file_checks.file_client_refusals(my_send_file, tmp_path / "client")
    assert capsys.readouterr().out.count("✔") == 2
    message = failure(file_checks.file_client_refusals, as_student(no_sha_check, "my_send_file"), tmp_path / "wrong")
    assert message.startswith("✘ сервер відповів OK, але з іншим SHA-256") and "виправлення:" not in message
