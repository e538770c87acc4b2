"""The pipeline's steps as plain functions, each recording its run metrics.

Each function is the cells of its lesson in one block: the same `lab` calls, and the same
bookkeeping (`metrics.step` here, `metrics.start`/`finish` across the notebook's cells).

Notebooks 01-04 walk through these same calls one at a time; `simulate_history`, the
benchmarks and `lab reset --lesson N` (lab.rewind, replaying the lessons) call them directly.
"""

from __future__ import annotations

import datetime as dt

from lab import ingest, metrics
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
    with metrics.step("ingestion", run_id) as step:
        ingest.land_batch(run_date, rows=rows, dirty=dirty, updates=updates, reach=reach)
        result = ingest.load_batch(run_date, run_id=run_id)
        step.finish(**result.counts())
    return result


def transformation(run_id: str = "manual", select: str | None = None):
    """`dbt build`: seeds, staging views, marts and their tests (lesson 02)."""
    from lab import transform

    with metrics.step("dbt", run_id) as step:
        run = transform.build(select)
        step.finish("success" if run.success else "failed", detail=str(run), **run.counts())
    return run.raise_on_failure()


def quality(run_date, run_id: str = "manual", suites: list[str] | None = None):
    """The Great Expectations gate on the day's orders and the customers (lesson 03)."""
    from lab import quality as q

    with metrics.step("quality", run_id) as step:
        gate = q.run_gate(run_date, suites=suites)
        step.finish_gate(gate)
    return gate


def monitoring(run_id: str = "manual"):
    """Read the recorded step runs (what lesson 04 charts) and record this step itself."""
    with metrics.step("monitoring", run_id) as step:
        runs = metrics.step_runs()
        step.finish(runs=runs["run_id"].nunique(), step_runs=len(runs))
    return step


# The share of each history day's rows that are status updates of earlier days' orders (from the
# second day on). Each day's updates reach back no further than the history's first day, so the
# marts show no thin, half-empty dates before it.
HISTORY_UPDATES = 0.05


def simulate_history(
    end: dt.date | str, days: int = 7, dirty_days: tuple[int, ...] = (3,), rows: int = DEFAULT_ROWS
) -> list[str]:
    """Run the steps for the `days` days before `end`, to give the monitoring lesson a history.

    `dirty_days` are offsets (0 = the oldest day) whose batches carry defects, so the
    history shows quarantined rows and a failed quality gate.
    """
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
        quality(day, run_id=run_id)
        run_ids.append(run_id)
    transformation(run_id=run_ids[-1])
    return run_ids
