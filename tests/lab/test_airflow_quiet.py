"""`make airflow` and `make airflow-cli` leave out Airflow's noise, and keep its errors."""

import os
import subprocess
import sys
from pathlib import Path

from lab.airflow.local import airflow_env

AIRFLOW = Path(sys.executable).parent / "airflow"


def _run(code: str, env: dict) -> subprocess.CompletedProcess:
    # this process's own warning filters (set by whatever ran before) are not the point here
    base = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_airflow_processes_do_not_warn_about_httpx2(tmp_path):
    env = airflow_env(tmp_path / "airflow")
    code = "import fastapi.testclient"
    without = _run(code, {k: v for k, v in env.items() if k != "PYTHONWARNINGS"})
    assert "httpx2" in without.stderr, (
        f"expected the import to warn without the setting (else this test proves nothing): "
        f"{without.stderr!r}"
    )
    quiet = _run(code, env)
    assert quiet.returncode == 0 and quiet.stderr == "", f"expected no output: {quiet.stderr!r}"


def test_airflow_warnings_that_are_not_noise_still_show(tmp_path):
    env = airflow_env(tmp_path / "airflow")
    result = _run("import warnings; warnings.warn('a real problem')", env)
    assert "UserWarning: a real problem" in result.stderr, result.stderr


def test_airflow_log_servers_start_uvicorn_at_error_level(tmp_path):
    """Their `uvicorn.run` without factory=True warns "ASGI app factory detected" at WARNING."""
    env = airflow_env(tmp_path / "airflow")
    result = subprocess.run(
        [str(AIRFLOW), "config", "get-value", "logging", "uvicorn_logging_level"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "ERROR", f"got {result.stdout!r} {result.stderr[-500:]!r}"
