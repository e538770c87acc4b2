"""An exercise in JupyterLab in a real browser: run the check, click "hint", see the hint.

Starts JupyterLab on a free 127.0.0.1 port on a fresh sandbox (as `make lab` does), drives
Debian's Chromium with Playwright, saves a screenshot of the feedback panel (its path is
printed), and stops both afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from lab.cli_tools import jupyter_command, jupyter_settings
from lab.exercises import get
from lab.notebooks import fresh_sandbox

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "test-token"
pytestmark = pytest.mark.slow
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def jupyterlab(tmp_path, free_port):
    """JupyterLab serving a copy of exercises/ on a fresh sandbox; yields its base URL."""
    with fresh_sandbox() as env:
        site = tmp_path / "site"  # a copy: the browser's autosave must not touch the repo
        shutil.copytree(ROOT / "exercises", site / "exercises")
        args = jupyter_command(
            free_port, ["--no-browser", f"--ServerApp.token={TOKEN}"], root_dir=site
        )
        log = open(tmp_path / "jupyter.log", "w")
        server = subprocess.Popen(
            args,
            env={**os.environ, **env, **jupyter_settings(), "JUPYTER_RUNTIME_DIR": str(tmp_path)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{free_port}"
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


def test_the_check_shows_a_widget_whose_hint_button_reveals_the_next_hint(
    jupyterlab, require_server, tmp_path
):
    require_server(
        "Chromium",
        Path(CHROMIUM).exists(),
        f"{CHROMIUM} is not installed (apt-get install chromium)",
    )
    from playwright.sync_api import sync_playwright

    first, second = get("01").task("1").hints[:2]
    screenshot = tmp_path / "exercise-01-hint.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(f"{jupyterlab}/lab/tree/exercises/01_ingestion.ipynb?token={TOKEN}")
            page.locator(".jp-RenderedMarkdown h1", has_text="Exercise 01").first.wait_for(
                timeout=60_000
            )
            page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)
            page.locator(".jp-RenderedMarkdown h1").first.click()
            page.get_by_role("menuitem", name="Run").first.click()
            page.get_by_role("menuitem", name="Run All Cells").first.click()
            panel = page.locator(".lab-feedback").first
            panel.wait_for(timeout=120_000)
            assert "not yet" in panel.inner_text(), panel.inner_text()
            hint = panel.locator(".lab-hint-button").first
            hint.click()
            hints = panel.locator(".lab-hints").first
            hints.locator("li", has_text=first[:40]).wait_for(timeout=30_000)
            hint.click()
            hints.locator("li", has_text=second[:40]).wait_for(timeout=30_000)
            assert "hint (2 of 2)" in hint.inner_text(), hint.inner_text()
            assert panel.locator("pre").count() == 0, (
                "the solution must stay hidden until asked for"
            )
            panel.scroll_into_view_if_needed()
            panel.screenshot(path=str(screenshot))
            print(f"screenshot: {screenshot}")
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000, f"{screenshot} is suspiciously small"
