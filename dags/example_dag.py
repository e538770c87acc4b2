"""The flow of the original documentation: bucket, `dbt seed`, `dbt run`, then the GX checkpoint.

Every task is a thin wrapper over a `lab.airflow.tasks` function; heavy imports (dbt, GX,
s3fs) happen inside the tasks, never when Airflow parses this file. The pool and the retries
come from `lab.airflow.dag_support`, which reads no settings at parse time.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task

from lab.airflow import dag_support
from lab.airflow import tasks as orchestration

WAREHOUSE_POOL = dag_support.WAREHOUSE_POOL  # one slot on `local`: DuckDB has one writer


@dag(
    schedule="@daily",
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["sandbox", "dbt", "great-expectations"],
    # Deterministic failures (a failed dbt model, a failed validation) fail at once; a locked
    # warehouse file or anything unforeseen (network, a killed process) is retried with backoff.
    default_args=dag_support.default_args(),
)
def example_dag():
    """
    ### Example DAG: seed, transform, validate

    The flow of the sandbox's original documentation, one task a step:

    1. **ensure_buckets**: the object store's `raw` and `artifacts` buckets exist.
    2. **dbt_seed**: `dbt seed` loads `raw_customers`.
    3. **dbt_run**: `dbt run` builds the `stg_customers` view.
    4. **validate_customers**: the Great Expectations checkpoint on `raw_customers`. Its
       validation result is kept in `great_expectations/gx/uncommitted/validations` and, on the
       `stack` profile, in the `artifacts` bucket under `validations/<run id>/`. A failed
       validation fails the task and logs the failing expectations.

    Tasks that use the warehouse share the `duckdb_writer` pool (one slot) on `local`.
    Failures of the data or the code are not retried; anything else is, twice, with backoff.
    """

    @task
    def ensure_buckets() -> list[str]:
        return orchestration.ensure_buckets()

    @task(pool=WAREHOUSE_POOL)
    def dbt_seed() -> str:
        return orchestration.dbt_seed()

    @task(pool=WAREHOUSE_POOL)
    def dbt_run() -> str:
        return orchestration.dbt_run("stg_customers")

    @task(pool=WAREHOUSE_POOL)
    def validate_customers(run_id=None) -> dict:
        return orchestration.validate_customers(run_id=run_id or "manual")

    ensure_buckets() >> dbt_seed() >> dbt_run() >> validate_customers()


example_dag()
