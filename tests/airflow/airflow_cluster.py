"""A real Airflow for the tests: api-server, scheduler, dag-processor (and Celery workers) as
processes on 127.0.0.1, PostgreSQL metadata, the sandbox's DAGs.

Every process starts in a process group of its own and is stopped with its whole group;
`stop()` then looks for any process still carrying this Airflow's AIRFLOW_HOME and reports it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from lab.airflow.api import AirflowClient
from lab.airflow.local import AIRFLOW_PASSWORD, AIRFLOW_USER, airflow_env
from lab.errors import AirflowError
from tests.helpers import free_port

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
TEST_DAGS = HERE / "dags"
STOP_TIMEOUT = 30


def dags_folder(base: Path) -> Path:
    """A DAG folder with the sandbox's DAGs and the test DAGs (copies, so parsing sees files)."""
    folder = base / "dags"
    folder.mkdir(parents=True, exist_ok=True)
    for source in [*sorted((REPO_ROOT / "dags").glob("*.py")), *sorted(TEST_DAGS.glob("*.py"))]:
        shutil.copy2(source, folder / source.name)
    return folder


def cluster_env(
    home: Path, sql_alchemy_conn: str, executor: str, port: int, extra: dict | None = None
) -> dict[str, str]:
    """The environment shared by every process of one test Airflow."""
    env = airflow_env(home, port=port, executor=executor, sql_alchemy_conn=sql_alchemy_conn)
    env.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder(home)),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # Only the runs a test triggers: no scheduled run when a DAG is unpaused.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # No test edits a DAG file while its Airflow runs: parse each file once, not every
            # 30 s (`make airflow`'s interval): the dag-processor used 9.9 CPU-s in the 4.5-min
            # LocalExecutor module with it, 6.9 s without.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class AirflowCluster:
    """Airflow processes sharing one AIRFLOW_HOME and metadata database."""

    home: Path
    env: dict[str, str]
    port: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> AirflowClient:
        return AirflowClient(self.url, AIRFLOW_USER, AIRFLOW_PASSWORD)

    def start(self, name: str, *args: str, extra_env: dict | None = None) -> subprocess.Popen:
        """Start `airflow <args>` in a process group of its own, output to logs/<name>.log."""
        log_dir = self.home / "process-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        airflow = str(Path(self.env["PATH"].split(os.pathsep)[0]) / "airflow")
        with open(log_dir / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [airflow, *args],
                env={**os.environ, **self.env, **(extra_env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.home,
            )
        self.processes[name] = process
        return process

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.home / "process-logs" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def logs(self) -> str:
        return "\n".join(f"--- {n} ---\n{self.log_tail(n, 1500)}" for n in self.processes)

    def check_alive(self) -> None:
        """Raise, with the logs' tails, if any of the processes has exited."""
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow processes exited early: {dead}\n{self.logs()}")

    def wait_until_ready(self, components: tuple[str, ...], dag_ids: tuple[str, ...], timeout=180):
        """Wait for the API, the components' heartbeats and the DAGs to be parsed."""
        deadline = time.monotonic() + timeout
        client = self.client()
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                health = client.health()
                unhealthy = [
                    c for c in components if (health.get(c) or {}).get("status") != "healthy"
                ]
                if not unhealthy:
                    for dag_id in dag_ids:
                        client.dag(dag_id)
                    return client
                last = f"not healthy yet: {unhealthy}"
            except (OSError, AirflowError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise TimeoutError(f"Airflow was not ready after {timeout} s ({last})\n{self.logs()}")

    def wait_for_log(self, names: tuple[str, ...], text: str, timeout: float = 120) -> None:
        """Wait until each named process has written `text` to its log (e.g. Celery's "ready.")."""
        deadline = time.monotonic() + timeout
        while True:
            missing = [n for n in names if text not in self.log_tail(n, 10**6)]
            if not missing:
                return
            dead = {
                n: self.processes[n].returncode
                for n in names
                if self.processes[n].poll() is not None
            }
            if dead or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{missing} did not log {text!r} (exited: {dead})\n{self.logs()}"
                )
            time.sleep(0.5)

    def stop(self) -> list[str]:
        """Stop every process group (TERM, then KILL); return leftovers that had to be killed."""
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        return _kill_leftovers(self.home)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _kill_leftovers(home: Path) -> list[str]:
    """Processes still running with this AIRFLOW_HOME (e.g. a kernel in its own session)."""
    import psutil

    time.sleep(0.5)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get("AIRFLOW_HOME") == str(home):
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])[:120]}")
                proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def http_status(url: str, method: str = "GET", headers: dict | None = None) -> int:
    """The HTTP status of a request (for checks that must be refused)."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
