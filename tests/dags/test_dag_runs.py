"""Both DAGs end to end with `dag.test()` on the `local` profile, in this process.

Each test gets a private copy of a sandbox prepared with one day of history; the tasks write
its DuckDB file, its lake folder and its `runs/` folder, which the tests read afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from lab.config import get_settings
from lab.observe import metrics
from lab.pipeline import safe_run_id
from lab.profiles import get_warehouse

PREPARED_HISTORY_DAYS = 1
DAGS = Path(__file__).resolve().parents[2] / "dags"
pytestmark = pytest.mark.slow


def run_dag(dag_id: str, logical_date: dt.datetime | None, conf: dict | None = None):
    """`dag.test()` of one DAG file; return the DAG run and {task_id: state}."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    run = bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return run, states


def task_instance(run, task_id: str):
    return next(ti for ti in run.get_task_instances() if ti.task_id == task_id)


def notebook_link_of(run, task_id: str) -> str:
    """The "Executed notebook" extra link the worker stored (an XCom) for a task."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                dag_id=run.dag_id,
                run_id=run.run_id,
                task_id=task_id,
                key="_link_ExecutedNotebookLink",
            )
            .one_or_none()
        )
        assert row is not None, f"no extra link stored for {task_id}"
        value = row.value
    return json.loads(value) if isinstance(value, str) and value.startswith('"') else value


def error_outputs(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return [
        f"{o['ename']}: {o['evalue']}"
        for c in cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def test_example_dag_seeds_runs_and_validates_customers(sandbox_copy, airflow_db):
    run, states = run_dag("example_dag", dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    assert states == {
        "ensure_buckets": "success",
        "dbt_seed": "success",
        "dbt_run": "success",
        "validate_customers": "success",
    }, states
    warehouse = get_warehouse()
    assert warehouse.scalar("select count(*) from stg_customers") == 100
    kinds = warehouse.tables().set_index("name")["kind"]
    assert kinds["stg_customers"] == "view", kinds.to_dict()
    validations = sandbox_copy.gx_root / "gx" / "uncommitted" / "validations" / "raw_customers"
    results = sorted(validations.rglob("*.json"))
    assert results, f"expected a validation result under {validations}"
    assert json.loads(results[-1].read_text())["success"] is True


def test_notebook_pipeline_runs_each_lesson_with_the_run_parameters(sandbox_copy, airflow_db):
    run, states = run_dag(
        "notebook_pipeline", dt.datetime(2026, 11, 4, tzinfo=dt.UTC), conf={"rows": 200}
    )
    assert states == dict.fromkeys(["ingestion", "dbt", "quality", "monitoring"], "success"), states
    warehouse = get_warehouse()
    loaded = warehouse.scalar(
        "select count(*) from raw_orders where batch_date = ?", [dt.date(2026, 11, 4)]
    )
    assert loaded == 200, f"expected the 200 rows of 2026-11-04 in raw_orders, found {loaded}"
    run_id = safe_run_id(run.run_id)
    folder = get_settings().runs_dir / run_id
    saved = sorted(p.name for p in folder.glob("*.ipynb"))
    assert saved == [
        "01_ingestion.ipynb",
        "02_dbt.ipynb",
        "03_great_expectations.ipynb",
        "04_monitoring.ipynb",
    ], f"executed notebooks in {folder}: {saved}"
    cells = json.loads((folder / "01_ingestion.ipynb").read_text())["cells"]
    injected = next(c for c in cells if "injected-parameters" in c["metadata"].get("tags", []))
    source = "".join(injected["source"])
    for line in ('run_date = "2026-11-04"', f'run_id = "{run_id}"', "rows = 200", "dirty = 0.0"):
        assert line in source, f"expected {line!r} in the injected parameters:\n{source}"
    steps = metrics.step_runs(run_id)
    assert list(steps["step"]) == ["ingestion", "dbt", "quality", "monitoring"], steps
    assert set(steps["outcome"]) == {"success"}, steps[["step", "outcome", "detail"]]
    link = notebook_link_of(run, "quality")
    assert link.endswith(f"{run_id}/03_great_expectations.ipynb"), link


def test_each_pipeline_notebook_gets_only_the_parameters_it_declares(sandbox_copy, caplog, capfd):
    """The DAG's tasks and `make pipeline` run notebooks through `lab.pipeline.run_notebook`:
    lesson 01 alone declares `source_file`, so papermill must not be handed it elsewhere."""
    from lab import pipeline

    settings = get_settings()
    params = pipeline.notebook_parameters("2026-11-02", "declared", 50, 0.0, settings.profile)
    assert "source_file" in params, params
    output = settings.runs_dir / "declared" / "04_monitoring.ipynb"
    with caplog.at_level("WARNING"):
        pipeline.run_notebook(
            settings.notebooks_dir / "04_monitoring.ipynb",
            output,
            parameters=params,
            cwd=settings.notebooks_dir,
        )
    said = caplog.text + "".join(capfd.readouterr())
    assert "unknown parameter" not in said, said
    cells = json.loads(output.read_text())["cells"]
    injected = next(c for c in cells if "injected-parameters" in c["metadata"].get("tags", []))
    assert "source_file" not in "".join(injected["source"]), injected["source"]


def test_dirty_batch_fails_the_quality_task_keeps_its_notebook_and_stops_the_run(
    sandbox_copy, airflow_db
):
    run, states = run_dag(
        "notebook_pipeline", dt.datetime(2026, 11, 3, tzinfo=dt.UTC), {"rows": 200, "dirty": 0.2}
    )
    assert states == {
        "ingestion": "success",
        "dbt": "success",
        "quality": "failed",
        "monitoring": "upstream_failed",
    }, states
    assert str(run.state) == "failed", run.state
    quality = task_instance(run, "quality")
    assert quality.try_number == 1, (
        f"a failing notebook must not be retried (retry_policy), it ran {quality.try_number} times"
    )
    folder = get_settings().runs_dir / safe_run_id(run.run_id)
    errors = error_outputs(folder / "03_great_expectations.ipynb")
    assert errors and errors[0].startswith("QualityGateError: The quality gate failed"), errors
    assert not (folder / "04_monitoring.ipynb").exists(), "monitoring must not run after a failure"
    steps = metrics.step_runs(safe_run_id(run.run_id)).set_index("step")
    assert steps.loc["quality", "outcome"] == "failed", steps


# On `stack` the DAG's tasks use another pool, so dag.test() stores a second version of the
# serialized DAG in this session's metadata database; Airflow then warns when it loads one.
@pytest.mark.filterwarnings("ignore:Multiple rows returned with uselist=False")
def test_example_dag_on_stack_keeps_the_validation_result_in_the_artifacts_bucket(
    stack_lake, postgres_dsn, monkeypatch, airflow_db
):
    monkeypatch.setenv("WAREHOUSE_URL", postgres_dsn)
    run, states = run_dag("example_dag", dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    assert set(states.values()) == {"success"}, states
    assert get_warehouse().scalar("select count(*) from stg_customers") == 100
    from lab.profiles import get_lake

    lake = get_lake()
    assert lake.exists("raw") and lake.exists("artifacts"), "ensure_buckets must make both buckets"
    kept = lake.list(f"artifacts/validations/{safe_run_id(run.run_id)}")
    assert len(kept) == 1 and kept[0].endswith(".json"), f"expected one validation result: {kept}"
    assert json.loads(lake.read_bytes(kept[0]))["success"] is True
