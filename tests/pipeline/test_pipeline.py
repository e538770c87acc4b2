"""`make pipeline` end to end: lessons 01-04 run by papermill as production steps."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab import cli, sandbox
from lab.config import get_settings
from lab.errors import ContractError
from lab.observe import metrics
from lab.pipeline import safe_run_id
from lab.steps import STEPS

pytestmark = pytest.mark.slow
PREPARED_HISTORY_DAYS = 1
LAB = Path(sys.executable).parent / "lab"  # the command a learner runs


@pytest.fixture
def prepared(sandbox_copy):
    """A private copy of `lab.sandbox.prepare(history_days=1)`, prepared once a test run."""
    assert not sandbox.prepare(say=lambda _: None), "the copy must be a prepared sandbox"


def test_safe_run_id_removes_colons_and_plus_signs_from_airflow_run_ids():
    assert safe_run_id("manual__2026-11-01T00:00:00+00:00") == "manual__2026-11-01T00_00_00_00_00"
    assert safe_run_id("scheduled__2026-11-01") == "scheduled__2026-11-01"
    with pytest.raises(ContractError, match="no usable characters"):
        safe_run_id("::")


def test_pipeline_runs_every_step_and_saves_each_executed_notebook(prepared, capsys):
    code = cli.main(["pipeline", "--date", "2026-11-02", "--rows", "200", "--run-id", "e2e:1+0"])
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = next(p for p in get_settings().runs_dir.iterdir())
    assert run_dir.name == "e2e_1_0", f"run folder must be a safe name, got {run_dir.name}"
    saved = sorted(p.name for p in run_dir.glob("*.ipynb"))
    assert saved == sorted(name for name in (s.notebook for s in STEPS)), saved
    steps = metrics.step_runs("e2e_1_0")
    assert list(steps["step"]) == [step for step in (s.name for s in STEPS)], steps["step"]
    assert set(steps["outcome"]) == {"success"}, steps[["step", "outcome", "detail"]]
    ingestion = json.loads(steps.set_index("step").loc["ingestion", "counts"])
    assert ingestion == {"landed": 200, "loaded": 200, "quarantined": 0}
    assert "200 rows landed, 200 loaded, 0 quarantined" in out
    assert "5 models built" in out and "expectations passed" in out
    assert str(run_dir) in out, "the summary must say where the executed notebooks are"
    injected = json.loads((run_dir / "01_ingestion.ipynb").read_text())["cells"]
    params = next(c for c in injected if "injected-parameters" in c["metadata"].get("tags", []))
    assert 'run_date = "2026-11-02"' in "".join(params["source"])


def test_pipeline_command_runs_only_the_steps_it_is_given(prepared, capsys):
    code = cli.main(
        [
            "pipeline",
            "--date",
            "2026-11-05",
            "--rows",
            "50",
            "--step",
            "ingestion",
            "--step",
            "monitoring",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    (run_dir,) = get_settings().runs_dir.iterdir()
    saved = sorted(p.name for p in run_dir.glob("*.ipynb"))
    assert saved == ["01_ingestion.ipynb", "04_monitoring.ipynb"], saved
    assert list(metrics.step_runs(run_dir.name)["step"]) == ["ingestion", "monitoring"]
    assert "50 rows landed, 50 loaded, 0 quarantined" in out, out
    assert "models built" not in out and "expectations passed" not in out, out


# What a learner should never have to read on the terminal of a pipeline run.
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


def test_a_failed_quality_gate_stops_the_run_names_notebook_and_cell_and_says_nothing_else(
    prepared, sandbox_copy
):
    """One dirty run of the command a learner types: exit 1, the failure named on stderr with
    the notebook, the cell and the expectation; monitoring not run; the executed notebook keeps
    the traceback; no noise on the terminal and no stderr in any executed notebook."""
    result = subprocess.run(
        [str(LAB), "pipeline", "--date", "2026-11-03", "--rows", "300", "--dirty", "0.2"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )
    terminal = result.stdout + result.stderr
    assert result.returncode == 1, terminal
    assert "FAILED" in result.stdout and "expectations passed" in result.stdout, result.stdout
    assert "FAILED: 03_great_expectations.ipynb failed in cell [" in result.stderr, result.stderr
    assert "QualityGateError" in result.stderr, result.stderr
    assert "expect_column_values_to_be_between(amount)" in result.stderr, result.stderr
    assert "saved at" in result.stderr, result.stderr
    noisy = [n for n in NOISE if n in terminal.replace(str(sandbox_copy.base), "<sandbox>")]
    assert not noisy, f"expected none of {noisy} on the terminal:\n{terminal}"

    (run_dir,) = get_settings().runs_dir.iterdir()
    executed = sorted(p.name for p in run_dir.glob("*.ipynb"))
    assert executed == ["01_ingestion.ipynb", "02_dbt.ipynb", "03_great_expectations.ipynb"], (
        f"expected 01-03 executed (03 stops the run, monitoring must not run), got {executed}"
    )
    for name in executed:
        cells = json.loads((run_dir / name).read_text())["cells"]
        for index, cell in enumerate(cells):
            stderr = [
                "".join(o["text"])
                for o in cell.get("outputs", [])
                if o["output_type"] == "stream" and o["name"] == "stderr"
            ]
            assert not stderr, f"{name} cell {index} wrote to stderr:\n{''.join(stderr)}"
    errors = [
        o
        for c in json.loads((run_dir / "03_great_expectations.ipynb").read_text())["cells"]
        for o in c.get("outputs", [])
        if o["output_type"] == "error"
    ]
    assert errors and errors[0]["ename"] == "QualityGateError", (
        "the saved notebook keeps the traceback"
    )
    steps = metrics.step_runs(run_dir.name).set_index("step")
    assert steps.loc["quality", "outcome"] == "failed", steps
    assert "monitoring" not in steps.index, steps
