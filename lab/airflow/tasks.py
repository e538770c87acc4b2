"""What the tasks of the Airflow DAGs in `dags/` call when they run.

The DAG files stay thin: they turn Airflow's run context into plain values and call the
functions here, which call the rest of `lab`. Nothing here runs while Airflow parses a DAG
file (that is `lab.airflow.dag_support`), and this module never imports airflow.

- run parameters: `run_date_for`, `step_parameters` (what every pipeline notebook receives)
- artifacts: `executed_notebook`, `keep_artifact`, `notebook_link`, `run_notebook_step`
- the example DAG's steps: `ensure_buckets`, `dbt_seed`, `dbt_run`, `validate_customers`

The local Airflow is in `lab.airflow.local`, the REST client in `lab.airflow.api`, the DAG
files' rules and sources in `lab.airflow.dag_rules`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.config import JUPYTER_PORT, RAW_CUSTOMERS, Settings, get_settings

log = logging.getLogger(__name__)

# Where executed notebooks open: the JUPYTER_URL setting, else the JupyterLab of `make lab`.
JUPYTER_URL = f"http://127.0.0.1:{JUPYTER_PORT}"


# --- run parameters ---------------------------------------------------------------------------


def run_date_for(logical_date: dt.datetime | None, run_after: dt.datetime | None = None) -> dt.date:
    """The day a run processes: its logical date.

    Airflow 3 creates manual runs (UI, REST API, `airflow dags trigger`) without a logical
    date unless one is given; those process the day they were triggered for (`run_after`),
    else today (UTC).
    """
    from lab.contract import as_date

    for value in (logical_date, run_after):
        if value is not None:
            if isinstance(value, dt.datetime) and value.tzinfo is not None:
                value = value.astimezone(dt.UTC)
            return as_date(value)
    return dt.datetime.now(dt.UTC).date()


def step_parameters(
    *,
    logical_date: dt.datetime | None,
    run_after: dt.datetime | None,
    run_id: str,
    params: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The parameters every pipeline notebook gets from an Airflow run.

    run_date = the logical date (YYYY-MM-DD), run_id = the Airflow run id made safe for paths,
    rows and dirty from the DAG run's params, profile from LAB_PROFILE.
    """
    from lab.contract import DEFAULT_ROWS
    from lab.pipeline import notebook_parameters, safe_run_id

    settings = settings or get_settings()
    params = params or {}
    return notebook_parameters(
        run_date_for(logical_date, run_after),
        run_id=safe_run_id(run_id),
        rows=int(params.get("rows", DEFAULT_ROWS)),
        dirty=float(params.get("dirty", 0.0)),
        profile=settings.profile,
    )


# --- artifacts ------------------------------------------------------------------------------


def executed_notebook(run_id: str, notebook: str, settings: Settings | None = None) -> Path:
    """Where a run's executed notebook is saved: `runs/<safe run id>/<notebook>`."""
    from lab.pipeline import safe_run_id

    settings = settings or get_settings()
    return settings.runs_dir / safe_run_id(run_id) / notebook


def keep_artifact(path: Path, key: str, settings: Settings | None = None) -> str:
    """Keep a file of a run where people look for it; return that place.

    On `local` the file already is the artifact (under `runs/` or the GX project). On `stack`
    it is copied to `<artifacts bucket>/<key>` as well, so it outlives the container.
    """
    from lab.profiles import profile_of

    return profile_of(settings).keep_artifact(Path(path), key)


def notebook_link(path: Path, settings: Settings | None = None) -> str:
    """A link that opens an executed notebook: JupyterLab when it lives in the project, else a file URL."""
    settings = settings or get_settings()
    path = Path(path)
    if path.is_relative_to(settings.root):
        base = settings.env.get("JUPYTER_URL") or JUPYTER_URL
        return f"{base.rstrip('/')}/lab/tree/{path.relative_to(settings.root).as_posix()}"
    return path.as_uri()


@dataclass
class NotebookStep:
    """One executed pipeline notebook: where it was saved and kept."""

    step: str
    output: Path
    kept_at: str
    link: str


def run_notebook_step(
    step: str,
    notebook: str,
    parameters: dict[str, Any],
    run_id: str,
    settings: Settings | None = None,
) -> NotebookStep:
    """Execute one pipeline notebook with papermill, keep it, and say where (also when it fails).

    A failing cell raises NotebookStepError naming the notebook and the cell; the executed
    notebook with the traceback is saved (and, on `stack`, copied to the artifacts bucket) first.
    """
    from lab.errors import NotebookStepError
    from lab.observe.metrics import record_failure
    from lab.pipeline import run_notebook, safe_run_id

    settings = settings or get_settings()
    output = executed_notebook(run_id, notebook, settings)
    source = settings.notebooks_dir / notebook
    key = f"runs/{safe_run_id(run_id)}/{notebook}"
    try:
        run_notebook(source, output, parameters=parameters, cwd=settings.notebooks_dir)
    except NotebookStepError as exc:
        record_failure(step, parameters["run_id"], exc)
        raise
    finally:
        if output.exists():
            kept = keep_artifact(output, key, settings)
            log.info("Executed notebook of step %s: %s", step, kept)
    return NotebookStep(step, output, kept, notebook_link(output, settings))


# --- the example DAG's steps ------------------------------------------------------------------


def ensure_buckets(settings: Settings | None = None) -> list[str]:
    """Create the raw and artifacts buckets if missing; return the ones created."""
    from lab import profiles

    return profiles.ensure_buckets(settings)


def dbt_seed(settings: Settings | None = None) -> str:
    """`dbt seed` (raw_customers); raise TransformError naming what failed."""
    from lab import transform

    return str(transform.seed(settings).raise_on_failure())


def dbt_run(select: str = "stg_customers", settings: Settings | None = None) -> str:
    """`dbt run --select <select>` (the stg_customers view); raise TransformError on failure."""
    from lab import transform

    return str(transform.run(select, settings=settings).raise_on_failure())


def validation_results(settings: Settings | None = None) -> set[Path]:
    """The validation result files GX keeps in `gx/uncommitted/validations`."""
    settings = settings or get_settings()
    folder = settings.gx_validations_dir
    return set(folder.rglob("*.json")) if folder.exists() else set()


def validate_customers(run_id: str = "manual", settings: Settings | None = None) -> dict[str, Any]:
    """The Great Expectations checkpoint on raw_customers, loudly.

    GX keeps the validation result in `gx/uncommitted/validations`; it is kept as an artifact
    under `validations/<run id>/` as well (on `stack`, in the artifacts bucket). A failed
    validation logs the failing expectations and raises QualityGateError.
    """
    from lab import quality
    from lab.pipeline import safe_run_id

    settings = settings or get_settings()
    before = validation_results(settings)
    gate = quality.run_gate(suites=[RAW_CUSTOMERS], settings=settings)
    folder = settings.gx_validations_dir
    kept = [
        keep_artifact(p, f"validations/{safe_run_id(run_id)}/{p.relative_to(folder)}", settings)
        for p in sorted(validation_results(settings) - before)
    ]
    log.info("%s; validation results kept at: %s", gate, ", ".join(kept) or "(none written)")
    if not gate.success:
        log.error("Failing expectations:\n%s", gate.failures().to_string(index=False))
    gate.raise_on_failure()
    return {"passed": gate.passed, "failed": gate.failed, "results": kept}
