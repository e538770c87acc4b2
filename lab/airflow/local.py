"""Airflow on this machine: `make airflow` (`lab airflow start`) and `lab airflow cli ...`.

The `local` profile's Airflow: SQLite metadata under the sandbox state, this project's `dags/`,
every component on 127.0.0.1, a known login (admin / admin) and few task slots (2 cores).
Airflow's command line runs as processes; this module never imports airflow.

- settings: `airflow_home`, `airflow_env`, `prepare_airflow_home`, `airflow_url`
- the metadata database and the warehouse pool: `setup_metadata`
- the components: `LOCAL_COMPONENTS`, `start_components`, `stop_components`, `standalone`
- Airflow's own command line with these settings: `airflow_command`, `run_cli`
- past dates run again by the scheduler: `backfill` (`airflow backfill create`), `backfill_args`
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.airflow.pool import pool_args
from lab.config import Settings, get_settings
from lab.errors import AirflowError
from lab.profiles import Profile, profile_of

# The local Airflow of `make airflow`: one login, printed when it starts.
AIRFLOW_USER = "admin"
AIRFLOW_PASSWORD = "admin"
AIRFLOW_PARALLELISM = 4  # task slots; every notebook task starts a kernel (2 cores here)


def _airflow() -> str:
    """The `airflow` executable of this environment (next to this Python)."""
    return shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"


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
    result = subprocess.run(
        [_airflow(), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AirflowError(
            f"`airflow {' '.join(args)}` failed with exit code {result.returncode}:\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result


def setup_metadata(env: dict[str, str], profile: Profile | None = None) -> None:
    """Migrate the metadata database and create the warehouse pool, sized by the profile (the
    active one unless given; one slot on `local`); both safe to repeat."""
    for args in metadata_commands(profile or profile_of()):
        airflow_command(*args, env=env)


def metadata_commands(profile: Profile) -> list[tuple[str, ...]]:
    """The `airflow` commands that prepare a metadata database for the sandbox's DAGs."""
    return [("db", "migrate"), pool_args(profile)]


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
    processes = {}
    for name, args in LOCAL_COMPONENTS.items():
        processes[name] = subprocess.Popen(
            [_airflow(), *args],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=home,
        )
    return processes


def stop_components(
    processes: dict[str, subprocess.Popen],
    home: Path,
    timeout: float = STOP_TIMEOUT,
    on_stuck: Callable[[str, subprocess.Popen], None] | None = None,
) -> list[str]:
    """SIGTERM every component's process group, SIGKILL what is left after `timeout`, then
    every process still carrying this AIRFLOW_HOME (a notebook kernel in a session of its own).
    Returns what had to be killed.

    `on_stuck(name, process)` is called for a component still running after `timeout`, before
    it is killed: the moment to record what it was waiting for.
    """
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
            if on_stuck is not None:
                on_stuck(name, process)
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
    setup_metadata(env, profile_of(settings))
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


def run_cli(args: list[str]) -> int:
    """`airflow <args>` with the settings of `make airflow` (metadata prepared on first use);
    returns its exit code. `lab airflow cli dags test notebook_pipeline 2026-11-05`."""
    settings = get_settings()
    home = airflow_home(settings)
    prepare_airflow_home(home)
    env = airflow_env(home, settings=settings)
    if not (home / "airflow.db").exists():
        setup_metadata(env, profile_of(settings))
    return subprocess.call([_airflow(), *args], env={**os.environ, **env})


# --- backfill: past dates, run by the scheduler ------------------------------------------------

REPROCESS_BEHAVIORS = ("none", "failed", "completed")


def backfill_args(
    dag_id: str,
    start: dt.date | str,
    end: dt.date | str,
    *,
    conf: dict[str, Any] | None = None,
    reprocess: str = "none",
    max_active_runs: int = 1,
    dry_run: bool = False,
) -> list[str]:
    """`airflow backfill create` for the days `start` to `end` (both included).

    `reprocess`: what a date that already has a finished run gets: `none` (nothing), `failed`
    (a failed run is run again), `completed` (every finished run is run again: cleared and
    queued under its own run id). Always passed, so that the dry run (which takes `none` when
    the flag is missing) and the backfill decide alike. `max_active_runs`: runs of this
    backfill at once (1: one date after another, in date order).
    """
    from lab.contract import as_date

    if reprocess not in REPROCESS_BEHAVIORS:
        raise AirflowError(
            f"reprocess={reprocess!r} is not a reprocess behavior. Fix: use one of "
            f"{', '.join(REPROCESS_BEHAVIORS)}."
        )
    first, last = as_date(start), as_date(end)
    if first > last:
        raise AirflowError(
            f"The backfill starts on {first}, after its end {last}. Fix: swap the dates."
        )
    args = [
        "backfill",
        "create",
        "--dag-id",
        dag_id,
        "--from-date",
        first.isoformat(),
        "--to-date",
        last.isoformat(),
        "--reprocess-behavior",
        reprocess,
        "--max-active-runs",
        str(int(max_active_runs)),
    ]
    if conf:
        args += ["--dag-run-conf", json.dumps(conf)]
    if dry_run:
        args.append("--dry-run")
    return args


# A row of the dry run's table of runs: `| 2026-11-02 00:00:00+00:00 | ... |`
_DRY_RUN_ROW = re.compile(r"^\|\s*(\d{4}-\d{2}-\d{2})[ T]\d{2}:\d{2}")


@dataclass
class BackfillStarted:
    """What `backfill` queued: the DAG, the range asked for and the days that got a run."""

    dag_id: str
    start: dt.date
    end: dt.date
    dates: list[dt.date] = field(default_factory=list)
    reprocess: str = "none"

    def __str__(self) -> str:
        if not self.dates:
            return (
                f"No run queued for {self.dag_id}: every day from {self.start} to {self.end} "
                f"already has a run (reprocess={self.reprocess!r}). Fix: "
                "reprocess='completed' runs them again."
            )
        days = ", ".join(d.isoformat() for d in self.dates)
        return (
            f"Backfill of {self.dag_id} queued {len(self.dates)} run(s): {days}. The scheduler of "
            "`make airflow` runs them while the DAG is switched on (the toggle in the UI, or "
            f'make airflow-cli ARGS="dags unpause {self.dag_id}"); the Runs tab shows them.'
        )


def backfill(
    dag_id: str,
    start: dt.date | str,
    end: dt.date | str,
    *,
    conf: dict[str, Any] | None = None,
    reprocess: str = "none",
    max_active_runs: int = 1,
    settings: Settings | None = None,
    env: dict[str, str] | None = None,
    say: Callable[[str], None] = print,
) -> BackfillStarted:
    """Queue one run a day from `start` to `end` (both included) for the scheduler of
    `make airflow`: `airflow backfill create` with its settings. Says which days got a run.

    Each run's logical date is its day, which the notebook pipeline processes. `conf` is the
    runs' params (`{"rows": 200}`); `reprocess` and `max_active_runs` as in `backfill_args`.
    Airflow must have parsed the DAG once (`make airflow` running, or started before).
    `env`: another Airflow's settings (another metadata database), instead of `make airflow`'s.
    """
    from lab.contract import as_date

    settings = settings or get_settings()
    if env is None:
        home = airflow_home(settings)
        prepare_airflow_home(home)
        env = airflow_env(home, settings=settings)
        if not (home / "airflow.db").exists():
            setup_metadata(env, profile_of(settings))
    options = {"conf": conf, "reprocess": reprocess, "max_active_runs": max_active_runs}
    plan = airflow_command(
        *backfill_args(dag_id, start, end, dry_run=True, **options), env=env, check=False
    )
    if plan.returncode != 0:
        said = plan.stdout[-2000:] + plan.stderr[-2000:]
        if "Could not find" in said:
            raise AirflowError(
                f"Airflow does not know the DAG {dag_id!r} yet. Fix: start Airflow (make airflow) "
                f"and wait until the UI lists {dag_id}, then run the backfill again."
            )
        raise AirflowError(f"`airflow backfill create --dry-run` failed:\n{said}")
    dates = sorted(
        {
            dt.date.fromisoformat(m[1])
            for m in map(_DRY_RUN_ROW.match, plan.stdout.splitlines())
            if m
        }
    )
    if dates:
        done = airflow_command(*backfill_args(dag_id, start, end, **options), env=env, check=False)
        said = done.stdout[-3000:] + done.stderr[-3000:]
        if done.returncode != 0 and "AlreadyRunningBackfill" in said:
            raise AirflowError(
                f"A backfill of {dag_id} is still running, and Airflow runs one a DAG at a time "
                "(its scheduler marks a backfill done up to 30 s after its last run). Fix: wait "
                "until its runs have finished, then run this one again."
            )
        if done.returncode != 0 and "database is locked" in said:
            raise AirflowError(
                "Airflow's SQLite metadata database was busy (the scheduler writes it often), "
                f"so no backfill of {dag_id} was queued. Fix: run the backfill again; if it says "
                "a backfill is still running, wait 2 minutes for the scheduler to drop the empty one."
            )
        if done.returncode != 0:
            raise AirflowError(f"`airflow backfill create` failed:\n{said}")
    started = BackfillStarted(dag_id, as_date(start), as_date(end), dates, reprocess)
    say(str(started))
    return started
