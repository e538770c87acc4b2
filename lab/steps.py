"""The pipeline's steps: one registry, and each step as a plain function recording its metrics.

`STEPS` is the one list of the steps, in pipeline order: each step's name (in `ops.step_runs`,
the DAG's task id, `lab pipeline --step`), the lesson notebook that is the step, its function,
its colour in lesson 04's charts and its line in the pipeline's summary. Everything that lists
the steps (the pipeline, the DAGs, the CLI, the plots, `lab reset --lesson N`) reads it.

Each function is the cells of its lesson in one block: the same `lab` calls, and the same
bookkeeping (`metrics.step` here, `metrics.start`/`finish` across the notebook's cells).
Notebooks 01-04 walk through these same calls one at a time; `simulate_history`, the
benchmarks and `lab reset --lesson N` (lab.sandbox.rewind) call them directly.

This module is read where Airflow parses the DAG files and by `lab --help`: the data libraries
are imported inside the step functions, when a step runs.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from lab.contract import DEFAULT_ROWS, UPDATE_MAX_DAYS_BACK, as_date


def ingestion(
    run_date,
    rows: int = DEFAULT_ROWS,
    dirty: float = 0.0,
    run_id: str = "manual",
    updates: float = 0.0,
    reach: int = UPDATE_MAX_DAYS_BACK,
):
    """Land the day's batch in the lake and load it into the warehouse (lesson 01)."""
    from lab import ingest
    from lab.observe import metrics

    with metrics.step("ingestion", run_id) as step:
        ingest.land_batch(run_date, rows=rows, dirty=dirty, updates=updates, reach=reach)
        result = ingest.load_batch(run_date, run_id=run_id)
        step.finish(**result.counts())
    return result


def transformation(run_id: str = "manual", select: str | None = None):
    """`dbt build`: seeds, staging views, marts and their tests (lesson 02)."""
    from lab import transform
    from lab.observe import metrics

    with metrics.step("dbt", run_id) as step:
        run = transform.build(select)
        step.finish("success" if run.success else "failed", detail=str(run), **run.counts())
    return run.raise_on_failure()


def quality(
    run_date, run_id: str = "manual", suites: list[str] | None = None, data_docs: bool = True
):
    """The Great Expectations gate on the day's orders and the customers (lesson 03).
    `data_docs=False`: the checkpoints' Data Docs action does not run (`lab.quality.run_gate`)."""
    from lab import quality as q
    from lab.observe import metrics

    with metrics.step("quality", run_id) as step:
        gate = q.run_gate(run_date, suites=suites, data_docs=data_docs)
        step.finish_gate(gate)
    return gate


def monitoring(run_id: str = "manual"):
    """Read the recorded step runs (what lesson 04 charts) and record this step itself."""
    from lab.observe import metrics

    with metrics.step("monitoring", run_id) as step:
        runs = metrics.step_runs()
        step.finish(runs=runs["run_id"].nunique(), step_runs=len(runs))
    return step


@dataclass(frozen=True)
class Step:
    """One step of the pipeline."""

    name: str  # in ops.step_runs, the DAG's task id, `lab pipeline --step NAME`
    notebook: str  # the lesson that is this step (notebooks/), run by papermill
    replay: Callable[[dt.date, str], str]  # run it for a date and run id; say what it did
    colour: str  # in lesson 04's charts
    summary: str  # its line in the pipeline's summary, from its counts (a missing count is 0)

    @property
    def lesson(self) -> str:
        return self.notebook[:2]

    def summarise(self, counts: dict[str, int]) -> str:
        return self.summary.format_map(defaultdict(int, counts))


def _replay_monitoring(day: dt.date, run_id: str) -> str:
    run = monitoring(run_id=run_id)
    return f"its step run recorded ({run.counts['step_runs']} step runs read)"


STEPS = (
    Step(
        "ingestion",
        "01_ingestion.ipynb",
        lambda day, run_id: f"{ingestion(day, run_id=run_id)}",
        "#4C72B0",
        "{landed} rows landed, {loaded} loaded, {quarantined} quarantined",
    ),
    Step(
        "dbt",
        "02_dbt.ipynb",
        lambda day, run_id: f"{transformation(run_id=run_id)}",
        "#DD8452",
        "{models} models built, {tests_passed} of {tests} tests passed",
    ),
    Step(
        "quality",
        "03_great_expectations.ipynb",
        lambda day, run_id: f"{quality(day, run_id=run_id)} on {day}",
        "#55A868",
        "{passed} of {evaluated} expectations passed",
    ),
    Step(
        "monitoring",
        "04_monitoring.ipynb",
        _replay_monitoring,
        "#8172B3",
        "{runs} runs in the ops tables",
    ),
)
BY_NAME = {step.name: step for step in STEPS}
BY_LESSON = {step.lesson: step for step in STEPS}


# The share of each history day's rows that are status updates of earlier days' orders (from the
# second day on). Each day's updates reach back no further than the history's first day, so the
# marts show no thin, half-empty dates before it.
HISTORY_UPDATES = 0.05


def simulate_history(
    end: dt.date | str, days: int = 7, dirty_days: tuple[int, ...] = (3,), rows: int = DEFAULT_ROWS
) -> list[str]:
    """Run the steps for the `days` days before `end`, to give the monitoring lesson a history.

    `dirty_days` are offsets (0 = the oldest day) whose batches carry defects, so the
    history shows quarantined rows and a failed quality gate. The Data Docs are built once,
    from every day's results, not after each day's gate (a week of history: 14.3 -> 9.7-12.3 CPU-s).
    """
    from lab import quality as q

    end = as_date(end)
    run_ids = []
    for offset in range(days):
        day = end - dt.timedelta(days=days - offset)
        run_id = f"history_{day.isoformat()}"
        ingestion(
            day,
            rows=rows,
            dirty=0.08 if offset in dirty_days else 0.0,
            run_id=run_id,
            updates=HISTORY_UPDATES if offset else 0.0,
            reach=min(max(offset, 1), UPDATE_MAX_DAYS_BACK),
        )
        quality(day, run_id=run_id, data_docs=False)
        run_ids.append(run_id)
    q.build_data_docs()
    transformation(run_id=run_ids[-1])
    return run_ids
