"""DuckDB has one writer: every writer, dbt included, waits for the lock, then names the holder."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from lab import transform, warehouse
from lab.config import get_settings
from lab.errors import StepLockedError, WarehouseLockedError

HOLD = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def hold_lock(path, seconds: float) -> subprocess.Popen:
    path.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "holding"
    return process


@pytest.fixture
def holder():
    started = []

    def start(path, seconds):
        process = hold_lock(path, seconds)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()
        process.stdout.close()


def test_dbt_waits_for_a_held_lock_and_then_builds(holder, capfd):
    settings = get_settings()
    transform.seed(
        settings=settings
    )  # dbt imported and the file made: the wait is all that is timed
    holder(settings.warehouse_path, 8)
    t0 = time.monotonic()
    run = transform.seed(settings=settings)
    waited = time.monotonic() - t0
    assert run.success, str(run)
    assert waited >= 7, f"expected dbt to wait for the lock (8 s), it took {waited:.1f} s"
    assert "waiting for the warehouse file" in capfd.readouterr().err


def test_dbt_gives_up_after_the_wait_and_names_the_holder(holder, monkeypatch):
    settings = get_settings()
    process = holder(settings.warehouse_path, 60)
    monkeypatch.setattr(transform, "LOCK_WAIT_SECONDS", 2.0)
    with pytest.raises(WarehouseLockedError) as info:
        transform.seed(settings=settings)
    message = str(info.value)
    assert f"PID {process.pid}" in message and "Fix:" in message, message


def test_a_connection_gives_up_with_the_holder_named(holder, tmp_path):
    path = tmp_path / "w.duckdb"
    process = holder(path, 60)
    with pytest.raises(WarehouseLockedError) as info:
        warehouse.DuckDBWarehouse(path, lock_wait=1).query("select 1")
    assert f"PID {process.pid} (" in str(info.value), str(info.value)


def test_a_notebook_stopped_by_a_lock_is_an_error_airflow_retries():
    from lab.airflow.dag_support import RETRY_ERRORS

    assert issubclass(StepLockedError, WarehouseLockedError)
    assert "lab.errors.WarehouseLockedError" in RETRY_ERRORS
