"""`make lab`'s JupyterLab in a real browser: it opens on the welcome lesson and runs it.

Starts JupyterLab on a free 127.0.0.1 port (as `make lab` does, on a fresh sandbox), drives
Debian's Chromium with Playwright, and stops both afterwards.
"""

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import JUPYTER_TOKEN, jupyterlab_server, run_all_cells

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
WELCOME_TITLE = "Welcome to the Data Engineering Sandbox"


def _clear_outputs(path: Path) -> None:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    path.write_text(json.dumps(nb))


@pytest.fixture
def jupyterlab(chromium, tmp_path, free_port, lesson_sandbox):
    """JupyterLab serving a copy of notebooks/ on a fresh sandbox; yields its base URL."""
    site = tmp_path / "site"  # serve a copy: the browser's autosave must not touch the repo
    shutil.copytree(ROOT / "notebooks", site / "notebooks")
    _clear_outputs(site / "notebooks" / "00_welcome.ipynb")  # what shows, ran here
    with jupyterlab_server(site, free_port, tmp_path, lesson_sandbox) as base:
        yield base


def test_jupyterlab_opens_the_welcome_lesson_and_runs_it_in_a_browser(
    chromium, jupyterlab, tmp_path
):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    # `/` opens the welcome lesson, as `make lab` does
    run_all_cells(page, f"{jupyterlab}/?token={JUPYTER_TOKEN}", WELCOME_TITLE)
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
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, "the welcome lesson printed errors: " + errors.first.inner_text()
