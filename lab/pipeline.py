"""Run the numbered lesson notebooks as production steps, with papermill.

Each executed notebook is saved under `runs/<run-id>/`, also when it fails, so the failing
cell and its traceback are one click away.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lab.config import Settings, environ, get_settings, shown_path
from lab.contract import (
    DEFAULT_ROWS,
    DEFAULT_RUN_DATE,
    as_date,
)
from lab.errors import ContractError, NotebookStepError, StepLockedError
from lab.observe import metrics
from lab.steps import STEPS

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
KERNEL_STARTUP_TIMEOUT = 60  # s, nbclient's own default; a start and a first reply took 0.5-0.7 s here, quiet or with both cores busy


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


def run_notebook(
    notebook: Path,
    output: Path | None = None,
    *,
    parameters: dict | None = None,
    cwd: Path | None = None,
    timeout: int = 900,
    allow_errors: bool = False,
    kernel: SharedKernel | None = None,
    env: dict | None = None,
    seconds: dict[int, float] | None = None,
):
    """Run a notebook top to bottom and return it: the one way `lab` executes a notebook.

    - `parameters`: injected after the notebook's `parameters` cell, as papermill does (only
      those the cell declares); the pipeline's steps and the DAGs' tasks pass them.
    - `output`: where the executed notebook is saved, also when a cell fails.
    - `allow_errors`: go on past a failing cell (a grader); else the first failing cell stops
      the run with a NotebookStepError naming it (StepLockedError for a locked warehouse).
    - `kernel`: a started SharedKernel to run in (see `shared_kernel`); else a kernel of its own.
    - `env`: variables set for the kernel's start and the run; `cwd`: default the notebook's folder.
    - `seconds`: receives each code cell's run time by cell index. The returned notebook carries
      no clock times (clean diffs).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    if parameters:
        nb = _parameterized(nb, declared_parameters(notebook, parameters))
    failed = None
    try:
        with environ(env or {}):  # before kernel_args(): `env` may choose the kernel spec
            NotebookClient(
                nb,
                timeout=timeout,
                kernel_name="python3",
                allow_errors=allow_errors,
                record_timing=seconds is not None,
                extra_arguments=kernel_args(),
                resources={"metadata": {"path": str(cwd or notebook.parent)}},
                **({"km": kernel.manager} if kernel is not None else {}),
            ).execute()
    except CellExecutionError as exc:
        failed = exc
    finally:
        for index, cell in enumerate(nb.cells):
            times = cell.metadata.pop("execution", None)
            if seconds is not None and times and cell.cell_type == "code":
                seconds[index] = _seconds(times)
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, output)
    if failed is not None:
        error = StepLockedError if failed.ename == "WarehouseLockedError" else NotebookStepError
        where = (
            f" The executed notebook with the traceback is saved at "
            f"{shown_path(output, get_settings().root)}."
            if output is not None
            else ""
        )
        raise error(
            f"{notebook.name} failed in cell {_failing_cell(nb)}: {failed.ename}: "
            f"{str(failed.evalue).strip().rstrip('.')}.{where}"
        ) from None
    return nb


def has_errors(nb) -> bool:
    """Whether an executed notebook holds an error output."""
    return any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


def _parameterized(nb, parameters: dict):
    """The notebook with its parameters injected after its `parameters` cell (papermill's way:
    a cell tagged `injected-parameters`, which replaces an earlier one)."""
    from papermill.parameterize import parameterize_notebook

    nb.metadata.setdefault("papermill", {})
    untagged = [cell for cell in nb.cells if "tags" not in cell.metadata]
    for cell in untagged:  # papermill reads every cell's tags
        cell.metadata["tags"] = []
    nb = parameterize_notebook(nb, parameters, kernel_name="python3", language="python")
    for cell in nb.cells:
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
    return nb


def _seconds(times: dict) -> float:
    start = dt.datetime.fromisoformat(times["iopub.execute_input"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(times["shell.execute_reply"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def declared_parameters(notebook: Path, parameters: dict) -> dict:
    """The `parameters` that the notebook's `parameters` cell declares: papermill injects the
    others too, and warns "Passed unknown parameter" for each."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    return {name: value for name, value in parameters.items() if name in declared}


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
        # Until the kernel answers and our IOPub subscription hears it, a request can lose its
        # output and wait out its whole timeout; a kernel that dies at start is named here.
        kernel.client.wait_for_ready(timeout=KERNEL_STARTUP_TIMEOUT)
        yield kernel
    finally:
        kernel.close_notebook_clients()
        kernel.client.stop_channels()
        manager.shutdown_kernel(now=True)


def _failing_cell(nb) -> str:
    """`[n]` in the executed notebook's numbering of code cells, with its first line of code."""
    for cell in nb.cells:
        if cell.cell_type == "code" and any(
            o.get("output_type") == "error" for o in cell.get("outputs", [])
        ):
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            return f"[{cell.get('execution_count')}] `{first.strip()[:80]}`"
    return "(unknown)"


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
    chosen = [(s.name, s.notebook) for s in STEPS if not steps or s.name in steps]
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
            run_notebook(
                settings.notebooks_dir / name,
                output,
                parameters=params,
                cwd=settings.notebooks_dir,
                kernel=kernel,
            )
        except NotebookStepError as exc:
            result = NotebookRun(step, name, output, time.perf_counter() - t0, False, str(exc))
            run.notebooks.append(result)
            metrics.record_failure(step, run.run_id, exc)
            if on_step:
                on_step(result)
            break
        result = NotebookRun(step, name, output, time.perf_counter() - t0, True)
        run.notebooks.append(result)
        if on_step:
            on_step(result)
