"""The lessons run as pipeline steps say nothing a learner should not have to read."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
PREPARED_HISTORY_DAYS = 1
LAB = Path(sys.executable).parent / "lab"
NOISE = (
    "without encryption",
    "leaked semaphore",
    "httpx2",
    "ASGI",
    "No web browser found",
    "Warning",
    "INFO:",
    "/tmp/",
)


def test_a_dirty_pipeline_run_prints_no_noise_and_its_notebooks_no_stderr(prepared_sandbox):
    result = subprocess.run(
        [str(LAB), "pipeline", "--date", "2026-11-20", "--dirty", "0.2"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )
    terminal = result.stdout + result.stderr
    assert "03_great_expectations.ipynb" in terminal, terminal
    noisy = [n for n in NOISE if n in terminal.replace(str(prepared_sandbox.base), "<sandbox>")]
    assert not noisy, f"expected none of {noisy} on the terminal:\n{terminal}"
    run = next(prepared_sandbox.runs_dir.iterdir())
    executed = sorted(run.glob("*.ipynb"))
    assert len(executed) == 3, f"expected 01-03 executed (03 stops the run), got {executed}"
    for path in executed:
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            stderr = [
                "".join(o["text"])
                for o in cell.get("outputs", [])
                if o["output_type"] == "stream" and o["name"] == "stderr"
            ]
            assert not stderr, f"{path.name} cell {index} wrote to stderr:\n{''.join(stderr)}"
