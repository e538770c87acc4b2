"""What the DAG files in `dags/` import while Airflow parses them: the pool, the retries, the tasks.

Airflow parses every DAG file every 30 s, so nothing here reads settings, `.env`, the
environment or the network: the values are constants, and `retry_policy()` builds Airflow's
object only when a DAG file (which imports Airflow anyway) calls it. Importing this module
never imports airflow; `lab.airflow.dag_rules` checks DAG files against the house rules.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lab.steps import STEPS

# The pool of every task that writes the warehouse. Its size is the profile's business, set
# where the pool is created (lab.airflow.pool, from the profile's `airflow_pool_slots`):
# one slot on `local`, because a DuckDB file has one writer process and a reader is refused
# while a writer holds it (two runs take turns instead of failing on the lock); on `stack`
# (PostgreSQL) as many as Airflow's default pool, no limit in practice. So a DAG file names
# the pool without asking which profile it runs on.
WAREHOUSE_POOL = "duckdb_writer"
DEFAULT_POOL = "default_pool"

# Errors that mean "the data or the code is wrong": running the task again gives the same
# result, so the DAGs fail them at once instead of retrying (dotted paths, resolved by Airflow).
# A locked DuckDB file is the exception: another process will let go of it.
RETRY_ERRORS = ("lab.errors.WarehouseLockedError",)
NO_RETRY_ERRORS = (
    "lab.errors.LabError",
    "papermill.exceptions.PapermillExecutionError",
)
NO_RETRY_REASON = "the data or the code is wrong: a retry would fail the same way"

# Anything else (a kernel that died, the object store unreachable) is retried twice with
# exponential backoff: about 30 s, then 60 s.
OWNER = "sandbox"
RETRIES = 2
RETRY_DELAY = dt.timedelta(seconds=30)
RETRY_BACKOFF = 2.0
MAX_RETRY_DELAY = dt.timedelta(minutes=10)


def retry_policy(reason: str = NO_RETRY_REASON) -> Any:
    """Airflow's retry policy of the sandbox's tasks: `lab` errors and failed notebook cells
    fail at once (`reason` says why in the task log); a locked warehouse file and anything
    unforeseen are retried."""
    from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

    return ExceptionRetryPolicy(
        rules=[
            RetryRule(exception=list(RETRY_ERRORS), action=RetryAction.RETRY),
            RetryRule(exception=list(NO_RETRY_ERRORS), action=RetryAction.FAIL, reason=reason),
        ]
    )


def default_args(reason: str = NO_RETRY_REASON, **overrides: Any) -> dict[str, Any]:
    """The `default_args` of every sandbox DAG: owner, retries with backoff, the retry policy."""
    return {
        "owner": OWNER,
        "retries": RETRIES,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": RETRY_BACKOFF,
        "max_retry_delay": MAX_RETRY_DELAY,
        "retry_policy": retry_policy(reason),
        **overrides,
    }


def pipeline_tasks() -> list[dict[str, str]]:
    """The notebook pipeline's tasks in lesson order: task id, notebook and pool."""
    return [
        {"task_id": step.name, "notebook": step.notebook, "pool": WAREHOUSE_POOL}
        for step in STEPS
    ]
