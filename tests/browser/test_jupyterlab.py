"""The course in a real browser: JupyterLab in headless Chromium, notebooks run, panels used.

Widgets that pass the headless tests can still fail to render or react in
JupyterLab, where students meet them.  This test starts JupyterLab on a copy
of the notebooks, drives Debian's Chromium with Playwright, and saves
screenshots in build/screenshots/.
"""

import json
import os
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
SCREENSHOTS = ROOT / "build" / "screenshots"

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
    shutil.copytree(ROOT / "notebooks", course, ignore=shutil.ignore_patterns("uploads", ".ipynb_checkpoints"))
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    # No "news" prompt over the notebook.
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
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
        yield {"base": base, "token": token, "course": course}
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
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


def open_and_run_all(browser, lab, notebook: str):
    """Open a notebook, run all its cells, wait for the kernel to go idle; return the page."""
    page = browser.new_page()
    page.set_default_timeout(60_000)
    # ?reset: a fresh workspace, so that only this notebook opens (not the tabs of earlier pages)
    page.goto(f"{lab['base']}/lab/tree/{notebook}?token={lab['token']}&reset")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const cells = panel.content.widgets.filter(c => c.model.type === 'code');
            const done = cells.every(c => c.model.executionCount !== null);
            return done && panel.sessionContext.session.kernel.status === 'idle';
        }""", timeout=120_000)
    return page


def shown_errors(page) -> list[str]:
    return [t for t in page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            .all_inner_texts() if "Error" in t or "Traceback" in t]


def save(locator, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(SCREENSHOTS / name))


def test_echo_notebook_runs_and_its_panel_answers(browser, lab):
    page = open_and_run_all(browser, lab, "01_echo.ipynb")
    assert shown_errors(page) == []
    panel = page.locator(".widget-vbox", has=page.get_by_text("Echo client")).first
    message = "Привіт, Chromium!"
    panel.get_by_placeholder("type a message").fill(message)
    panel.get_by_role("button", name="Send").click()
    reply = panel.get_by_text(f"got {len(message.encode())} B '{message}'")
    reply.wait_for(timeout=10_000)
    assert "✔" in reply.inner_text()
    save(page.locator(".jp-CodeCell", has=panel).first, "echo-panel.png")
    page.close()


def test_file_notebook_sends_a_chosen_file(browser, lab, tmp_path):
    page = open_and_run_all(browser, lab, "03_file_transfer.ipynb")
    assert shown_errors(page) == []
    chosen = tmp_path / "мій звіт.txt"
    chosen.write_text("Привіт із браузера!\n" * 5000, encoding="utf-8")
    panel = page.locator(".widget-vbox", has=page.get_by_text("File client")).first
    with page.expect_file_chooser() as chooser:
        panel.locator("button.widget-upload").click()
    chooser.value.set_files(str(chosen))
    panel.get_by_text("(1)").wait_for(timeout=10_000)  # the upload button counts the chosen file
    panel.get_by_role("button", name="Send").click()
    panel.get_by_text("matches ✔").wait_for(timeout=20_000)
    assert panel.get_by_text("100%").is_visible()
    assert "мій звіт.txt" in panel.inner_text()
    saved = sorted(p.name for p in (lab["course"] / "uploads").iterdir())
    assert "мій звіт.txt" in saved
    assert (lab["course"] / "uploads" / "мій звіт.txt").read_bytes() == chosen.read_bytes()
    save(page.locator(".jp-CodeCell", has=panel).first, "file-panel.png")
    page.close()
