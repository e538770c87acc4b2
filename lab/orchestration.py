"""What the Airflow DAGs in `dags/` call, and the settings of a local Airflow (`make airflow`).

The DAG files stay thin: they turn Airflow's run context into plain values and call the
functions here, which call the rest of `lab`. This module never imports airflow (`lab` is
used without it in notebooks and tests); it starts Airflow's command line as a process and
talks to a running Airflow through its REST API.

- run parameters: `run_date_for`, `step_parameters` (what every pipeline notebook receives)
- artifacts: `executed_notebook`, `keep_artifact`, `notebook_link`, `run_notebook_step`
- the example DAG's steps: `ensure_buckets`, `dbt_seed`, `dbt_run`, `validate_customers`
- a local Airflow: `airflow_env`, `prepare_airflow_home`, `standalone` (`python -m lab.orchestration`),
  `airflow_url`
- a client for the REST API v2: `AirflowClient`
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.config import PIPELINE_NOTEBOOKS, RAW_CUSTOMERS, Settings, get_settings

# Only light imports here: the DAG files import this module when Airflow parses them.
from lab.profiles import Local, Stack, profile_of

log = logging.getLogger(__name__)

# The Airflow pool that serialises every task touching the DuckDB file on `local`
# (one writer process at a time; a reader is refused while a writer holds the file).
DUCKDB_POOL = Local.airflow_pool
DUCKDB_POOL_DESCRIPTION = "One task at a time on the local DuckDB warehouse (one writer process)"
DEFAULT_POOL = Stack.airflow_pool

# Errors that mean "the data or the code is wrong": running the task again gives the same
# result, so the DAGs fail them at once instead of retrying (dotted paths, resolved by Airflow).
# A locked DuckDB file is the exception: another process will let go of it.
RETRY_ERRORS = ("lab.errors.WarehouseLockedError",)
NO_RETRY_ERRORS = (
    "lab.errors.LabError",
    "papermill.exceptions.PapermillExecutionError",
)

# The local Airflow of `make airflow`: one login, printed when it starts.
AIRFLOW_USER = "admin"
AIRFLOW_PASSWORD = "admin"
AIRFLOW_PORT = 8080  # default of the AIRFLOW_PORT setting (lab.config)
AIRFLOW_PARALLELISM = 4  # task slots; every notebook task starts a kernel (2 cores here)
JUPYTER_URL = "http://127.0.0.1:8888"


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


def pool_for(settings: Settings | None = None) -> str:
    """The pool of tasks that use the warehouse: one slot on `local` (DuckDB), else the default."""
    return profile_of(settings).airflow_pool


def pipeline_tasks(settings: Settings | None = None) -> list[dict[str, str]]:
    """The notebook pipeline's tasks in lesson order: task id, notebook and pool."""
    pool = pool_for(settings)
    return [
        {"task_id": step, "notebook": notebook, "pool": pool}
        for step, notebook in PIPELINE_NOTEBOOKS
    ]


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
    from lab.pipeline import execute_notebook, record_failure, safe_run_id

    settings = settings or get_settings()
    output = executed_notebook(run_id, notebook, settings)
    source = settings.notebooks_dir / notebook
    key = f"runs/{safe_run_id(run_id)}/{notebook}"
    try:
        execute_notebook(source, output, parameters, cwd=settings.notebooks_dir)
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
    from lab import lake

    return lake.ensure_buckets(settings)


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


# --- the DAG files, as a lesson shows them (parsed, not imported) -----------------------------


def dag_files(settings: Settings | None = None) -> list[dict[str, str]]:
    """Every DAG file in `dags/`: its dag id, schedule, tags and the first line of its docs.

    The files are parsed with `ast`, not imported, so this works without Airflow running
    (and without importing it).
    """
    settings = settings or get_settings()
    rows = []
    for path in sorted((settings.root / "dags").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            decorator = next(
                (d for d in node.decorator_list if _decorator_name(d) == "dag"),
                None,
            )
            if decorator is None:
                continue
            kwargs = {
                k.arg: k.value for k in getattr(decorator, "keywords", []) if k.arg is not None
            }
            doc = (ast.get_docstring(node) or "").strip().splitlines()
            rows.append(
                {
                    "file": path.relative_to(settings.root).as_posix(),
                    "dag_id": node.name,
                    "schedule": _literal(kwargs.get("schedule")),
                    "tags": ", ".join(_literal_list(kwargs.get("tags"))),
                    "about": doc[0].lstrip("# ").strip() if doc else "",
                }
            )
    return rows


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _literal(node: ast.expr | None) -> str:
    if node is None:
        return ""
    try:
        return str(ast.literal_eval(node))
    except ValueError:
        return ast.unparse(node)


def _literal_list(node: ast.expr | None) -> list[str]:
    try:
        return [str(v) for v in ast.literal_eval(node)] if node is not None else []
    except ValueError:
        return [ast.unparse(node)]


# --- a local Airflow --------------------------------------------------------------------------


def airflow_home(settings: Settings | None = None) -> Path:
    """AIRFLOW_HOME of `make airflow`: under the sandbox state (`.state/airflow`)."""
    settings = settings or get_settings()
    return settings.home / "airflow"


# Warnings from inside Airflow and its web stack that say nothing to a learner (-W syntax).
AIRFLOW_NOISE = (
    "ignore:Using `httpx` with `starlette.testclient` is deprecated",
    "ignore:Could not import graphviz",
)


def airflow_env(
    home: Path,
    *,
    settings: Settings | None = None,
    port: int | None = None,
    executor: str = "LocalExecutor",
    sql_alchemy_conn: str | None = None,
    parallelism: int = AIRFLOW_PARALLELISM,
) -> dict[str, str]:
    """The environment of a local Airflow: metadata under `home`, `dags/` of this project.

    SQLite metadata unless `sql_alchemy_conn` says otherwise, no example DAGs, few task slots
    and one API worker (sized for 2 cores), the API on 127.0.0.1 only, and the simple auth
    manager with one user whose password is in `home` (see `prepare_airflow_home`).
    """
    settings = settings or get_settings()
    port = port or settings.airflow_port
    home = Path(home)
    venv_bin = str(Path(sys.executable).parent)  # `airflow standalone` starts `airflow ...`
    env = {
        "AIRFLOW_HOME": str(home),
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AIRFLOW_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
        # Noise from inside Airflow, silenced where it arises: its log servers start uvicorn
        # without `factory=True` ("ASGI app factory detected" on every start; uvicorn's errors
        # still show), and its API imports fastapi.testclient, which warns that httpx should
        # become httpx2; `airflow dags test` warns that graphviz (for `dags show`) is missing.
        # (With PYTHONWARNINGS set, Airflow adds no warning filters of its own.)
        "AIRFLOW__LOGGING__UVICORN_LOGGING_LEVEL": "ERROR",
        "PYTHONWARNINGS": ",".join(AIRFLOW_NOISE),
    }
    if sql_alchemy_conn:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = sql_alchemy_conn
    secret = home / "jwt_secret"
    if secret.exists():  # every process must sign and check task tokens with the same key
        env["AIRFLOW__API_AUTH__JWT_SECRET"] = secret.read_text().strip()
    return env


def prepare_airflow_home(home: Path, password: str = AIRFLOW_PASSWORD) -> Path:
    """Create AIRFLOW_HOME with a known password for the admin user (the simple auth manager
    generates a random one otherwise) and a JWT signing key of 64 bytes (Airflow's generated
    one is 16 and warns on every request); return the passwords file."""
    import secrets

    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    files = {
        home / "passwords.json": json.dumps({AIRFLOW_USER: password}) + "\n",
        home / "jwt_secret": secrets.token_hex(32) + "\n",
    }
    for path, text in files.items():
        if not path.exists():
            path.write_text(text)
            path.chmod(0o600)
    return home / "passwords.json"


def airflow_command(*args: str, env: dict[str, str], check: bool = True, timeout: float = 300):
    """Run `airflow <args>` of this environment with `env` added; raise with its output on failure."""
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    result = subprocess.run(
        [airflow, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"`airflow {' '.join(args)}` failed with exit code {result.returncode}:\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result


def setup_metadata(env: dict[str, str]) -> None:
    """Migrate the metadata database and create the DuckDB pool (both safe to repeat)."""
    airflow_command("db", "migrate", env=env)
    airflow_command("pools", "set", DUCKDB_POOL, "1", DUCKDB_POOL_DESCRIPTION, env=env)


# The components `make airflow` runs, as `airflow <args>`. Their log servers stay off: Airflow
# 3.3 binds them to every interface with no setting for the address, and on one machine the
# API server reads task logs from AIRFLOW_HOME/logs itself.
LOCAL_COMPONENTS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer", "--skip-serve-logs"),
}
STOP_TIMEOUT = 8.0  # seconds a component gets to stop after SIGTERM before it is killed


def airflow_url(settings: Settings | None = None) -> str:
    """The address of `make airflow`'s API and UI: 127.0.0.1 and AIRFLOW_PORT (default 8080)."""
    settings = settings or get_settings()
    return f"http://127.0.0.1:{settings.airflow_port}"


def start_components(env: dict[str, str], home: Path) -> dict[str, subprocess.Popen]:
    """Start every local component, each in a session of its own: a terminal's Ctrl-C reaches
    only the launcher, which then stops them all (`stop_components`)."""
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    processes = {}
    for name, args in LOCAL_COMPONENTS.items():
        processes[name] = subprocess.Popen(
            [airflow, *args],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=home,
        )
    return processes


def stop_components(
    processes: dict[str, subprocess.Popen], home: Path, timeout: float = STOP_TIMEOUT
) -> list[str]:
    """SIGTERM every component's process group, SIGKILL what is left after `timeout`, then
    every process still carrying this AIRFLOW_HOME (a notebook kernel in a session of its own).
    Returns what had to be killed."""
    import signal

    killed = []
    for process in processes.values():
        _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for name, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            killed.append(name)
        _signal_group(process.pid, signal.SIGKILL)  # the group's other members, too
        process.wait()
    return killed + _kill_leftovers(home)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_leftovers(home: Path) -> list[str]:
    import psutil

    leftovers = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if proc.pid != os.getpid() and proc.environ().get("AIRFLOW_HOME") == str(home):
                proc.kill()
                leftovers.append(f"{proc.info['name']} ({proc.pid})")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return leftovers


def standalone(port: int | None = None) -> int:
    """`make airflow`: Airflow's components on the `local` profile with a predictable login,
    on 127.0.0.1 only; Ctrl-C (or SIGTERM) stops every one of them within seconds."""
    import signal

    settings = get_settings()
    port = port or settings.airflow_port
    home = airflow_home(settings)
    prepare_airflow_home(home)
    env = airflow_env(home, settings=settings, port=port)
    print(f"Airflow home: {home} (SQLite metadata, DAGs from {settings.root / 'dags'})", flush=True)
    print("Migrating the metadata database and creating the pool ...", flush=True)
    setup_metadata(env)
    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = start_components(env, home)
    print(
        f"\n  Airflow UI and API: http://127.0.0.1:{port}  (AIRFLOW_PORT={port})\n"
        f"  Login: {AIRFLOW_USER} / {json.loads((home / 'passwords.json').read_text())[AIRFLOW_USER]}\n"
        "  DAGs start paused: switch one on, or press the trigger button. Ctrl-C stops Airflow.\n",
        flush=True,
    )
    try:
        while not stopping:
            exited = {n: p.returncode for n, p in processes.items() if p.poll() is not None}
            if exited:
                print(f"Airflow's {', '.join(exited)} exited ({exited}); stopping the rest.")
                stop_components(processes, home)
                return 1
            time.sleep(0.5)
        print("Stopping Airflow ...", flush=True)
        killed = stop_components(processes, home)
        print(f"Airflow stopped{' (killed: ' + ', '.join(killed) + ')' if killed else ''}.")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- the REST API v2 ------------------------------------------------------------------------


class AirflowClient:
    """A small client for Airflow's REST API v2, as a script outside Airflow would use it.

    It gets a JWT from `/auth/token` with a user's name and password, then sends it as a
    bearer token.
    """

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self._token: str | None = None

    def _request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise RuntimeError(f"{method} {path} answered {exc.code}: {detail}") from None
        return json.loads(payload) if payload else None

    def token(self) -> str:
        """A JWT for the user (POST /auth/token), fetched once."""
        if self._token is None:
            answer = self._request(
                "POST",
                "/auth/token",
                {"username": self.username, "password": self.password},
                auth=False,
            )
            self._token = answer["access_token"]
        return self._token

    def health(self) -> dict:
        return self._request("GET", "/api/v2/monitor/health", auth=False)

    def dag(self, dag_id: str) -> dict:
        return self._request("GET", f"/api/v2/dags/{dag_id}")

    def unpause(self, dag_id: str) -> dict:
        return self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(
        self,
        dag_id: str,
        logical_date: dt.datetime | None = None,
        conf: dict | None = None,
        run_id: str | None = None,
    ) -> dict:
        """POST a new DAG run; `logical_date` None makes a run without one (Airflow 3)."""
        body: dict[str, Any] = {
            "logical_date": logical_date.isoformat() if logical_date else None,
            "conf": conf or {},
        }
        if run_id:
            body["dag_run_id"] = run_id
        return self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def runs(self, dag_id: str) -> list[dict]:
        """Every run of a DAG (the newest 100)."""
        answer = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")
        return answer["dag_runs"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        answer = self._request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances"
        )
        return answer["task_instances"]

    def links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
        """A task instance's extra links, by name (e.g. "Executed notebook")."""
        answer = self._request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}/links",
        )
        return answer["extra_links"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 300, poll: float = 2) -> dict:
        """Poll a DAG run until it finishes (success or failed); raise TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.dag_run(dag_id, run_id)
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"DAG run {dag_id}/{run_id} is still {run['state']!r} after {timeout:.0f} s"
                )
            time.sleep(poll)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - a thin command line
    """`standalone [--port N]`: `make airflow`. `airflow <args>`: the airflow command line with
    the same settings, e.g. `python -m lab.orchestration airflow dags test notebook_pipeline 2026-11-05`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lab.orchestration")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("standalone", help="Airflow on the local profile (make airflow)")
    run.add_argument("--port", type=int, default=None, help="default: AIRFLOW_PORT, else 8080")
    cli = sub.add_parser("airflow", help="the airflow command line of `make airflow`")
    cli.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "standalone":
        return standalone(port=args.port)
    settings = get_settings()
    home = airflow_home(settings)
    prepare_airflow_home(home)
    env = airflow_env(home, settings=settings)
    if not (home / "airflow.db").exists():
        setup_metadata(env)
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    return subprocess.call([airflow, *args.args], env={**os.environ, **env})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
