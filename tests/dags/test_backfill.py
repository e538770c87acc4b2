"""A backfill of the notebook pipeline for three past days, run by a real scheduler, twice.

One Airflow for the module's one test: api-server, scheduler (LocalExecutor) and dag-processor
as processes on 127.0.0.1 with `make airflow`'s settings (its home in the sandbox copy's
`.state/airflow`), but PostgreSQL metadata on the test server; `lab.airflow.local.backfill` runs
`airflow backfill create` with them. The three runs are active at once: the one-slot
`duckdb_writer` pool alone keeps their tasks from overlapping. The second backfill runs the
middle day again, after the day that follows it has loaded (the incremental `orders` model
reads days back from its newest delivery): each day's run is its own, so one day shows what a
rerun does to every day, at a third of the cost (a notebook task takes ~7 s here).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.airflow import local as airflow_local
from lab.airflow.api import AirflowClient
from lab.config import LOAD_BATCHES, get_settings
from lab.errors import AirflowError
from lab.exercises import check as exercise_check
from lab.exercises import ex07_changing as ex07
from lab.observe import metrics
from lab.pipeline import safe_run_id
from lab.profiles import get_warehouse
from tests.exercises.conftest import verdict_of
from tests.helpers import abort_with_stacks, free_port, scratch_database

PREPARED_HISTORY_DAYS = 1
DAG_ID = "notebook_pipeline"
# Exercise 07's task 4: the backfill it asks for, whose check must pass after it.
DAYS = [dt.date.fromisoformat(day) for day in ex07.BACKFILL_DAYS]
ROWS = 60
STEPS = ["ingestion", "dbt", "quality", "monitoring"]
# What a rerun must leave exactly as it was: the loaded day, its quarantine, dbt's models.
TABLES = [
    "raw_orders",
    "quarantine_orders",
    "stg_orders",
    "orders",
    "customer_orders",
    "daily_revenue",
]
COMPONENTS = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
}
pytestmark = pytest.mark.slow


class Scheduler:
    """The module's Airflow: its processes, their logs and a REST client."""

    def __init__(self, home: Path, env: dict[str, str], port: int) -> None:
        self.home, self.env, self.port = home, env, port
        self.processes: dict[str, subprocess.Popen] = {}
        self.finished_at: float | None = None  # when the last backfill's runs had finished
        self.client = AirflowClient(
            f"http://127.0.0.1:{port}", airflow_local.AIRFLOW_USER, airflow_local.AIRFLOW_PASSWORD
        )

    def start(self) -> None:
        logs = self.home / "process-logs"
        logs.mkdir(parents=True, exist_ok=True)
        airflow = str(Path(self.env["PATH"].split(os.pathsep)[0]) / "airflow")
        for name, args in COMPONENTS.items():
            with open(logs / f"{name}.log", "wb") as log:
                self.processes[name] = subprocess.Popen(
                    [airflow, *args],
                    env={**os.environ, **self.env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    cwd=self.home,
                )

    def logs(self, chars: int = 2500) -> str:
        return "\n".join(
            f"--- {name} ---\n{(self.home / 'process-logs' / f'{name}.log').read_text(errors='replace')[-chars:]}"
            for name in self.processes
        )

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise AssertionError(f"Airflow processes exited: {dead}\n{self.logs()}")

    def wait_until_ready(self, timeout: float = 180) -> None:
        """The API answers, scheduler and dag-processor are healthy, the DAG is parsed."""
        deadline, last = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                health = self.client.health()
                sick = [
                    c
                    for c in ("scheduler", "dag_processor")
                    if (health.get(c) or {}).get("status") != "healthy"
                ]
                if not sick:
                    self.client.dag(DAG_ID)
                    return
                last = f"not healthy yet: {sick}"
            except (OSError, AirflowError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise TimeoutError(f"Airflow was not ready after {timeout} s ({last})\n{self.logs()}")

    def wait_for_backfill(
        self, days: list[dt.date], marked_done: bool, timeout: float = 600
    ) -> list[dict]:
        """The runs of `days`, once every one of them has finished (and with `marked_done`, once
        the scheduler has marked their backfill done: another may start only then)."""
        deadline, self.finished_at = time.monotonic() + timeout, None
        while True:
            self.check_alive()
            runs = {
                dt.datetime.fromisoformat(r["logical_date"]).date(): r
                for r in self.client.runs(DAG_ID)
                if r.get("logical_date") and r["run_type"] == "backfill"
            }
            mine = [runs.get(day) for day in days]
            finished = all(r is not None and r["state"] in ("success", "failed") for r in mine)
            # Airflow runs one backfill a DAG at a time, and its scheduler marks one done
            # every 30 s: the next backfill waits for that.
            if finished and self.finished_at is None:
                self.finished_at = time.monotonic()
            if finished and not (marked_done and self.backfills_running()):
                return mine
            if time.monotonic() > deadline:
                states = {str(d): (r or {}).get("state") for d, r in zip(days, mine, strict=True)}
                raise TimeoutError(
                    f"backfill runs not finished after {timeout} s: {states}\n{self.logs()}"
                )
            time.sleep(1)

    def backfills_running(self) -> list[dict]:
        """The DAG's backfills not marked done yet (REST API v2)."""
        request = urllib.request.Request(
            f"{self.client.base_url}/api/v2/backfills?dag_id={DAG_ID}",
            headers={"Authorization": f"Bearer {self.client.token()}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
        return [b for b in answer["backfills"] if not b.get("completed_at")]

    def stop(self) -> list[str]:
        """SIGTERM; a component still running after 30 s (a busy machine) writes its threads'
        stacks, and its children's, to its log (faulthandler) and is killed and reported."""
        return airflow_local.stop_components(
            self.processes,
            self.home,
            timeout=30,
            on_stuck=lambda _name, process: abort_with_stacks(process.pid),
        )


@pytest.fixture
def airflow_metadata(_postgres_server: dict) -> Iterator[str]:
    """A fresh PostgreSQL database for Airflow's metadata: SQLite refuses a writer ("database is
    locked") now and then while the scheduler and the API server write it as well."""
    with scratch_database(_postgres_server, "airflow_backfill") as url:
        yield url.replace("postgresql://", "postgresql+psycopg2://", 1)


@pytest.fixture
def scheduler(sandbox_copy, airflow_metadata) -> Iterator[Scheduler]:
    """Airflow with `make airflow`'s settings on the sandbox copy, PostgreSQL metadata, fast
    polls, no scheduled runs."""
    settings = get_settings()
    home = airflow_local.airflow_home(settings)
    airflow_local.prepare_airflow_home(home)
    port = free_port()
    env = airflow_local.airflow_env(
        home, settings=settings, port=port, sql_alchemy_conn=airflow_metadata
    )
    env.update(
        {
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # Only the backfill's runs: switching the DAG on schedules no run of its own.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            # A component that hangs at stop dumps its stacks on SIGABRT (see Scheduler.stop).
            "PYTHONFAULTHANDLER": "1",
        }
    )
    airflow_local.setup_metadata(env)
    airflow = Scheduler(home, env, port)
    try:
        airflow.start()
        airflow.wait_until_ready()
        airflow.client.unpause(DAG_ID)
        yield airflow
    finally:
        leftovers = airflow.stop()
    assert not leftovers, (
        f"processes were left running and had to be killed: {leftovers}\n{airflow.logs(12000)}"
    )


def fingerprint() -> dict[str, tuple[int, str]]:
    """Each table's row count and a hash of its rows in a fixed order."""
    warehouse = get_warehouse()
    prints = {}
    for table in TABLES:
        frame = warehouse.query(f"select * from {table}")
        frame = frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)
        text = frame.to_csv(index=False)
        prints[table] = (len(frame), hashlib.sha256(text.encode()).hexdigest()[:16])
    return prints


def load_records() -> dict[dt.date, list[dict]]:
    frame = get_warehouse().query(
        f"select batch_date, sha256, rows_in, rows_loaded, run_id from {LOAD_BATCHES} "
        "order by loaded_at"
    )
    records: dict[dt.date, list[dict]] = {}
    for row in frame.to_dict("records"):
        records.setdefault(dt.date.fromisoformat(str(row["batch_date"])[:10]), []).append(row)
    return records


def pool_overlaps(client: AirflowClient, runs: list[dict]) -> tuple[list, int]:
    """Pairs of tasks whose [start, end) overlapped, and how many tasks ran."""
    spans = sorted(
        (
            dt.datetime.fromisoformat(ti["start_date"]),
            dt.datetime.fromisoformat(ti["end_date"]),
            f"{ti['task_id']}@{run['dag_run_id']}",
        )
        for run in runs
        for ti in client.task_instances(DAG_ID, run["dag_run_id"])
    )
    overlaps = [(a[2], b[2]) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
    return overlaps, len(spans)


def backfill_and_wait(
    airflow: Scheduler, days: list[dt.date], reprocess: str, marked_done: bool = True
) -> tuple[list[dict], float]:
    t0 = time.monotonic()
    started = airflow_local.backfill(
        DAG_ID,
        days[0],
        days[-1],
        conf={"rows": ROWS},
        reprocess=reprocess,
        max_active_runs=len(days),  # all at once: the pool alone keeps them in turn
        env=airflow.env,
        say=lambda _: None,
    )
    assert started.dates == days, f"expected runs for {days}, the backfill queued {started}"
    runs = airflow.wait_for_backfill(days, marked_done)
    return runs, (airflow.finished_at or time.monotonic()) - t0


def test_backfill_of_three_days_loads_each_day_once_in_turn_and_a_rerun_changes_nothing(
    scheduler, capsys
):
    before = load_records()
    assert not set(before) & set(DAYS), f"the prepared sandbox already holds {sorted(before)}"
    task = verdict_of(exercise_check("07"), "4")
    assert not task.done and ex07.BACKFILL_COMMAND in task.message, task.message

    runs, first = backfill_and_wait(scheduler, DAYS, "none")
    assert [r["state"] for r in runs] == ["success"] * 3, (
        f"expected three successful runs, got {[(r['dag_run_id'], r['state']) for r in runs]}\n"
        f"{scheduler.logs()}"
    )
    overlaps, tasks = pool_overlaps(scheduler.client, runs)
    assert tasks == 3 * len(STEPS), f"expected {3 * len(STEPS)} task instances, found {tasks}"
    assert not overlaps, f"tasks in the duckdb_writer pool ran at the same time: {overlaps}"

    warehouse = get_warehouse()
    records = load_records()
    for day, run in zip(DAYS, runs, strict=True):
        loaded = warehouse.scalar("select count(*) from raw_orders where batch_date = ?", [day])
        assert loaded == ROWS, f"expected the {ROWS} rows of {day} in raw_orders, found {loaded}"
        mine = records.get(day, [])
        assert len(mine) == 1, f"expected one load record for {day}, found {mine}"
        assert mine[0]["run_id"] == safe_run_id(run["dag_run_id"]), (mine, run["dag_run_id"])
        assert int(mine[0]["rows_in"]) == ROWS, mine
    after_first = fingerprint()
    task = verdict_of(exercise_check("07"), "4")
    assert task.done, f"exercise 07's backfill task is not done after the backfill: {task.message}"

    # The middle day again: its finished run is cleared and runs again, under its id.
    # No backfill follows it: its run's end is enough (up to 30 s before it is marked done).
    again = DAYS[1:2]
    reruns, second = backfill_and_wait(scheduler, again, "completed", marked_done=False)
    assert [r["state"] for r in reruns] == ["success"], (
        f"expected a successful rerun, got {[(r['dag_run_id'], r['state']) for r in reruns]}"
    )
    assert [r["dag_run_id"] for r in reruns] == [runs[1]["dag_run_id"]], (runs, reruns)
    rerun_tasks = scheduler.client.task_instances(DAG_ID, reruns[0]["dag_run_id"])
    assert sorted(ti["try_number"] for ti in rerun_tasks) == [2] * len(STEPS), (
        f"each task of {again[0]} must have run a second time: {rerun_tasks}"
    )
    overlaps, _ = pool_overlaps(scheduler.client, reruns)
    assert not overlaps, f"rerun tasks in the duckdb_writer pool overlapped: {overlaps}"
    assert fingerprint() == after_first, "a rerun of the same days changed the warehouse"
    assert load_records() == records, "a rerun of the same days wrote another load record"
    for run in reruns:
        steps = metrics.step_runs(safe_run_id(run["dag_run_id"]))
        assert sorted(steps["step"]) == sorted(STEPS), f"one step_runs row a step: {steps}"
        assert set(steps["outcome"]) == {"success"}, steps
    with capsys.disabled():
        print(f"\nbackfill of 3 days: {first:.0f} s; the middle day again: {second:.0f} s")
