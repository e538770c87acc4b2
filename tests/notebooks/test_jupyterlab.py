"""`make lab`'s JupyterLab in a real browser: it opens on the welcome lesson and runs it.

Starts JupyterLab on a free 127.0.0.1 port (as `make lab` does, on a fresh sandbox), drives
Debian's Chromium with Playwright, and stops both afterwards.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from lab.cli_tools import jupyter_command, jupyter_settings
from lab.notebooks import fresh_sandbox

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "test-token"
pytestmark = pytest.mark.slow


def _clear_outputs(path: Path) -> None:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    path.write_text(json.dumps(nb))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a fresh sandbox; yields its base URL."""
    port = _free_port()
    with fresh_sandbox() as env:
        site = tmp_path / "site"  # serve a copy: the browser's autosave must not touch the repo
        shutil.copytree(ROOT / "notebooks", site / "notebooks")
        _clear_outputs(site / "notebooks" / "00_welcome.ipynb")  # what shows, ran here
        args = jupyter_command(port, ["--no-browser", f"--ServerApp.token={TOKEN}"], root_dir=site)
        log = open(tmp_path / "jupyter.log", "w")
        server = subprocess.Popen(
            args,
            env={**os.environ, **env, **jupyter_settings(), "JUPYTER_RUNTIME_DIR": str(tmp_path)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(
                            "JupyterLab did not answer:\n"
                            + (tmp_path / "jupyter.log").read_text()[-3000:]
                        )
                    time.sleep(0.5)
            yield base
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
            log.close()


def test_jupyterlab_opens_the_welcome_lesson_and_runs_it_in_a_browser(
    jupyterlab, require_server, tmp_path
):
    base = jupyterlab
    require_server(
        "Chromium",
        Path(CHROMIUM).exists(),
        f"{CHROMIUM} is not installed (apt-get install chromium)",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/?token={TOKEN}")  # `/` opens the welcome lesson, as `make lab` does
            title = page.locator(
                ".jp-RenderedMarkdown h1", has_text="Welcome to the Data Engineering Sandbox"
            )
            title.first.wait_for(timeout=60_000)
            page.locator("#jp-main-statusbar", has_text="Idle").wait_for(
                timeout=60_000
            )  # the kernel is up
            page.locator(".jp-RenderedMarkdown h1").first.click()
            page.get_by_role("menuitem", name="Run").first.click()
            page.get_by_role("menuitem", name="Run All Cells").first.click()
            # the copy was saved without outputs: a table appears only once the cells ran here
            health = page.locator(".jp-OutputArea-output table", has_text="sandbox state").first
            health.wait_for(timeout=90_000)
            tables = page.locator(".jp-OutputArea-output table", has_text="raw_orders").first
            tables.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "welcome.png"), full_page=True)
            text = health.inner_text()
            assert "prepared" in text and "False" not in text, f"health check not all ok:\n{text}"
            news = page.get_by_text("get notified about official Jupyter news")
            assert news.count() == 0, "JupyterLab must not ask to fetch news from the internet"
            errors = page.locator(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
            )
            assert errors.count() == 0, (
                "the welcome lesson printed errors: " + errors.first.inner_text()
            )
        finally:
            browser.close()
