"""Lessons 01-04 as production steps: one papermill task a notebook, in lesson order.

The operator and the link are defined here, next to the only DAG that uses them; what they
do at run time lives in `lab.airflow.tasks` (parameters, execution, artifacts), the tasks,
their pool and their retries in `lab.airflow.dag_support` (no settings read at parse time).
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.papermill.operators.papermill import PapermillOperator
from airflow.sdk import BaseOperatorLink, Param, chain, dag

from lab.airflow import dag_support
from lab.contract import DEFAULT_ROWS, MAX_NOTEBOOK_ROWS

# A notebook that fails in a cell (papermill's PapermillExecutionError, turned into
# lab.errors.NotebookStepError) fails the same way on every try: fail it at once. A locked
# warehouse file, a kernel that died or could not start, a network error: retry with backoff.
NO_RETRY_REASON = "the notebook failed in a cell: a retry would fail the same way"


class ExecutedNotebookLink(BaseOperatorLink):
    """The task's "Executed notebook" button: opens the notebook this try produced."""

    name = "Executed notebook"

    def get_link(self, operator, *, ti_key) -> str:
        # Called by the worker when the task finishes (also when it failed); Airflow stores
        # the result as an XCom that the UI reads.
        return getattr(operator, "executed_notebook_link", "")


class NotebookStepOperator(PapermillOperator):
    """PapermillOperator for a pipeline notebook, with the run's parameters and artifacts.

    The stock operator takes fixed parameters and runs the kernel in Airflow's working
    directory; this one computes the parameters from the DAG run, runs the notebook from
    `notebooks/` with the `python3` kernel of this environment (kernel log noise silenced)
    through `lab.airflow.tasks.run_notebook_step`, and keeps the executed notebook, also when
    a cell fails.
    """

    operator_extra_links = (ExecutedNotebookLink(),)

    def __init__(self, *, step: str, notebook: str, **kwargs) -> None:
        super().__init__(input_nb=f"notebooks/{notebook}", kernel_name="python3", **kwargs)
        self.step = step
        self.notebook = notebook
        self.executed_notebook_link = ""

    def execute(self, context):
        from lab.airflow import tasks as orch

        run_id = context["run_id"]
        self.parameters = orch.step_parameters(
            logical_date=context.get("logical_date"),
            run_after=context["dag_run"].run_after,
            run_id=run_id,
            params=context["params"],
        )
        output = orch.executed_notebook(run_id, self.notebook)
        self.output_nb = str(output)
        self.executed_notebook_link = orch.notebook_link(output)
        self.log.info("Running %s with %s", self.notebook, self.parameters)
        try:
            done = orch.run_notebook_step(self.step, self.notebook, self.parameters, run_id)
        finally:
            self.log.info("Executed notebook: %s", self.executed_notebook_link)
        return done.kept_at


@dag(
    schedule="@daily",
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["sandbox", "papermill", "pipeline"],
    params={
        "rows": Param(
            DEFAULT_ROWS,
            type="integer",
            minimum=1,
            maximum=MAX_NOTEBOOK_ROWS,
            title="Rows in the batch",
        ),
        "dirty": Param(
            0.0, type="number", minimum=0, maximum=1, title="Fraction of rows with defects"
        ),
    },
    default_args=dag_support.default_args(reason=NO_RETRY_REASON),
    max_active_runs=2,
)
def notebook_pipeline():
    """
    ### Notebook pipeline: lessons 01-04 as production steps

    One task a numbered lesson notebook, in lesson order: **ingestion** (01), **dbt** (02),
    **quality** (03), **monitoring** (04). Each runs with papermill and these parameters:

    | parameter | value |
    |---|---|
    | `run_date` | the run's logical date (YYYY-MM-DD); a manual run without one: the day it was triggered for |
    | `run_id` | the Airflow run id, with `:` and `+` made safe for paths |
    | `rows`, `dirty` | the run's params (trigger with config to change them) |
    | `profile` | `LAB_PROFILE` of the Airflow worker |

    **Artifacts.** Each executed notebook is saved under `runs/<run id>/` (on `stack` also in
    the `artifacts` bucket), also when a cell fails. The task's *Executed notebook* link and
    the last line of its log point to it.

    **Failures.** A failing cell fails its task and the tasks after it do not run. It is not
    retried: the `retry_policy` fails `PapermillExecutionError` (raised by papermill, reported
    as `lab.errors.NotebookStepError` with the cell) and every other `lab` error at once, since a
    retry would fail the same way. Anything else (a kernel that died, a locked DuckDB file, the
    object store unreachable) is retried twice with exponential backoff (about 30 s, then 60 s).

    On `local` every task shares the `duckdb_writer` pool (one slot), so two runs at once take
    turns on the DuckDB file instead of failing on its lock.

    **Backfill.** `airflow backfill create --dag-id notebook_pipeline --from-date 2026-11-02
    --to-date 2026-11-04` queues one run a day; each processes its logical date. A date run
    again replaces only its own rows: the same day gives the same file, which the loader
    finds unchanged, and `ops.step_runs` keeps one row a step per run id. `catchup` stays off:
    past days run only when asked for.
    """
    chain(
        *(
            NotebookStepOperator(
                task_id=t["task_id"], step=t["task_id"], notebook=t["notebook"], pool=t["pool"]
            )
            for t in dag_support.pipeline_tasks()
        )
    )


notebook_pipeline()
