"""The `stack` profile end to end, natively (no Docker): the pipeline's notebooks 01-04 against

- PostgreSQL on 127.0.0.1:5432 (a test database of its own, created and dropped here),
- a moto S3 server standing in for RustFS,
- Debian's Pushgateway and a Prometheus that scrapes it every second,
- a small local HTTP server with Loki's API and canned answers (Debian's `loki` package is an
  unrelated genetics program, and Grafana Loki is not packaged), so LogQL is tested to the wire.

Then it checks what each part of the stack holds, and asks Prometheus notebook 04's questions
with the same `lab.observe.monitoring` functions.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from stack_helpers import REPO, run_prometheus

from lab.exercises.grading import scratch_root
from lab.observe import monitoring
from lab.steps import STEPS
from tests.helpers import (
    PUSHGATEWAY,
    JsonServer,
    json_server,
    pushgateway_server,
    scratch_database,
)

# The module's stack_run runs lessons 01-04 with papermill on the stack profile: end to end.
pytestmark = pytest.mark.slow

RUN_DATE = "2026-11-01"
HISTORY_DATE = "2026-10-31"  # prepare(history_days=1) loads the day before RUN_DATE
HISTORY_ROWS = 500  # lab.datagen.DEFAULT_ROWS, what the history step loads
ROWS = 200
RUN_ID = "stack_e2e"
STEPS = {step for step in (s.name for s in STEPS)}
LOKI_LINE = "Task failed: quality gate on 2026-11-01"


# --- servers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pushgateway(require_server, tmp_path_factory) -> Iterator[str]:
    """Debian's Pushgateway on a free 127.0.0.1 port."""
    require_server("Pushgateway", PUSHGATEWAY.exists(), f"{PUSHGATEWAY} is not installed")
    with pushgateway_server(tmp_path_factory.mktemp("pushgateway")) as url:
        yield url


@pytest.fixture(scope="module")
def prometheus(pushgateway, tmp_path_factory) -> Iterator[str]:
    """Debian's Prometheus scraping the Pushgateway every second, as docker/prometheus does."""
    target = urllib.parse.urlsplit(pushgateway).netloc
    config = (
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    with run_prometheus(tmp_path_factory.mktemp("prometheus-e2e"), config) as base_url:
        yield base_url


def loki_answer(path: str, params: dict[str, str]) -> tuple[int, dict]:
    """Loki's query_range API with canned answers: one count series, or one log line."""
    now = time.time()
    if "count_over_time" in params.get("query", ""):
        data = {
            "resultType": "matrix",
            "result": [{"metric": {"service_name": "jupyter"}, "values": [[now - 300, "4"]]}],
        }
    else:
        data = {
            "resultType": "streams",
            "result": [
                {
                    "stream": {"service_name": "airflow-scheduler"},
                    "values": [[str(int(now * 1e9)), LOKI_LINE]],
                }
            ],
        }
    return 200, {"status": "success", "data": data}


@pytest.fixture(scope="module")
def loki() -> Iterator[JsonServer]:
    """A local server with Loki's API (canned answers); `loki.seen` holds its queries."""
    with json_server(loki_answer) as server:
        yield server


@pytest.fixture(scope="module")
def stack_database(_postgres_server) -> Iterator[str]:
    """A database of this module's own on the PostgreSQL server; dropped afterwards."""
    with scratch_database(_postgres_server, "lab_stack") as url:
        yield url


# --- one pipeline run on the stack --------------------------------------------------------------


@dataclass
class StackRun:
    env: dict[str, str]
    run: object
    seconds: float

    @property
    def gx_dir(self) -> Path:
        return Path(self.env["LAB_GX_ROOT"]) / "gx"

    def apply(self, mp: pytest.MonkeyPatch) -> None:
        for key, value in self.env.items():
            mp.setenv(key, value)


@pytest.fixture(scope="module")
def stack_run(
    stack_database, _moto_server, pushgateway, prometheus, loki, tmp_path_factory
) -> StackRun:
    """`lab.sandbox.prepare()` then `lab.pipeline.run_pipeline()` with LAB_PROFILE=stack."""
    from lab import pipeline, sandbox

    base = tmp_path_factory.mktemp("stack")
    shutil.copytree(
        REPO / "great_expectations" / "gx",
        base / "great_expectations" / "gx",
        ignore=shutil.ignore_patterns("uncommitted"),
    )
    urllib.request.urlopen(
        urllib.request.Request(f"{_moto_server}/moto-api/reset", method="POST"), timeout=10
    ).close()
    env = {
        "LAB_PROFILE": "stack",
        # a scratch project (copies of dbt/, dags/, exercises/): exercise 07's solution writes
        # its model there, never into this checkout
        "LAB_ROOT": str(scratch_root(base)),
        "LAB_HOME": str(base / "home"),
        "LAB_RUNS_DIR": str(base / "runs"),
        "LAB_GX_ROOT": str(base / "great_expectations"),
        "LAB_RAW_BUCKET": "raw",
        "LAB_ARTIFACTS_BUCKET": "artifacts",
        "WAREHOUSE_URL": stack_database,
        "S3_ENDPOINT_URL": _moto_server,
        "S3_ACCESS_KEY": "testing",
        "S3_SECRET_KEY": "testing",
        "S3_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PUSHGATEWAY_URL": pushgateway,
        "PROMETHEUS_URL": prometheus,
        "LOKI_URL": loki.url,
        "GX_ANALYTICS_ENABLED": "false",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        t0 = time.perf_counter()
        sandbox.prepare(history_days=1, say=lambda _: None)
        run = pipeline.run_pipeline(RUN_DATE, rows=ROWS, run_id=RUN_ID)
        seconds = time.perf_counter() - t0
    return StackRun(env=env, run=run, seconds=seconds)


@pytest.fixture
def on_stack(stack_run, monkeypatch) -> StackRun:
    """This test sees the stack run's settings."""
    stack_run.apply(monkeypatch)
    return stack_run


def poll(question, until, timeout: float = 30.0):
    """Ask again until the answer satisfies `until` (Prometheus scrapes every second)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = question()
        if until(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


# --- the checks -------------------------------------------------------------------------------


def test_pipeline_runs_notebooks_01_to_04_on_the_stack(on_stack):
    run = on_stack.run
    failed = [(n.notebook, n.error) for n in run.notebooks if not n.success]
    assert run.success, f"expected every notebook to succeed; failed: {failed}"
    assert [n.step for n in run.notebooks] == ["ingestion", "dbt", "quality", "monitoring"]


def test_raw_orders_hold_the_history_and_the_run_in_postgresql(on_stack):
    from lab.profiles import get_warehouse
    from lab.warehouse import PostgresWarehouse

    warehouse = get_warehouse()
    assert isinstance(warehouse, PostgresWarehouse), warehouse.describe()
    counts = warehouse.query(
        "select cast(batch_date as varchar) as day, count(*) as n from raw_orders "
        "group by 1 order by 1"
    )
    actual = dict(zip(counts["day"], counts["n"], strict=True))
    assert actual == {HISTORY_DATE: HISTORY_ROWS, RUN_DATE: ROWS}


def test_dbt_built_the_marts_in_postgresql(on_stack):
    from lab.profiles import get_warehouse

    warehouse = get_warehouse()
    actual = {
        "orders in daily_revenue": int(
            warehouse.scalar("select sum(number_of_orders) from daily_revenue")
        ),
        "customer_orders rows": int(warehouse.scalar("select count(*) from customer_orders")),
    }
    expected = {
        "orders in daily_revenue": HISTORY_ROWS + ROWS,
        "customer_orders rows": int(warehouse.scalar("select count(*) from raw_customers")),
    }
    assert actual == expected


def test_the_batch_file_is_in_the_s3_bucket(on_stack):
    import s3fs

    fs = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        endpoint_url=on_stack.env["S3_ENDPOINT_URL"],
        skip_instance_cache=True,
    )
    path = f"raw/orders/date={RUN_DATE}/orders.csv"
    assert fs.exists(path), f"expected s3://{path}; found {fs.find('raw')}"
    lines = fs.cat_file(path).decode().strip().splitlines()
    assert len(lines) == ROWS + 1, f"expected a header and {ROWS} rows, got {len(lines)} lines"


def test_the_quality_gate_ran_inside_postgresql_and_saved_its_results(on_stack):
    folder = on_stack.gx_dir / "uncommitted" / "validations" / "orders"
    name = "warehouse_sql-raw_orders-year_2026-month_11-day_1.json"
    found = sorted(folder.rglob(name))
    assert found, f"expected a validation of the daily batch named {name} under {folder}"
    result = json.loads(found[-1].read_text())
    row_count = next(
        r["result"]["observed_value"]
        for r in result["results"]
        if r["expectation_config"]["type"] == "expect_table_row_count_to_be_between"
    )
    assert (result["success"], row_count) == (True, ROWS), (
        "expected the gate to pass on exactly the day's rows (the daily batch definition)"
    )


def test_gx_reads_the_connection_from_the_environment_not_from_its_config(on_stack):
    config = (on_stack.gx_dir / "great_expectations.yml").read_text()
    assert "connection_string: ${GX_WAREHOUSE_URL}" in config
    database = on_stack.env["WAREHOUSE_URL"].rsplit("/", 1)[1]
    assert database not in config, "expected no warehouse URL written into great_expectations.yml"


def test_ops_step_runs_has_the_four_steps_of_the_run(on_stack):
    from lab.observe import metrics

    steps = metrics.step_runs(RUN_ID)
    actual = dict(zip(steps["step"], steps["outcome"], strict=True))
    assert actual == dict.fromkeys(STEPS, "success")


def test_prometheus_answers_notebook_04s_promql_with_the_pushed_metrics(on_stack):
    durations = poll(
        lambda: monitoring.promql(monitoring.STEP_DURATION),
        until=lambda frame: not frame.empty and STEPS <= set(frame["step"]),
    )
    assert not durations.empty and set(durations["step"]) == STEPS, durations
    assert (durations["value"] > 0).all(), durations
    assert set(durations["job"]) == {"lab_pipeline"}, "expected the pushed job label kept"

    gates = monitoring.promql(monitoring.GATE_SUCCESS)
    assert dict(zip(gates["suite"], gates["value"], strict=True)) == {
        "orders": 1.0,
        "raw_customers": 1.0,
    }
    since = monitoring.promql(monitoring.SINCE_LAST_SUCCESS)
    assert set(since["step"]) == STEPS
    assert since["value"].between(0, on_stack.seconds + 120).all(), since[
        ["step", "value"]
    ].to_dict("records")


def test_prometheus_answers_a_range_query_over_the_run(on_stack):
    import datetime as dt

    history = poll(
        lambda: monitoring.promql_range(
            monitoring.STEP_DURATION, start=dt.timedelta(minutes=10), step="1s"
        ),
        until=lambda frame: not frame.empty and frame.groupby("step").size().min() >= 2,
    )
    assert set(history["step"]) == STEPS, history
    assert history["timestamp"].is_monotonic_increasing or len(STEPS) > 1
    figure = monitoring.plot(history, by="step", title="durations")
    assert len(figure.axes[0].get_lines()) == len(STEPS)


def test_notebook_04_asked_prometheus_and_loki_on_the_stack(on_stack, loki):
    executed = on_stack.run.folder / "04_monitoring.ipynb"
    text = executed.read_text()
    assert "This section needs the stack profile" not in text, "expected the stack branch to run"
    queries = [q["query"] for path, q in loki.seen if path == "/loki/api/v1/query_range"]
    assert monitoring.PIPELINE_LOGS in queries, queries
    assert monitoring.LOG_LINES_PER_SERVICE in queries, queries


def test_logql_returns_loki_lines_as_a_frame(on_stack):
    logs = monitoring.logql(monitoring.PIPELINE_LOGS, limit=5)
    assert logs["line"].tolist() == [LOKI_LINE]
    assert logs["service_name"].tolist() == ["airflow-scheduler"]


# --- the gate's errors on the stack ---------------------------------------------------------


def test_gate_with_an_unreachable_warehouse_says_start_the_stack(monkeypatch, free_port):
    from lab import quality
    from lab.errors import WarehouseError

    monkeypatch.setenv("LAB_PROFILE", "stack")
    monkeypatch.setenv("WAREHOUSE_URL", f"postgresql://u:p@127.0.0.1:{free_port}/warehouse")
    with pytest.raises(
        WarehouseError, match=r"(?s)Cannot reach the warehouse .*Fix: start the stack"
    ):
        quality.run_gate(RUN_DATE)


def test_daily_batch_on_an_empty_raw_orders_says_load_a_batch_first(postgres_dsn, monkeypatch):
    from lab import ingest, quality
    from lab.errors import QualityGateError
    from lab.quality.sources import SqlSource

    monkeypatch.setenv("LAB_PROFILE", "stack")
    monkeypatch.setenv("WAREHOUSE_URL", postgres_dsn)
    ingest.ensure_tables()
    context = quality.get_context()
    asset = context.data_sources.get(SqlSource.name).get_asset("raw_orders")
    asset.delete_batch_definition("daily_batch")  # as if the committed definition were lost
    with pytest.raises(QualityGateError) as caught:
        quality.ensure_project(context=context)
    message = str(caught.value)
    assert message.startswith("Cannot create the daily batch definition on raw_orders.batch_date")
    assert "Fix: load a batch first" in message, message


def test_lesson_07_and_its_exercise_run_on_the_stack(on_stack):
    """Lesson 07 (incremental model, snapshot) and exercise 07's solution, on PostgreSQL and S3:
    the same notebooks as on `local`, every cell without an error, the exercise passed."""
    from lab import exercises, pipeline
    from lab.config import get_settings
    from lab.exercises.answers import notebook_answers

    settings = get_settings()
    lesson = pipeline.run_notebook(settings.notebooks_dir / "07_changing_data.ipynb", timeout=600)
    assert not pipeline.has_errors(lesson)
    solution = settings.exercises_dir / "solutions" / "07_changing_data.ipynb"
    pipeline.run_notebook(solution, timeout=600)
    exercise = exercises.get("07")
    feedback = exercise.check(**notebook_answers(exercise, solution))
    # Tasks 1-3 pass from the notebook; task 4 is an Airflow backfill the notebook cannot run
    # (tests/airflow/test_local_executor.py runs one and proves the check passes after it).
    assert [v.done for v in feedback.verdicts] == [True, True, True, False], str(feedback)
    assert "backfill create --dag-id notebook_pipeline" in feedback.verdicts[3].message
    kinds = on_stack.env["WAREHOUSE_URL"]
    assert kinds.startswith("postgresql"), kinds
