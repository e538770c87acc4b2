"""A real Airflow (api-server, scheduler, dag-processor; LocalExecutor; PostgreSQL metadata),
driven through the REST API v2 the way a user's script would drive it."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow_cluster import http_status

from lab.config import get_settings
from lab.orchestration import run_date_for
from lab.pipeline import safe_run_id
from lab.warehouse import get_warehouse

PREPARED_HISTORY_DAYS = 1
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def airflow(request, start_airflow, prepared_state):
    return start_airflow(request, prepared_state)


def describe(client, dag_id: str, run_id: str) -> str:
    """Task states and tries of a run, for assertion messages."""
    return ", ".join(
        f"{ti['task_id']}={ti['state']} (try {ti['try_number']})"
        for ti in client.task_instances(dag_id, run_id)
    )


def test_rest_api_needs_a_token_and_triggers_the_example_dag(airflow, prepared_sandbox):
    assert http_status(f"{airflow.url}/api/v2/dags") == 401, "the API must refuse anonymous calls"
    client = airflow.client()
    assert client.dag("example_dag")["is_paused"] is True, "DAGs start paused"
    assert client.unpause("example_dag")["is_paused"] is False
    run = client.trigger("example_dag")  # no logical date: as the UI's trigger button does
    done = client.wait("example_dag", run["dag_run_id"], timeout=240)
    states = describe(client, "example_dag", run["dag_run_id"])
    assert done["state"] == "success", f"example_dag ended {done['state']}: {states}"
    assert "try 2" not in states, f"no task may need a retry: {states}"
    assert get_warehouse().scalar("select count(*) from stg_customers") == 100


def test_two_runs_at_once_take_turns_on_duckdb_and_both_dates_load(airflow, prepared_sandbox):
    client = airflow.client()
    client.unpause("notebook_pipeline")
    dated = client.trigger(
        "notebook_pipeline",
        logical_date=dt.datetime(2026, 11, 5, tzinfo=dt.UTC),
        conf={"rows": 100},
    )
    undated = client.trigger("notebook_pipeline", conf={"rows": 120})  # manual, no logical date
    assert undated["logical_date"] is None, undated
    runs = {
        dt.date(2026, 11, 5): (dated, 100),
        run_date_for(None, dt.datetime.fromisoformat(undated["run_after"])): (undated, 120),
    }
    assert len(runs) == 2, f"the two runs must be for different dates: {list(runs)}"
    finished = {
        d: client.wait("notebook_pipeline", r["dag_run_id"], 420) for d, (r, _) in runs.items()
    }

    warehouse = get_warehouse()
    for day, (run, rows) in runs.items():
        states = describe(client, "notebook_pipeline", run["dag_run_id"])
        assert finished[day]["state"] == "success", (
            f"run for {day} ended {finished[day]['state']}: {states}"
        )
        assert "try 2" not in states, f"no task may need a retry (lock errors?): {states}"
        loaded = warehouse.scalar("select count(*) from raw_orders where batch_date = ?", [day])
        assert loaded == rows, f"expected {rows} rows of {day} in raw_orders, found {loaded}"
        folder = get_settings().runs_dir / safe_run_id(run["dag_run_id"])
        saved = sorted(p.name for p in folder.glob("*.ipynb"))
        assert len(saved) == 4, f"expected 4 executed notebooks in {folder}, found {saved}"
        for notebook in folder.glob("*.ipynb"):
            assert "Conflicting lock" not in notebook.read_text(), f"lock error in {notebook}"
        link = client.links("notebook_pipeline", run["dag_run_id"], "quality").get(
            "Executed notebook", ""
        )
        assert link.endswith(f"{folder.name}/03_great_expectations.ipynb"), (
            f"the quality task's link must open its executed notebook, got {link!r}"
        )

    # The pool has one slot: no two notebook tasks of the two runs ever overlapped in time.
    spans = sorted(
        (dt.datetime.fromisoformat(ti["start_date"]), dt.datetime.fromisoformat(ti["end_date"]))
        for run, _ in runs.values()
        for ti in client.task_instances("notebook_pipeline", run["dag_run_id"])
    )
    overlaps = [(a, b) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
    assert not overlaps, f"tasks in the duckdb_writer pool ran at the same time: {overlaps}"
