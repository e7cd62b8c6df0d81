"""The course in a real browser: JupyterLab in headless Chromium, notebooks run, panels used.

Widgets that pass the headless tests can still fail to render or react in
JupyterLab, where students meet them.  This test starts JupyterLab on a copy
of the notebooks, drives Debian's Chromium with Playwright, uses the panels
and looks at the pictures in JupyterLab's light and dark theme, measures the
colours the browser actually shows, and saves screenshots in docs/images/.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "docs" / "images"
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Chromium is not installed (apt-get install chromium); .ci/run installs it"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, serving a copy of the notebooks; stopped whatever happens."""
    import psutil

    home = tmp_path_factory.mktemp("lab")
    course = home / "course"
    shutil.copytree(ROOT / "notebooks", course,
                    ignore=shutil.ignore_patterns("uploads", "demo-uploads", ".ipynb_checkpoints"))
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    # No "news" prompt over the notebook.
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port, token = free_port(), secrets.token_hex(16)
    # Settings (the theme) in a folder of their own: the tests switch themes, never the user's.
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(home / "jupyterlab.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (home / "jupyterlab.log").read_text()
            assert time.monotonic() < deadline, "JupyterLab did not start within 60 s"
            time.sleep(0.2)
        yield {"base": base, "token": token, "course": course, "log": home / "jupyterlab.log"}
    finally:
        family = psutil.Process(proc.pid).children(recursive=True)  # the kernels
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for child in family:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 1400})
        try:
            yield context
        finally:
            context.close()


def open_and_run_all(browser, lab, notebook: str, theme: str = "light"):
    """Open a notebook in a theme, run all its cells, wait for the kernel to go idle; return the page."""
    page = browser.new_page()
    page.set_default_timeout(60_000)
    # ?reset: a fresh workspace, so that only this notebook opens (not the tabs of earlier pages)
    page.goto(f"{lab['base']}/lab/tree/{notebook}?token={lab['token']}&reset")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'")
    set_theme(page, theme)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const cells = panel.content.widgets.filter(c => c.model.type === 'code');
            const done = cells.every(c => c.model.executionCount !== null);
            return done && panel.sessionContext.session.kernel.status === 'idle';
        }""", timeout=120_000)
    return page


def set_theme(page, theme: str) -> None:
    """Switch JupyterLab's theme (the command the Settings menu runs) and wait until it shows."""
    page.evaluate("name => window.jupyterapp.commands.execute('apputils:change-theme', {theme: name})",
                  THEMES[theme])
    light = "true" if theme == "light" else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'"
                           f" && document.body.dataset.jpThemeName === '{THEMES[theme]}'")
    page.wait_for_timeout(300)  # the theme's style sheet applies


def shown_errors(page) -> list[str]:
    return [t for t in page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            .all_inner_texts() if "Error" in t or "Traceback" in t]


def save(locator, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(SCREENSHOTS / name), animations="disabled")


def _rgba(css: str) -> tuple[float, ...]:
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    return tuple(values[:3]) + ((values[3],) if len(values) > 3 else (1.0,))


def _luminance(rgb) -> float:
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def behind(locator) -> list[float]:
    """The colour behind an element as the eye sees it: the backgrounds of it and its ancestors, a
    translucent one laid over what is under it (the dark theme's error background is 28 % red), down to
    the first opaque one (white if none)."""
    layers = locator.evaluate("""el => {
        const found = [];
        for (let node = el; node; node = node.parentElement) {
            const c = getComputedStyle(node).backgroundColor;
            if (c && c !== 'transparent' && !/rgba\\(.*, 0\\)$/.test(c)) {
                found.push(c);
                if (!/rgba/.test(c)) break;  // opaque: nothing under it shows
            }
        }
        return found;
    }""")
    colour = [255.0, 255.0, 255.0]
    for layer in reversed(layers):  # the lowest first
        *rgb, alpha = _rgba(layer)
        colour = [alpha * c + (1 - alpha) * b for c, b in zip(rgb, colour)]
    return colour


def shown_contrast(locator) -> float:
    """The contrast ratio of an element's text on what is behind it, as the browser computed them."""
    fg = locator.evaluate("el => getComputedStyle(el).color")
    back = behind(locator)
    *text, alpha = _rgba(fg)
    text = [alpha * t + (1 - alpha) * b for t, b in zip(text, back)]
    high, low = sorted((_luminance(text), _luminance(back)), reverse=True)
    ratio = (high + 0.05) / (low + 0.05)
    shown = "rgb({:.0f}, {:.0f}, {:.0f})".format(*back)
    print(f"contrast {ratio:.2f}:1 of {fg} on {shown}: {locator.inner_text()[:40]!r}")  # shown with -s
    return ratio


def transcripts_read_as_terminals(page) -> int:
    """Every "two terminals" transcript as the browser lays it out: left-aligned, monospace, lines kept
    whole, and no word split across two lines (each word's text is one box). Returns how many it measured."""
    found = page.locator(".sl-terminals").evaluate_all("""rows => rows.map(row => {
        const problems = [];
        for (const el of row.querySelectorAll('.sl-terminal, .sl-terminal *')) {
            const s = getComputedStyle(el);
            if (!['left', 'start'].includes(s.textAlign)) problems.push(`text-align ${s.textAlign}`);
        }
        const screens = [...row.querySelectorAll('.sl-screen')];
        for (const el of screens) {
            const s = getComputedStyle(el);
            if (s.whiteSpace !== 'pre-wrap') problems.push(`white-space ${s.whiteSpace}`);
            if (s.wordBreak !== 'normal') problems.push(`word-break ${s.wordBreak}`);
            if (!/mono|courier|consolas|menlo/i.test(s.fontFamily)) problems.push(`font ${s.fontFamily}`);
            const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                for (const m of node.data.matchAll(/\\S+/g)) {
                    const range = document.createRange();
                    range.setStart(node, m.index);
                    range.setEnd(node, m.index + m[0].length);
                    const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
                    if (lines.size > 1) problems.push(`split word ${m[0]}`);
                }
            }
        }
        return {screens: screens.length, problems};
    })""")
    assert found, "no two-terminals transcript on the page"
    for row in found:
        assert row["screens"] == 2 and row["problems"] == [], row
    return len(found)


def terminals_are_readable(page, theme: str) -> None:
    """The transcripts' layout (see above), and their text, times and titles at 4.5:1 or more."""
    transcripts_read_as_terminals(page)
    screen = page.locator(".sl-screen").first
    for part in (screen.locator("span").first, screen.locator("b").first, page.locator(".sl-terminal > div").first):
        assert shown_contrast(part) >= 4.5, theme


AXE = ROOT / ".venv" / "node_modules" / "axe-core" / "axe.min.js"  # `make test` installs it where npm is


def axe_violations(page) -> list[str]:
    """What axe-core finds against WCAG 2.1 A and AA in the course's outputs (not JupyterLab's own
    interface): each violation's rule and the elements it names."""
    assert AXE.is_file(), f"{AXE} is missing: make test installs it with npm (apt-get install npm)"
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
        const result = await axe.run({include: [['.jp-OutputArea-output']]},
                                     {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
        return result.violations.map(v => `${v.id} (${v.impact}): ` + v.nodes.slice(0, 3).map(n => n.target.join(' ')
            + ' ' + (n.failureSummary || '').split('\\n').slice(1, 2).join('')).join(' | '));
    }""")
    return found


def focus_ring_contrast(locator) -> float:
    """The contrast of the outline a focused control shows against what is behind it (WCAG: 3:1)."""
    locator.focus()
    width, colour = locator.evaluate("""el => {
        const s = getComputedStyle(el);
        return [s.outlineStyle === 'none' ? 0 : parseFloat(s.outlineWidth), s.outlineColor];
    }""")
    assert width >= 2, f"no focus ring ({width} px)"
    high, low = sorted((_luminance(_rgba(colour)[:3]), _luminance(behind(locator.locator("xpath=..")))), reverse=True)
    return (high + 0.05) / (low + 0.05)


def pictures_fit(page) -> list[tuple[int, int]]:
    """(natural, shown) widths of the pictures in the outputs; JupyterLab scales wider ones down."""
    sizes = page.locator(".sl-picture img").evaluate_all(
        "imgs => imgs.map(i => [i.naturalWidth, Math.round(i.getBoundingClientRect().width)])")
    assert sizes, "no picture in the notebook's outputs"
    return sizes


def test_echo_notebook_runs_and_its_panel_answers_enter(browser, lab):
    page = open_and_run_all(browser, lab, "01_echo.ipynb")
    assert shown_errors(page) == []
    panel = page.locator(".widget-vbox", has=page.get_by_text("Echo client")).first
    box = panel.get_by_placeholder("type a message")
    message = "Привіт, Chromium!"
    box.fill(message)
    box.press("Enter")  # Enter sends, as the Send button does
    reply = panel.get_by_text(f"got {len(message.encode())} B '{message}'")
    reply.wait_for(timeout=10_000)
    assert "✔" in reply.inner_text()
    box.fill("ще раз")
    panel.get_by_role("button", name="Send").click()
    panel.get_by_text("got 11 B 'ще раз'").wait_for(timeout=10_000)
    for natural, shown in pictures_fit(page):
        assert natural <= shown + 1, f"a picture {natural} px wide is shown {shown} px wide"
    for theme in THEMES:
        set_theme(page, theme)
        assert shown_contrast(reply) >= 4.5, theme
        assert focus_ring_contrast(panel.get_by_role("button", name="Send")) >= 3, theme
        terminals_are_readable(page, theme)
        assert axe_violations(page) == [], theme
        save(page.locator(".sl-terminals").first, f"terminals-{theme}.png")
        save(page.locator(".jp-CodeCell", has=panel).first, "echo-panel.png" if theme == "light" else "echo-panel-dark.png")
        save(page.locator(".sl-picture").first, f"sequence-diagram-{theme}.png")
    page.close()


def test_many_clients_notebook_monitor_and_timeline(browser, lab):
    page = open_and_run_all(browser, lab, "02_many_clients.ipynb")
    assert shown_errors(page) == []
    monitor = page.locator(".widget-vbox", has=page.locator("pre.socketlab-log")).first
    log = monitor.locator("pre.socketlab-log")
    lines = log.inner_text().splitlines()
    times = [float(line.split("s", 1)[0]) for line in lines if line.strip()]
    assert times == sorted(times, reverse=True), "the newest event comes first"
    for natural, shown in pictures_fit(page):
        assert natural <= shown + 1, f"a picture {natural} px wide is shown {shown} px wide"
    for theme in THEMES:
        set_theme(page, theme)
        assert shown_contrast(log) >= 4.5, theme
        terminals_are_readable(page, theme)
        assert axe_violations(page) == [], theme
        save(page.locator(".jp-CodeCell", has=monitor).first, f"server-monitor-{theme}.png")
        save(page.locator(".sl-picture").first, f"timeline-{theme}.png")
    page.close()


def test_file_notebook_sends_clears_and_refuses_a_large_choice(browser, lab, tmp_path):
    page = open_and_run_all(browser, lab, "03_file_transfer.ipynb", theme="dark")
    assert shown_errors(page) == []
    chosen = tmp_path / "мій звіт.txt"
    chosen.write_text("Привіт із браузера!\n" * 5000, encoding="utf-8")
    panel = page.locator(".widget-vbox", has=page.get_by_text("File client")).first

    def choose(path):
        with page.expect_file_chooser() as chooser:
            panel.locator("button.widget-upload").click()
        chooser.value.set_files(str(path))

    choose(chosen)
    panel.get_by_text("chosen: мій звіт.txt (").wait_for(timeout=10_000)  # the panel names the file
    panel.get_by_role("button", name="Send").click()
    result = panel.get_by_text("matches ✔")
    result.wait_for(timeout=20_000)
    assert panel.get_by_text("100%").is_visible()
    assert (lab["course"] / "demo-uploads" / "мій звіт.txt").read_bytes() == chosen.read_bytes()
    for theme in ("dark", "light"):
        set_theme(page, theme)
        assert shown_contrast(result) >= 4.5, theme
        terminals_are_readable(page, theme)
        assert axe_violations(page) == [], theme
        save(page.locator(".jp-CodeCell", has=panel).first, "file-panel.png" if theme == "light" else "file-panel-dark.png")
        save(page.locator(".sl-picture").first, f"file-sequence-diagram-{theme}.png")

    panel.get_by_role("button", name="Clear").click()  # the choice is forgotten
    panel.get_by_text("no file chosen").wait_for(timeout=10_000)
    assert panel.locator("button.widget-upload").inner_text().strip().endswith("(0)")
    assert not panel.get_by_text("matches ✔").is_visible()
    panel.get_by_role("button", name="Send").click()
    panel.get_by_text("choose a file (up to 10 MiB) or type a path first").wait_for(timeout=10_000)

    big = tmp_path / "великий.bin"
    big.write_bytes(os.urandom(1024) * (12 * 1024))  # 12 MiB: more than the browser can hand over
    choose(big)
    warning = panel.get_by_text("A file over 10 MiB cannot travel from the browser")
    warning.wait_for(timeout=60_000)
    assert "type its path" in warning.inner_text()
    for theme in THEMES:
        set_theme(page, theme)
        assert shown_contrast(warning) >= 4.5, theme
        save(page.locator(".jp-CodeCell", has=panel).first, f"file-panel-too-large-{theme}.png")
    # The kernel is still there, and a typed path is the way to send such a file.
    path_box = panel.get_by_placeholder("…or a path")
    path_box.fill(str(big))
    path_box.press("Enter")  # Enter sends here too
    panel.get_by_text("matches ✔").wait_for(timeout=30_000)
    assert (lab["course"] / "demo-uploads" / "великий.bin").read_bytes() == big.read_bytes()
    page.close()


def test_a_failed_check_reads_in_both_themes(browser, lab):
    """The one line of a failed check, as a student meets it, at 4.5:1 or more on the error background."""
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("from socketlab.checks import echo as check\n"
                                          "def serve_one_client(listener):\n    listener.accept()\n"
                                          "check.echo_server(serve_one_client, messages=[b'hi'])")]
    nbformat.write(nb, lab["course"] / "failing-check.ipynb")
    page = open_and_run_all(browser, lab, "failing-check.ipynb")
    # the innermost element holding the text (an ANSI colour would be a span of its own)
    message = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").get_by_text(
        "✘ sent").first
    message.wait_for(timeout=30_000)
    assert message.inner_text().startswith("✘ ") and "Traceback" not in message.inner_text()
    for theme in THEMES:
        set_theme(page, theme)
        assert shown_contrast(message) >= 4.5, theme
    page.close()


def test_concurrency_pictures_fit_the_notebook(browser, lab):
    page = open_and_run_all(browser, lab, "04_concurrency.ipynb")
    assert shown_errors(page) == []
    sizes = pictures_fit(page)
    assert len(sizes) >= 2  # the four timelines and the comparison
    for natural, shown in sizes:
        # shown at its own size, so 8.5 pt text at 96 dpi stays 11 px on the screen
        assert natural <= shown + 1, f"a picture {natural} px wide is shown {shown} px wide"
    for theme in THEMES:
        set_theme(page, theme)
        assert axe_violations(page) == [], theme
        save(page.locator(".sl-picture").first, f"timelines-{theme}.png")
        save(page.locator(".sl-picture").nth(1), f"comparison-{theme}.png")
    page.close()


def labels_cut(page) -> list[str]:
    """The panels' labels and buttons whose text does not fit in them (cut with …), and the outputs
    that need a horizontal scrollbar at this width."""
    return page.evaluate("""() => {
        const cut = [...document.querySelectorAll('.jp-OutputArea-output .widget-label, '
                                                   + '.jp-OutputArea-output button, .jp-OutputArea-output label')]
            .filter(el => el.offsetWidth > 0 && el.scrollWidth > el.clientWidth + 1)
            .map(el => `label ${el.textContent.trim()}: ${el.scrollWidth} px in ${el.clientWidth} px`);
        const wide = [...document.querySelectorAll('.jp-OutputArea-output')]
            .filter(el => el.scrollWidth > el.clientWidth + 1)
            .map(el => `output ${el.textContent.trim().slice(0, 40)}: ${el.scrollWidth} px in ${el.clientWidth} px`);
        return cut.concat(wide);
    }""")


@pytest.mark.parametrize("notebook", ["uk/01_echo.ipynb", "uk/02_many_clients.ipynb", "uk/03_file_transfer.ipynb"])
def test_the_ukrainian_edition_runs_and_its_labels_fit(browser, lab, notebook, tmp_path):
    page = open_and_run_all(browser, lab, notebook)
    assert shown_errors(page) == []
    page.locator(".jp-OutputArea-output button").first.wait_for(timeout=10_000)
    if notebook.endswith("01_echo.ipynb"):
        page.get_by_role("button", name="Надіслати").first.wait_for(timeout=10_000)
    transcripts_read_as_terminals(page)
    assert labels_cut(page) == []
    for theme in THEMES:
        set_theme(page, theme)
        assert axe_violations(page) == [], theme
    if notebook.endswith("03_file_transfer.ipynb"):  # a file over the limit is refused in Ukrainian, not dropped
        big = tmp_path / "великий.bin"
        big.write_bytes(os.urandom(1024) * (12 * 1024))
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Вибрати файл").first.click()
        chooser.value.set_files(str(big))
        warning = page.get_by_text("Файл понад 10 МіБ не може потрапити з браузера до Python")
        warning.wait_for(timeout=60_000)
        assert "введіть його шлях" in warning.inner_text()
    page.close()


LAB_NOTEBOOKS = ("01_echo.ipynb", "02_many_clients.ipynb", "03_file_transfer.ipynb")


@pytest.mark.parametrize("edition", ["", "uk"], ids=["en", "uk"])
def test_the_lab_report_opens_with_every_task_program_and_transcript(browser, tmp_path, edition):
    """The report a student hands in, built from notebooks 01-03 run here, as Chromium shows it: the lab's
    tasks 1, 1a, 2, 3, 3a in order, each with its program, its transcript and a place for the student's
    own words, all in the edition's language."""
    import shutil

    from socketlab.report import build_report, write_report

    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    for name in LAB_NOTEBOOKS:
        shutil.copy(notebooks / edition / name, tmp_path)
    shutil.copytree(notebooks / "data", tmp_path / "data")
    report = write_report(build_report([tmp_path / name for name in LAB_NOTEBOOKS],
                                       student="Шевченко Тарас", group="КУІБ-22-1", execute=True),
                          tmp_path / "report.html")
    page = browser.new_page()
    page.goto(report.as_uri())
    text = page.inner_text("body")
    uk = edition == "uk"
    title, task, program, results = (("Звіт з лабораторної роботи №4", "Завдання", "Програма", "Результати виконання")
                                     if uk else ("Lab report No. 4", "Task", "Program", "Results of the run"))
    assert page.locator("html").get_attribute("lang") == ("uk" if uk else "en")
    assert page.locator("h1").inner_text().startswith(title)
    assert [h.replace("¶", "").strip() for h in page.locator("h2").all_inner_texts()] == \
        [f"{task} {number}" for number in ("1", "1a", "2", "3", "3a")]
    for expected in ("Шевченко Тарас", "КУІБ-22-1", "server.py", "client.py", "server2.py", "server3.py", "client3.py",
                     "data/lab_report_uk.txt", f"{program} server.py"):
        assert expected in text, expected
    assert text.count(results) >= 5, "a transcript for each task"
    assert page.locator(".celltag_summary-empty").count() == 5, "a place for the student's words in each task"
    transcripts = (("термінал 1: сервер", "сервер: з'єднання з", "клієнт: отримано назад") if uk else
                   ("terminal 1: the server", "server: connection from", "client: got back"))
    for expected in transcripts:
        assert expected in text, expected
    assert transcripts_read_as_terminals(page) >= 5
    assert axe_violations(page) == []
    if uk:
        page.close()
        return
    assert page.locator("img").count() >= 2
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=False)
    page.close()


BEYOND = ("05_udp.ipynb", "06_framing.ipynb")


@pytest.mark.parametrize("notebook", [*BEYOND, *(f"uk/{name}" for name in BEYOND)])
def test_the_notebooks_beyond_the_lab_run_and_read_well(browser, lab, notebook):
    """05 and 06 in both editions: no error, pictures at their own size with a text alternative, labels that fit,
    transcripts that read as terminals, and no axe violation in either theme."""
    page = open_and_run_all(browser, lab, notebook)
    assert shown_errors(page) == []
    sizes = pictures_fit(page)
    assert len(sizes) >= 1
    for natural, shown in sizes:
        assert natural <= shown + 1, f"a picture {natural} px wide is shown {shown} px wide"
    alts = page.locator(".sl-picture img").evaluate_all("imgs => imgs.map(i => i.alt)")
    assert alts and all(len(alt) > 20 for alt in alts), alts
    transcripts_read_as_terminals(page)
    assert labels_cut(page) == []
    for theme in THEMES:
        set_theme(page, theme)
        assert axe_violations(page) == [], theme
        if notebook == "05_udp.ipynb":
            save(page.locator(".sl-picture").first, f"pings-{theme}.png")
            save(page.locator(".sl-panel").first, f"loss-panel-{theme}.png")
        if notebook == "06_framing.ipynb":
            save(page.locator(".sl-picture").first, f"deadlock-{theme}.png")
    page.close()


@pytest.mark.parametrize("edition", ["", "uk"], ids=["en", "uk"])
def test_a_report_of_the_notebooks_beyond_the_lab_has_their_tasks(browser, tmp_path, edition):
    """A student who picks 05 and 06 for the report gets tasks 5, 5a, 6, 6a, each with its program and run."""
    import shutil

    from socketlab.report import build_report, write_report

    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    for name in BEYOND:
        shutil.copy(notebooks / edition / name, tmp_path)
    report = write_report(build_report([tmp_path / name for name in BEYOND], student="Шевченко Тарас",
                                       group="КУІБ-22-1", execute=True), tmp_path / "report.html")
    page = browser.new_page()
    page.goto(report.as_uri())
    text = page.inner_text("body")
    task = "Завдання" if edition == "uk" else "Task"
    assert [h.replace("¶", "").strip() for h in page.locator("h2").all_inner_texts()] == \
        [f"{task} {number}" for number in ("5", "5a", "6", "6a")]
    for expected in ("udp_server.py", "udp_client.py", "framed_server.py", "framed_client.py"):
        assert expected in text, expected
    assert page.locator("img").count() >= 2  # the pings and the deadlock
    assert transcripts_read_as_terminals(page) >= 2
    assert axe_violations(page) == []
    page.close()
