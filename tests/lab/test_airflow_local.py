"""lab.airflow.local: the settings, metadata and components of `make airflow` (`lab airflow`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.airflow import local as airflow_local
from lab.config import get_settings
from tests.helpers import abort_with_stacks


def test_local_airflow_settings_bind_to_localhost_and_use_this_projects_dags(tmp_path):
    airflow_local.prepare_airflow_home(tmp_path)
    env = airflow_local.airflow_env(tmp_path, port=18080)
    assert env["AIRFLOW_HOME"] == str(tmp_path)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(get_settings().root / "dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) <= 4
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) == 64
    passwords = json.loads((tmp_path / "passwords.json").read_text())
    assert passwords == {"admin": "admin"}, "make airflow prints admin/admin as the login"


def test_metadata_gets_the_warehouse_pool_sized_for_the_profile():
    from lab.airflow.dag_support import WAREHOUSE_POOL
    from lab.profiles import Local, Stack

    for profile, slots in ((Local, "1"), (Stack, str(Stack.airflow_pool_slots))):
        commands = airflow_local.metadata_commands(profile(get_settings()))
        assert commands[0] == ("db", "migrate"), commands
        assert commands[1][:4] == ("pools", "set", WAREHOUSE_POOL, slots), commands


# --- make airflow: the local launcher (`lab airflow start`) ---------------------------------


def test_airflow_port_comes_from_the_environment_with_8080_by_default(monkeypatch):
    monkeypatch.delenv("AIRFLOW_PORT", raising=False)
    assert (get_settings().airflow_port, airflow_local.airflow_url()) == (
        8080,
        "http://127.0.0.1:8080",
    )
    monkeypatch.setenv("AIRFLOW_PORT", "8090")
    assert airflow_local.airflow_url() == "http://127.0.0.1:8090"
    env = airflow_local.airflow_env(Path("/tmp/unused-airflow-home"))
    assert env["AIRFLOW__API__PORT"] == "8090", env["AIRFLOW__API__PORT"]


def test_an_airflow_port_that_is_not_a_port_is_refused(monkeypatch):
    from lab.errors import ConfigError

    monkeypatch.setenv("AIRFLOW_PORT", "80a")
    with pytest.raises(ConfigError, match=r"AIRFLOW_PORT='80a' is not a TCP port\. Fix:"):
        get_settings()


def test_make_airflow_runs_its_components_without_log_servers():
    commands = {name: args for name, args in airflow_local.LOCAL_COMPONENTS.items()}
    assert set(commands) == {"api-server", "scheduler", "dag-processor", "triggerer"}
    for name in ("scheduler", "triggerer"):
        assert "--skip-serve-logs" in commands[name], (
            f"{name}: Airflow's log server listens on every interface; expected it off, "
            f"got {commands[name]}"
        )


@pytest.mark.slow
def test_lab_airflow_cli_is_the_airflow_command_with_make_airflows_settings(lab_env):
    import subprocess
    import sys

    command = [sys.executable, "-m", "lab.cli", "airflow", "cli", "config", "get-value"]
    result = subprocess.run(
        [*command, "core", "dags_folder"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(get_settings().root / "dags"), (
        result.stdout
    )
    home = lab_env.home / "airflow"
    assert (home / "airflow.db").exists(), "the first use migrates make airflow's metadata"
    # options after `cli` belong to airflow, not to lab
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "Usage: airflow config get-value" in result.stdout, (
        result.stdout[-2000:] + result.stderr[-2000:]
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
        [sys.executable, "-m", "lab.cli", "airflow", "start", "--port", str(free_port)],
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


STUCK = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # like a scheduler waiting on its workers


def waiting_for_its_workers():
    print("ready", flush=True)
    time.sleep(600)


waiting_for_its_workers()
"""


def test_a_component_that_does_not_stop_is_handed_to_on_stuck_before_it_is_killed(tmp_path):
    """`stop_components` gives a component that outlives its timeout to `on_stuck` while it still
    runs (the tests' Airflow then has it dump its stacks to its log), kills it and reports it;
    a component that stops on SIGTERM is neither."""
    log = tmp_path / "stuck.log"
    with open(log, "wb") as out:
        stuck = subprocess.Popen(
            [sys.executable, "-c", STUCK],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
            start_new_session=True,
        )
    stops = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert stops.stdout.readline() == b"ready\n"
    deadline = time.monotonic() + 60
    while "ready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    handed = []

    def on_stuck(name, process):
        handed.append((name, process.poll()))
        abort_with_stacks(process.pid)

    processes = {"scheduler": stuck, "api-server": stops}
    killed = airflow_local.stop_components(processes, tmp_path, timeout=2, on_stuck=on_stuck)
    stops.stdout.close()
    assert killed == ["scheduler"], killed
    assert handed == [("scheduler", None)], "on_stuck must get the stuck component, still running"
    assert stuck.poll() is not None and stops.returncode == -15, (stuck.poll(), stops.returncode)
    dump = log.read_text()
    assert "waiting_for_its_workers" in dump, f"expected the stuck component's stack:\n{dump}"
