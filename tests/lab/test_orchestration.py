"""lab.airflow.tasks: what the DAGs' tasks compute from a run, and where artifacts go."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lab.airflow import tasks as orchestration
from lab.config import get_settings


def test_run_date_is_the_logical_date_in_utc():
    evening = dt.datetime(2026, 11, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    assert orchestration.run_date_for(evening) == dt.date(2026, 11, 6)
    assert orchestration.run_date_for(dt.datetime(2026, 11, 5, tzinfo=dt.UTC)) == dt.date(
        2026, 11, 5
    )


def test_manual_run_without_logical_date_processes_the_day_it_was_triggered_for():
    triggered = dt.datetime(2026, 11, 7, 9, 30, tzinfo=dt.UTC)
    assert orchestration.run_date_for(None, triggered) == dt.date(2026, 11, 7)
    assert orchestration.run_date_for(None, None) == dt.datetime.now(dt.UTC).date()


def test_step_parameters_come_from_the_run_with_defaults_for_missing_params():
    params = orchestration.step_parameters(
        logical_date=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
        run_after=None,
        run_id="scheduled__2026-11-02T00:00:00+00:00",
        params={"dirty": 0.2},
    )
    assert params == {
        "run_date": "2026-11-02",
        "run_id": "scheduled__2026-11-02T00_00_00_00_00",
        "rows": 500,
        "dirty": 0.2,
        "profile": "local",
        "source_file": None,
    }


def test_executed_notebooks_go_to_a_safe_folder_under_runs():
    path = orchestration.executed_notebook("manual__2026-11-02T00:00:00+00:00", "02_dbt.ipynb")
    assert path == get_settings().runs_dir / "manual__2026-11-02T00_00_00_00_00" / "02_dbt.ipynb"


def test_notebook_link_opens_jupyterlab_for_project_files_and_a_file_url_otherwise(monkeypatch):
    settings = get_settings()
    inside = settings.root / "runs" / "r1" / "01_ingestion.ipynb"
    assert orchestration.notebook_link(inside) == (
        "http://127.0.0.1:8888/lab/tree/runs/r1/01_ingestion.ipynb"
    )
    outside = Path("/tmp/elsewhere/01_ingestion.ipynb")
    assert orchestration.notebook_link(outside) == "file:///tmp/elsewhere/01_ingestion.ipynb"


def test_keep_artifact_leaves_local_files_in_place(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("{}")
    assert orchestration.keep_artifact(path, "validations/x/result.json") == str(path)


def test_keep_artifact_copies_to_the_artifacts_bucket_on_stack(stack_lake, tmp_path):
    path = tmp_path / "03_great_expectations.ipynb"
    path.write_text('{"cells": []}')
    kept = orchestration.keep_artifact(path, "runs/r1/03_great_expectations.ipynb")
    assert kept == "s3://artifacts/runs/r1/03_great_expectations.ipynb"
    from lab.profiles import get_lake

    assert (
        get_lake().read_bytes("artifacts/runs/r1/03_great_expectations.ipynb") == path.read_bytes()
    )
