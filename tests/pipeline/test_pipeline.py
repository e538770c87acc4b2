"""`make pipeline` end to end: lessons 01-04 run by papermill as production steps."""

import json

import pytest

from lab import cli, sandbox
from lab.config import get_settings
from lab.errors import ContractError
from lab.observe import metrics
from lab.pipeline import run_pipeline, safe_run_id
from lab.steps import STEPS

pytestmark = pytest.mark.slow
PREPARED_HISTORY_DAYS = 1


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


def test_failed_quality_gate_stops_the_pipeline_and_names_the_notebook_and_cell(prepared, capsys):
    run = run_pipeline("2026-11-03", rows=300, dirty=0.2, run_id="dirty")
    assert not run.success
    assert [(n.step, n.success) for n in run.notebooks] == [
        ("ingestion", True),
        ("dbt", True),
        ("quality", False),
    ], "monitoring must not run after a failure"
    failed = run.notebooks[-1]
    assert "03_great_expectations.ipynb failed in cell [" in failed.error, failed.error
    assert (
        "QualityGateError" in failed.error
        and "expect_column_values_to_be_between(amount)" in failed.error
    )
    executed = json.loads(failed.output.read_text())
    errors = [
        o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"
    ]
    assert errors and errors[0]["ename"] == "QualityGateError", (
        "the saved notebook keeps the traceback"
    )
    steps = metrics.step_runs("dirty").set_index("step")
    assert steps.loc["quality", "outcome"] == "failed"
    assert "monitoring" not in steps.index


def test_pipeline_command_exits_non_zero_and_prints_the_failure(prepared, capsys):
    code = cli.main(
        [
            "pipeline",
            "--date",
            "2026-11-04",
            "--rows",
            "300",
            "--dirty",
            "0.2",
            "--step",
            "ingestion",
            "--step",
            "quality",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED" in captured.out and "expectations passed" in captured.out
    assert "FAILED: 03_great_expectations.ipynb failed in cell" in captured.err
    assert "saved at" in captured.err
