"""lab.orchestration: what the DAGs compute from a run, where artifacts go, the local Airflow's settings."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from lab import orchestration
from lab.config import get_settings


def test_run_date_is_the_logical_date_in_utc():
    evening = dt.datetime(2026, 11, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    assert orchestration.run_date_for(evening) == dt.date(2026, 11, 6)
    assert orchestration.run_date_for(dt.datetime(2026, 11, 5, tzinfo=dt.UTC)) == dt.date(
        2026, 11, 5
    )


def test_manual_run_without_logical_date_processes_the_day_it_was_triggered_for():
    triggered = dt.datetime(2026, 11, 7, 9, 30, tzinfo=dt.UTC)
    assert orchestration.run_date_for(None, triggered) == dt.date(2026, 11, 7)
    assert orchestration.run_date_for(None, None) == dt.datetime.now(dt.UTC).date()


def test_step_parameters_come_from_the_run_with_defaults_for_missing_params():
    params = orchestration.step_parameters(
        logical_date=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
        run_after=None,
        run_id="scheduled__2026-11-02T00:00:00+00:00",
        params={"dirty": 0.2},
    )
    assert params == {
        "run_date": "2026-11-02",
        "run_id": "scheduled__2026-11-02T00_00_00_00_00",
        "rows": 500,
        "dirty": 0.2,
        "profile": "local",
        "source_file": None,
    }


def test_pool_is_the_one_slot_duckdb_pool_only_on_local(monkeypatch):
    assert orchestration.pool_for() == "duckdb_writer"
    monkeypatch.setenv("LAB_PROFILE", "stack")
    assert orchestration.pool_for() == "default_pool"
    assert {t["pool"] for t in orchestration.pipeline_tasks()} == {"default_pool"}


def test_executed_notebooks_go_to_a_safe_folder_under_runs():
    path = orchestration.executed_notebook("manual__2026-11-02T00:00:00+00:00", "02_dbt.ipynb")
    assert path == get_settings().runs_dir / "manual__2026-11-02T00_00_00_00_00" / "02_dbt.ipynb"


def test_notebook_link_opens_jupyterlab_for_project_files_and_a_file_url_otherwise(monkeypatch):
    settings = get_settings()
    inside = settings.root / "runs" / "r1" / "01_ingestion.ipynb"
    assert orchestration.notebook_link(inside) == (
        "http://127.0.0.1:8888/lab/tree/runs/r1/01_ingestion.ipynb"
    )
    outside = Path("/tmp/elsewhere/01_ingestion.ipynb")
    assert orchestration.notebook_link(outside) == "file:///tmp/elsewhere/01_ingestion.ipynb"


def test_keep_artifact_leaves_local_files_in_place(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("{}")
    assert orchestration.keep_artifact(path, "validations/x/result.json") == str(path)


def test_keep_artifact_copies_to_the_artifacts_bucket_on_stack(stack_lake, tmp_path):
    path = tmp_path / "03_great_expectations.ipynb"
    path.write_text('{"cells": []}')
    kept = orchestration.keep_artifact(path, "runs/r1/03_great_expectations.ipynb")
    assert kept == "s3://artifacts/runs/r1/03_great_expectations.ipynb"
    from lab.lake import get_lake

    assert (
        get_lake().read_bytes("artifacts/runs/r1/03_great_expectations.ipynb") == path.read_bytes()
    )


def test_dag_files_are_listed_from_their_source_without_importing_airflow():
    rows = {r["dag_id"]: r for r in orchestration.dag_files()}
    assert set(rows) >= {"example_dag", "notebook_pipeline"}, rows
    assert rows["notebook_pipeline"]["file"] == "dags/notebook_pipeline.py"
    assert rows["notebook_pipeline"]["schedule"] == "@daily"
    assert "papermill" in rows["notebook_pipeline"]["tags"]


def test_local_airflow_settings_bind_to_localhost_and_use_this_projects_dags(tmp_path):
    orchestration.prepare_airflow_home(tmp_path)
    env = orchestration.airflow_env(tmp_path, port=18080)
    assert env["AIRFLOW_HOME"] == str(tmp_path)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(get_settings().root / "dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) <= 4
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) == 64
    passwords = json.loads((tmp_path / "passwords.json").read_text())
    assert passwords == {"admin": "admin"}, "make airflow prints admin/admin as the login"


def test_rest_client_reports_what_the_server_answered(free_port):
    import http.server
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b'{"detail": "Invalid credentials"}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", free_port), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = orchestration.AirflowClient(f"http://127.0.0.1:{free_port}", "admin", "wrong")
        with pytest.raises(
            RuntimeError, match=r"POST /auth/token answered 401: .*Invalid credentials"
        ):
            client.dag("example_dag")
    finally:
        server.shutdown()
        server.server_close()


# --- make airflow: the local launcher ---------------------------------------------------------


def test_airflow_port_comes_from_the_environment_with_8080_by_default(monkeypatch):
    monkeypatch.delenv("AIRFLOW_PORT", raising=False)
    assert (get_settings().airflow_port, orchestration.airflow_url()) == (
        8080,
        "http://127.0.0.1:8080",
    )
    monkeypatch.setenv("AIRFLOW_PORT", "8090")
    assert orchestration.airflow_url() == "http://127.0.0.1:8090"
    env = orchestration.airflow_env(Path("/tmp/unused-airflow-home"))
    assert env["AIRFLOW__API__PORT"] == "8090", env["AIRFLOW__API__PORT"]


def test_an_airflow_port_that_is_not_a_port_is_refused(monkeypatch):
    from lab.errors import ConfigError

    monkeypatch.setenv("AIRFLOW_PORT", "80a")
    with pytest.raises(ConfigError, match=r"AIRFLOW_PORT='80a' is not a TCP port\. Fix:"):
        get_settings()


def test_make_airflow_runs_its_components_without_log_servers():
    commands = {name: args for name, args in orchestration.LOCAL_COMPONENTS.items()}
    assert set(commands) == {"api-server", "scheduler", "dag-processor", "triggerer"}
    for name in ("scheduler", "triggerer"):
        assert "--skip-serve-logs" in commands[name], (
            f"{name}: Airflow's log server listens on every interface; expected it off, "
            f"got {commands[name]}"
        )


def descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_make_airflow_listens_on_localhost_only_and_ctrl_c_stops_everything(free_port, tmp_path):
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    import psutil

    log = open(tmp_path / "launcher.log", "wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "lab.orchestration", "standalone", "--port", str(free_port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # like a terminal: SIGINT below goes to the launcher alone
    )
    try:
        deadline = time.monotonic() + 300
        components: set[str] = set()
        while time.monotonic() < deadline and launcher.poll() is None:
            try:
                url = f"http://127.0.0.1:{free_port}/api/v2/monitor/health"
                with urllib.request.urlopen(url, timeout=5) as response:
                    health = json.load(response)
                components = {k for k, v in health.items() if (v or {}).get("status") == "healthy"}
                if {"scheduler", "dag_processor", "triggerer"} <= components:
                    break
            except OSError:
                pass
            time.sleep(2)
        text = (tmp_path / "launcher.log").read_text(errors="replace")
        assert {"scheduler", "dag_processor", "triggerer"} <= components, (
            f"expected every component healthy; healthy: {components}\n{text[-3000:]}"
        )
        children = descendants(launcher.pid)
        listening = {
            (conn.laddr.ip, conn.laddr.port, child.name())
            for child in children
            if alive(child)
            for conn in child.net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN
        }
        assert listening, "expected the API server to listen"
        exposed = sorted(entry for entry in listening if entry[0] != "127.0.0.1")
        assert not exposed, f"expected every socket on 127.0.0.1; also listening on {exposed}"

        started = time.monotonic()
        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=30)
        took = time.monotonic() - started
        left = [f"{c.pid} {c.name()}" for c in children if alive(c)]
        assert not left, f"expected every child gone after Ctrl-C; still running: {left}"
        assert took < 15, f"expected Airflow to stop within 15 s of Ctrl-C, took {took:.1f} s"
        assert launcher.returncode == 0, launcher.returncode
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
        for child in descendants(launcher.pid):
            child.kill()
        log.close()
