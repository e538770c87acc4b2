"""Run the numbered lesson notebooks as production steps, with papermill.

Each executed notebook is saved under `runs/<run-id>/`, also when it fails, so the failing
cell and its traceback are one click away.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lab.config import PIPELINE_NOTEBOOKS, Settings, environ, get_settings, shown_path
from lab.contract import (
    DEFAULT_ROWS,
    DEFAULT_RUN_DATE,
    as_date,
)
from lab.errors import ContractError, NotebookStepError, StepLockedError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_run_id(run_id: str) -> str:
    """A run id fit for a path: Airflow's `manual__2026-11-01T00:00:00+00:00` has `:` and `+`."""
    cleaned = _UNSAFE.sub("_", run_id).strip("._")
    if not cleaned:
        raise ContractError(
            f"The run id {run_id!r} has no usable characters. Fix: use letters, digits, '.', "
            "'_' or '-'."
        )
    return cleaned


def new_run_id(run_date: dt.date) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{run_date.isoformat()}_{stamp}"


@dataclass
class NotebookRun:
    step: str
    notebook: str
    output: Path
    seconds: float
    success: bool
    error: str = ""


@dataclass
class PipelineRun:
    run_id: str
    run_date: dt.date
    folder: Path
    notebooks: list[NotebookRun] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return bool(self.notebooks) and all(n.success for n in self.notebooks)


def notebook_parameters(
    run_date, run_id: str, rows: int, dirty: float, profile: str, source_file: str | None = None
) -> dict:
    """A run's parameters; each pipeline notebook gets those its `parameters` cell declares
    (see `declared_parameters`).

    `source_file`: a delivered CSV that lesson 01 lands instead of generating the day's batch
    (lesson 01 alone declares it).
    """
    return {
        "run_date": as_date(run_date).isoformat(),
        "run_id": run_id,
        "rows": int(rows),
        "dirty": float(dirty),
        "profile": profile,
        "source_file": None if source_file is None else str(Path(source_file).resolve()),
    }


QUIET_KERNEL = "--IPKernelApp.log_level=CRITICAL"  # the kernel's startup warnings are noise here


def kernel_args(kernel_name: str = "python3") -> list[str]:
    """Extra arguments that quieten the kernel `kernel_name` resolves to, unless its spec sets a
    log level itself (the sandbox's spec does, once a lesson or JupyterLab put it on
    JUPYTER_PATH): ipykernel refuses a log level given twice, and the kernel dies at start."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv = KernelSpecManager().get_kernel_spec(kernel_name).argv
    except NoSuchKernel:
        argv = []
    return [] if any(a.startswith("--IPKernelApp.log_level=") for a in argv) else [QUIET_KERNEL]


def execute_notebook(
    notebook: Path,
    output: Path,
    parameters: dict,
    cwd: Path,
    env: dict | None = None,
    kernel=None,
) -> None:
    """Run one notebook with papermill; raise NotebookStepError naming the failing cell.

    `kernel` is a started jupyter_client KernelManager to run in (see `shared_kernel`);
    without one, papermill starts and stops a kernel for this notebook alone.
    """

    output.parent.mkdir(parents=True, exist_ok=True)
    with environ(env or {}):
        _papermill(notebook, output, parameters, cwd, kernel)


def declared_parameters(notebook: Path, parameters: dict) -> dict:
    """The `parameters` that the notebook's `parameters` cell declares: papermill injects the
    others too, and warns "Passed unknown parameter" for each."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    return {name: value for name, value in parameters.items() if name in declared}


def _papermill(notebook: Path, output: Path, parameters: dict, cwd: Path, kernel) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=declared_parameters(notebook, parameters),
            cwd=str(cwd),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            extra_arguments=kernel_args(),
            **({"km": kernel} if kernel is not None else {}),
        )
    except PapermillExecutionError as exc:
        cell = _failing_cell(output, exc)
        error = StepLockedError if exc.ename == "WarehouseLockedError" else NotebookStepError
        saved = shown_path(output, get_settings().root)
        raise error(
            f"{notebook.name} failed in cell {cell}: {exc.ename}: {str(exc.evalue).strip().rstrip('.')}. "
            f"The executed notebook with the traceback is saved at {saved}."
        ) from None


@dataclass
class SharedKernel:
    """A started kernel and one client of ours to clear its namespace between notebooks."""

    manager: object
    client: object

    def clear_namespace(self) -> None:
        """Forget the previous notebook's variables (`%reset -f`) and cell numbers; keep modules."""
        self.close_notebook_clients()
        # numbering restarts too, so "failed in cell [n]" matches the executed notebook
        self.client.execute_interactive(
            "%reset -f\nget_ipython().execution_count = 1",
            store_history=False,
            timeout=60,
            output_hook=lambda _msg: None,
        )

    def close_notebook_clients(self) -> None:
        """Close the clients papermill opened: it leaves them running on a kernel it does not own."""
        while self.manager.handed_out:
            self.manager.handed_out.pop().stop_channels()


def _kernel_manager(**kwargs):
    """A KernelManager that remembers the clients it hands out, so they can be closed."""
    from jupyter_client.manager import KernelManager

    class TrackingKernelManager(KernelManager):
        def __init__(self, **kw) -> None:
            super().__init__(**kw)
            self.handed_out = []

        def client(self, **kw):
            client = super().client(**kw)
            self.handed_out.append(client)
            return client

    return TrackingKernelManager(**kwargs)


@contextmanager
def shared_kernel(cwd: Path) -> Iterator[SharedKernel]:
    """One kernel for every notebook of a run, its namespace cleared between notebooks.

    A kernel start and the imports of `lab`, pandas and friends cost about 2 s a notebook;
    sharing them keeps the pipeline close to the cost of the work itself. Modules stay
    imported, variables do not: each notebook still starts from its own parameters cell
    (and CI runs every notebook in a kernel of its own, so none can lean on another's).
    """
    manager = _kernel_manager(kernel_name="python3")
    manager.start_kernel(cwd=str(cwd), extra_arguments=kernel_args())
    kernel = SharedKernel(manager, manager.blocking_client())
    kernel.client.start_channels()
    try:
        yield kernel
    finally:
        kernel.close_notebook_clients()
        kernel.client.stop_channels()
        manager.shutdown_kernel(now=True)


def _failing_cell(output: Path, exc) -> str:
    """`[n]` in the executed notebook's numbering of code cells, with its first line of code."""
    try:
        cells = json.loads(output.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return f"#{exc.cell_index}"
    for cell in cells:
        outputs = cell.get("outputs", [])
        if cell.get("cell_type") == "code" and any(
            o.get("output_type") == "error" for o in outputs
        ):
            first = next((ln for ln in "".join(cell["source"]).splitlines() if ln.strip()), "")
            return f"[{cell.get('execution_count')}] `{first.strip()[:80]}`"
    return f"#{exc.cell_index}"


def run_pipeline(
    run_date: dt.date | str = DEFAULT_RUN_DATE,
    rows: int = DEFAULT_ROWS,
    dirty: float = 0.0,
    run_id: str | None = None,
    steps: list[str] | None = None,
    settings: Settings | None = None,
    on_step: Callable[[NotebookRun], None] | None = None,
    source_file: str | Path | None = None,
) -> PipelineRun:
    """Run notebooks 01-04 in order; stop at the first failure (its notebook is still saved)."""
    settings = settings or get_settings()
    run_date = as_date(run_date)
    run_id = safe_run_id(run_id or new_run_id(run_date))
    folder = settings.runs_dir / run_id
    run = PipelineRun(run_id=run_id, run_date=run_date, folder=folder)
    params = notebook_parameters(run_date, run_id, rows, dirty, settings.profile, source_file)
    chosen = [(s, n) for s, n in PIPELINE_NOTEBOOKS if not steps or s in steps]
    with shared_kernel(settings.notebooks_dir) as kernel:
        _run_steps(run, chosen, params, settings, kernel, on_step)
    return run


def _run_steps(run, chosen, params, settings, kernel, on_step) -> None:
    for index, (step, name) in enumerate(chosen):
        output = run.folder / name
        t0 = time.perf_counter()
        try:
            if index:
                kernel.clear_namespace()
            execute_notebook(
                settings.notebooks_dir / name,
                output,
                params,
                settings.notebooks_dir,
                kernel=kernel.manager,
            )
        except NotebookStepError as exc:
            result = NotebookRun(step, name, output, time.perf_counter() - t0, False, str(exc))
            run.notebooks.append(result)
            record_failure(step, run.run_id, exc)
            if on_step:
                on_step(result)
            break
        result = NotebookRun(step, name, output, time.perf_counter() - t0, True)
        run.notebooks.append(result)
        if on_step:
            on_step(result)


def record_failure(step: str, run_id: str, exc: Exception) -> None:
    """A notebook that died before recording its step still leaves a `failed` row."""
    from lab import metrics

    recorded = metrics.step_runs(run_id)
    if not ((recorded["step"] == step) & (recorded["outcome"] != "running")).any():
        metrics.start(step, run_id).fail(exc)
