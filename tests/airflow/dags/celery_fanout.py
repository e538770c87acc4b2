"""Test DAG: four independent tasks, so that two one-slot Celery workers both get work."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task


@dag(
    schedule=None,
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["tests"],
    default_args={"owner": "tests", "retries": 0},
)
def celery_fanout():
    """### Celery fan-out (tests only)

    Four tasks without dependencies; each builds a day's batch with `lab.datagen` (so the
    workers import `lab`) and holds its worker slot for a second. Each worker has one slot
    and reserves no task beyond it (Airflow's Celery defaults: prefetch multiplier 1, late
    acks), so the tasks queued at once spread over both workers.
    """

    @task
    def make_batch(day: int) -> int:
        import time

        from lab import datagen

        time.sleep(1)
        return len(datagen.make_orders(f"2026-11-{day:02d}", rows=50))

    for day in range(1, 5):
        make_batch.override(task_id=f"batch_{day}")(day)


celery_fanout()
