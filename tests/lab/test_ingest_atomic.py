"""A load is a transaction: the old state or the new one, never a mix, whatever fails or is killed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from lab import datagen, ingest
from lab.config import LOAD_BATCHES, QUARANTINE_ORDERS, RAW_ORDERS, get_settings
from lab.datagen import csvtext
from lab.errors import BatchFileError
from lab.warehouse import DuckDBWarehouse, PostgresWarehouse

DAY = dt.date(2026, 11, 1)


def state(warehouse) -> tuple[int, int]:
    return (
        int(warehouse.scalar(f"select count(*) from {RAW_ORDERS} where batch_date = ?", [DAY])),
        int(
            warehouse.scalar(
                f"select count(*) from {QUARANTINE_ORDERS} where batch_date = ?", [DAY]
            )
        ),
    )


def orders_file(path: Path, rows: int, dirty: float = 0.0) -> Path:
    path.write_bytes(csvtext.to_csv_bytes(datagen.make_orders(DAY, rows=rows, dirty=dirty)))
    return path


def test_a_failing_reload_keeps_the_loaded_day(warehouse, tmp_path, monkeypatch):
    first = ingest.load_file(orders_file(tmp_path / "a.csv", 200, 0.1), DAY, warehouse=warehouse)
    before = state(warehouse)
    assert before == (first.rows_loaded, first.rows_quarantined)

    from lab.ingest import delivery

    def broken(*args, **kwargs):
        raise RuntimeError("the disk went away while the quarantine was being written")

    monkeypatch.setattr(delivery, "locate", broken)
    with pytest.raises(RuntimeError):
        ingest.load_file(orders_file(tmp_path / "b.csv", 50, 0.2), DAY, warehouse=warehouse)
    assert state(warehouse) == before, (
        f"expected the day as it was {before}, got {state(warehouse)}"
    )


def test_a_header_only_delivery_over_a_loaded_day_is_refused_unless_allowed(warehouse, tmp_path):
    ingest.load_file(orders_file(tmp_path / "a.csv", 30), DAY, warehouse=warehouse)
    empty = tmp_path / "empty.csv"
    empty.write_text("order_id,customer_id,order_date,status,amount\n")
    with pytest.raises(BatchFileError) as info:
        ingest.load_file(empty, DAY, warehouse=warehouse)
    assert "has no data rows" in str(info.value) and "--allow-empty" in str(info.value), info.value
    assert state(warehouse) == (30, 0)
    result = ingest.load_file(empty, DAY, warehouse=warehouse, allow_empty=True)
    assert (result.rows_in, state(warehouse)) == (0, (0, 0)), str(result)


def test_the_same_file_again_is_a_no_op_that_says_so(warehouse, tmp_path):
    path = orders_file(tmp_path / "a.csv", 40, 0.2)
    first = ingest.load_file(path, DAY, warehouse=warehouse)
    again = ingest.load_file(path, DAY, warehouse=warehouse)
    assert again.status == "unchanged", str(again)
    assert "nothing changed" in str(again), str(again)
    assert (again.rows_loaded, again.rows_quarantined) == (
        first.rows_loaded,
        first.rows_quarantined,
    )
    records = warehouse.query(f"select * from {LOAD_BATCHES}")
    assert len(records) == 1, f"expected one load record, got {len(records)}"


def test_a_new_file_for_a_loaded_date_replaces_it_and_the_record_says_so(warehouse, tmp_path):
    old = orders_file(tmp_path / "old.csv", 40)
    ingest.load_file(old, DAY, warehouse=warehouse, run_id="run-1")
    new = orders_file(tmp_path / "new.csv", 25)
    result = ingest.load_file(new, DAY, warehouse=warehouse, run_id="run-2")
    assert result.replaced == str(old), str(result)
    assert state(warehouse) == (25, 0)
    record = warehouse.query(
        f"select source_file, replaced_file, run_id, rows_in, sha256 from {LOAD_BATCHES} "
        "order by loaded_at desc limit 1"
    ).iloc[0]
    assert (
        record["source_file"],
        record["replaced_file"],
        record["run_id"],
        record["rows_in"],
    ) == (
        str(new),
        str(old),
        "run-2",
        25,
    ), record.to_dict()
    assert len(record["sha256"]) == 64


# --- killed -----------------------------------------------------------------------------------

KILL_POINTS = ["after-delete", "after-insert", "before-commit"]

LOADER_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from lab import ingest
    from lab.ingest import loading
    from lab.warehouse import DuckDBWarehouse, PostgresWarehouse
    point, target, path = sys.argv[1], sys.argv[2], sys.argv[3]
    from dataclasses import replace
    from lab.config import get_settings
    warehouse = (
        PostgresWarehouse(replace(get_settings(), warehouse_url=target).warehouse_dsn())
        if target.startswith("postgresql") else DuckDBWarehouse(target)
    )

    def pause(name):
        if name == point:
            print("ready", flush=True)
            time.sleep(60)

    loading.checkpoint = pause
    ingest.load_file(path, "2026-11-01", warehouse=warehouse)
    """
)


def kill_during_load(target: str, path: Path, point: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", LOADER_SCRIPT, point, target, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    deadline = time.monotonic() + 60
    line = process.stdout.readline()
    assert line.strip() == "ready" and time.monotonic() < deadline, f"loader said {line!r}"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()


@pytest.mark.parametrize("point", KILL_POINTS)
@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_load_killed_at_any_point_leaves_the_previous_state(engine, point, tmp_path, request):
    if engine == "duckdb":
        target = str(tmp_path / "w.duckdb")
        warehouse = DuckDBWarehouse(target)
    else:
        target = request.getfixturevalue("postgres_dsn")
        warehouse = PostgresWarehouse(replace(get_settings(), warehouse_url=target).warehouse_dsn())
    first = ingest.load_file(orders_file(tmp_path / "a.csv", 300, 0.1), DAY, warehouse=warehouse)
    before = state(warehouse)
    kill_during_load(target, orders_file(tmp_path / "b.csv", 120, 0.3), point)
    after = state(warehouse)
    assert after == before == (first.rows_loaded, first.rows_quarantined), (
        f"killed {point}: expected the previous state {before}, got {after}"
    )
    history = warehouse.query(f"select source_file from {LOAD_BATCHES}")
    assert history["source_file"].tolist() == [str(tmp_path / "a.csv")], history
    # and the next load goes through
    result = ingest.load_file(tmp_path / "b.csv", DAY, warehouse=warehouse)
    assert state(warehouse) == (result.rows_loaded, result.rows_quarantined)
