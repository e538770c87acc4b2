"""Per-step run metrics: one row a step in `ops.step_runs`, and the same in Prometheus format.

A notebook starts a step with `step = metrics.start("ingestion", run_id)` and ends it, cells
later, with `step.finish(loaded=..., ...)`; code that runs a step in one go writes
`with metrics.step("ingestion", run_id) as step:`, the same bookkeeping as a block that records
a failure too. On `local` the Prometheus text lands in `.state/metrics/`; on `stack` it is
pushed to the Pushgateway as well.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd

from lab.config import OPS_SCHEMA, STEP_RUNS, Settings, get_settings
from lab.profiles import get_warehouse, profile_of
from lab.warehouse import Warehouse

STEP_RUNS_DDL = f"""
create table if not exists {STEP_RUNS} (
    run_id varchar not null,
    step varchar not null,
    started_at timestamp not null,
    finished_at timestamp not null,
    duration_s double precision not null,
    outcome varchar not null,
    rows_in bigint,
    rows_out bigint,
    rows_quarantined bigint,
    counts varchar,
    detail varchar
)"""
PUSH_JOB = "lab_pipeline"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class StepRun:
    """One step of one pipeline run, from start to finish."""

    step: str
    run_id: str
    started_at: dt.datetime = field(default_factory=_now)
    finished_at: dt.datetime | None = None
    outcome: str = "running"
    counts: dict[str, int] = field(default_factory=dict)
    detail: str = ""
    suites: dict[str, tuple[bool, int, int]] = field(default_factory=dict)
    _t0: float = field(default_factory=time.perf_counter, repr=False)
    duration_s: float = 0.0
    settings: Settings | None = field(default=None, repr=False)

    def finish(self, outcome: str = "success", detail: str = "", **counts: int) -> StepRun:
        """Close the step and record it; counts are e.g. landed=500, loaded=468."""
        self.duration_s = round(time.perf_counter() - self._t0, 3)
        self.finished_at = _now()
        self.outcome = outcome
        self.detail = detail
        self.counts.update({k: int(v) for k, v in counts.items()})
        record(self, self.settings)
        return self

    def add_gate(self, gate) -> None:
        """Attach a quality gate's per-suite results (passed/failed expectations)."""
        for suite in gate.suites:
            self.suites[suite.suite] = (suite.success, suite.passed, suite.failed)

    def finish_gate(self, gate) -> StepRun:
        """Close a quality step from a GateResult: its outcome, counts and per-suite results."""
        self.add_gate(gate)
        return self.finish(
            "success" if gate.success else "failed",
            detail=str(gate),
            evaluated=gate.passed + gate.failed,
            passed=gate.passed,
            failed=gate.failed,
            validated=gate.rows_validated,  # rows in: what the gate read
            released=gate.rows_validated if gate.success else 0,  # rows out: what it let through
        )

    def fail(self, error: BaseException | str) -> StepRun:
        return self.finish("failed", detail=str(error).splitlines()[0][:500])

    @property
    def rows_in(self) -> int | None:
        c = self.counts
        return c.get("landed", c.get("rows_in", c.get("validated")))

    @property
    def rows_out(self) -> int | None:
        c = self.counts
        return c.get("loaded", c.get("rows_out", c.get("released")))

    @property
    def rows_quarantined(self) -> int | None:
        return self.counts.get("quarantined")


def start(step: str, run_id: str = "manual", settings: Settings | None = None) -> StepRun:
    """Begin timing a step."""
    return StepRun(step=step, run_id=run_id, settings=settings)


def record_failure(step: str, run_id: str, error: BaseException | str) -> None:
    """Record `step` of `run_id` as failed, unless it recorded its own end (a notebook that died
    before its last cell still leaves a `failed` row; one that recorded its failure keeps it)."""
    recorded = step_runs(run_id)
    if not ((recorded["step"] == step) & (recorded["outcome"] != "running")).any():
        start(step, run_id).fail(error)


@contextmanager
def step(name: str, run_id: str = "manual", settings: Settings | None = None) -> Iterator[StepRun]:
    """A step as a block: recorded as the block finished it, as a success if it did not, or
    as failed (with the error's first line) if the block raises; the error goes on."""
    run = start(name, run_id, settings)
    try:
        yield run
    except Exception as exc:
        if run.outcome == "running":
            run.fail(exc)
        raise
    if run.outcome == "running":
        run.finish()


def ensure_table(warehouse: Warehouse | None = None) -> None:
    warehouse = warehouse or get_warehouse()
    with warehouse.session():
        warehouse.execute(f"create schema if not exists {OPS_SCHEMA}")
        warehouse.execute(STEP_RUNS_DDL)


def record(run: StepRun, settings: Settings | None = None) -> None:
    """Write the step to `ops.step_runs`, its Prometheus text to disk, and push it on `stack`."""
    settings = settings or get_settings()
    row = pd.DataFrame(
        [
            {
                "run_id": run.run_id,
                "step": run.step,
                "started_at": run.started_at,
                "finished_at": run.finished_at or _now(),
                "duration_s": float(run.duration_s),
                "outcome": run.outcome,
                "rows_in": run.rows_in,
                "rows_out": run.rows_out,
                "rows_quarantined": run.rows_quarantined,
                "counts": json.dumps(run.counts, sort_keys=True),
                "detail": run.detail,
            }
        ]
    )
    for column in ("rows_in", "rows_out", "rows_quarantined"):
        row[column] = row[column].astype("Int64")
    warehouse = get_warehouse(settings)
    with warehouse.session():
        ensure_table(warehouse)
        warehouse.execute(
            f"delete from {STEP_RUNS} where run_id = ? and step = ?", [run.run_id, run.step]
        )
        warehouse.insert_dataframe(STEP_RUNS, row)
    text = prometheus_text(run)
    settings.metrics_dir.mkdir(parents=True, exist_ok=True)
    (settings.metrics_dir / f"{run.step}.prom").write_text(text)
    gateway = profile_of(settings).pushgateway()
    if gateway:
        push(run, gateway)


def _registry(run: StepRun):
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    ok = run.outcome == "success"
    finished = (run.finished_at or _now()).replace(tzinfo=dt.UTC).timestamp()

    def gauge(name: str, documentation: str, labels: tuple[str, ...] = ("step",)) -> Gauge:
        return Gauge(name, documentation, list(labels), registry=registry)

    def per_step(name: str, documentation: str, value: float) -> None:
        gauge(name, documentation).labels(run.step).set(value)

    per_step("lab_step_duration_seconds", "Wall time of the step's last run", run.duration_s)
    per_step("lab_step_success", "1 when the step's last run succeeded, else 0", 1 if ok else 0)
    per_step("lab_step_last_run_timestamp_seconds", "When the step last finished", finished)
    if ok:
        per_step(
            "lab_step_last_success_timestamp_seconds", "When the step last succeeded", finished
        )
    rows = gauge(
        "lab_step_rows", "Rows or items the step's last run handled, by kind", ("step", "kind")
    )
    for kind, value in sorted(run.counts.items()):
        rows.labels(run.step, kind).set(value)
    if run.suites:
        gate = gauge("lab_quality_gate_success", "1 when the suite passed", ("suite",))
        expectations = gauge(
            "lab_quality_expectations", "Expectations by outcome", ("suite", "outcome")
        )
        for suite, (success, passed, failed) in sorted(run.suites.items()):
            gate.labels(suite).set(1 if success else 0)
            expectations.labels(suite, "passed").set(passed)
            expectations.labels(suite, "failed").set(failed)
    return registry


def prometheus_text(run: StepRun) -> str:
    """The step's metrics in the Prometheus text exposition format."""
    from prometheus_client import generate_latest

    return generate_latest(_registry(run)).decode()


def push(run: StepRun, gateway: str) -> bool:
    """Push the step's metrics to a Pushgateway; monitoring trouble never fails a step.

    `pushadd` keeps the metrics this push does not carry, so a failed run leaves the step's
    last-success time in place for the staleness alert.
    """
    from prometheus_client import pushadd_to_gateway

    try:
        pushadd_to_gateway(
            gateway,
            job=PUSH_JOB,
            grouping_key={"step": run.step},
            registry=_registry(run),
            timeout=5,
        )
    except OSError as exc:
        warnings.warn(
            f"Could not push metrics to {gateway}: {exc}. The run is still recorded "
            f"in {STEP_RUNS}.",
            stacklevel=2,
        )
        return False
    return True


def step_runs(run_id: str | None = None, warehouse: Warehouse | None = None) -> pd.DataFrame:
    """Recorded steps, oldest first (one run's when run_id is given)."""
    warehouse = warehouse or get_warehouse()
    if not warehouse.table_exists(STEP_RUNS):
        return pd.DataFrame(columns=["run_id", "step", "started_at", "duration_s", "outcome"])
    where, params = ("where run_id = ?", [run_id]) if run_id else ("", [])
    return warehouse.query(f"select * from {STEP_RUNS} {where} order by started_at", params)
