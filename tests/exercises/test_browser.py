"""An exercise in JupyterLab in a real browser: run the check, click "hint", see the hint.

Starts JupyterLab on a free 127.0.0.1 port on a fresh sandbox (as `make lab` does), drives
Debian's Chromium with Playwright, saves a screenshot of the feedback panel (its path is
printed), and stops both afterwards.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lab.exercises import get
from tests.helpers import JUPYTER_TOKEN, jupyterlab_server, run_all_cells

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def jupyterlab(chromium, tmp_path, free_port, lesson_sandbox):
    """JupyterLab serving a copy of exercises/ on a fresh sandbox; yields its base URL."""
    site = tmp_path / "site"  # a copy: the browser's autosave must not touch the repo
    shutil.copytree(ROOT / "exercises", site / "exercises")
    with jupyterlab_server(site, free_port, tmp_path, lesson_sandbox) as base:
        yield base


def test_the_check_shows_a_widget_whose_hint_button_reveals_the_next_hint(
    chromium, jupyterlab, tmp_path
):
    first, second = get("01").task("1").hints[:2]
    screenshot = tmp_path / "exercise-01-hint.png"
    page = chromium.new_page(viewport={"width": 1400, "height": 1200})
    url = f"{jupyterlab}/lab/tree/exercises/01_ingestion.ipynb?token={JUPYTER_TOKEN}"
    run_all_cells(page, url, "Exercise 01")
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
    assert panel.locator("pre").count() == 0, "the solution must stay hidden until asked for"
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(screenshot))
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000, f"{screenshot} is suspiciously small"
