"""Three `lab pipeline` runs for different dates started at once all succeed and each day
reconciles (local profile): three, so that a run waits on more than one other."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab import ingest, sandbox
from lab.config import QUARANTINE_ORDERS, RAW_ORDERS
from lab.profiles import get_warehouse

pytestmark = pytest.mark.slow
PREPARED_HISTORY_DAYS = 0  # each run lands and loads its own day
DATES = [dt.date(2026, 11, d) for d in (11, 12, 13)]


def test_three_pipelines_at_once_all_load_and_reconcile(sandbox_copy):
    assert not sandbox.prepare(say=lambda _: None), "the copy must be a prepared sandbox"
    lab = [str(Path(sys.executable).parent / "lab")]  # the command a learner runs
    runs = [
        subprocess.Popen(
            [*lab, "pipeline", "--date", day.isoformat(), "--rows", "150"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ,
        )
        for day in DATES
    ]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for day, run, out in zip(DATES, runs, outputs, strict=True):
        assert run.returncode == 0, f"the run for {day} failed:\n{out}"
    history = ingest.load_history()
    warehouse = get_warehouse()
    for day in DATES:
        record = history[history["batch_date"].astype(str).str[:10] == day.isoformat()]
        assert len(record) == 1, f"expected one load record for {day}, got {len(record)}"
        loaded = warehouse.scalar(f"select count(*) from {RAW_ORDERS} where batch_date = ?", [day])
        quarantined = warehouse.scalar(
            f"select count(*) from {QUARANTINE_ORDERS} where batch_date = ?", [day]
        )
        assert loaded + quarantined == 150 == int(record["rows_in"].iloc[0]), (
            f"{day}: {loaded} loaded + {quarantined} quarantined, record {record.to_dict('records')}"
        )
