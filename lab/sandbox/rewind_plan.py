"""What a rewind to the start of a lesson finds and takes away, said before it does anything.

`survey()` looks at what the sandbox's state holds (batch days anywhere, recorded step runs);
`plan()` turns it into the sentences `lab reset --lesson N` prints before it asks.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lab import exercises
from lab.config import (
    LOAD_BATCHES,
    QUARANTINE_ORDERS,
    RAW_ORDERS,
    STEP_RUNS,
    Settings,
    get_settings,
)
from lab.contract import DEFAULT_RUN_DATE, as_date
from lab.exercises.common import EXERCISE_DATES
from lab.ingest import batch_path
from lab.pipeline import safe_run_id
from lab.profiles import get_lake, get_warehouse
from lab.sandbox import is_prepared
from lab.steps import STEPS

# The lessons' parameters cells: run_date = "2026-11-01", run_id = "lesson", rows and dirty at
# their defaults. Lessons 01-04 are the pipeline's steps, in order; lesson 05 only runs them.
LESSON_DATE = as_date(DEFAULT_RUN_DATE)
LESSON_RUN_ID = "lesson"
HISTORY_PREFIX = "history_"  # run ids of the days `lab setup` loads (lab.steps.simulate_history)
DAY_TABLES = (RAW_ORDERS, QUARANTINE_ORDERS, LOAD_BATCHES)


# --- what the state holds now ----------------------------------------------------------------


@dataclass
class Survey:
    """What the sandbox's state holds: batch days anywhere, and recorded step runs."""

    prepared: bool
    days: set[dt.date] = field(default_factory=set)
    runs: dict[str, set[str]] = field(default_factory=dict)  # run id -> steps recorded

    @property
    def history_days(self) -> set[dt.date]:
        """The days `lab setup` loaded (their run ids name them)."""
        return {
            day
            for run_id in self.runs
            if run_id.startswith(HISTORY_PREFIX)
            for day in _dates_in(run_id)
        }


def survey(settings: Settings | None = None) -> Survey:
    """Look around the state: every batch day it holds anywhere, every recorded step run."""

    settings = settings or get_settings()
    found = Survey(prepared=is_prepared(settings))
    warehouse = get_warehouse(settings)
    for table in DAY_TABLES:
        if warehouse.table_exists(table):
            dates = warehouse.query(f"select distinct batch_date from {table}")["batch_date"]
            found.days |= {pd.Timestamp(d).date() for d in dates}
    lake = get_lake(settings)
    prefix = batch_path(LESSON_DATE, settings).split("/date=")[0]
    for path in lake.list(prefix):
        found.days |= _dates_in(path)
    if settings.gx_validations_dir.exists():
        for folder in settings.gx_validations_dir.glob("*/*"):
            found.days |= _dates_in(folder.name)
    if warehouse.table_exists(STEP_RUNS):
        for row in warehouse.query(f"select distinct run_id, step from {STEP_RUNS}").itertuples():
            found.runs.setdefault(str(row.run_id), set()).add(str(row.step))
    return found


def _dates_in(text: str) -> set[dt.date]:
    """The ISO dates in a path, a folder name or a run id."""
    found = set()
    for match in re.findall(r"\d{4}-\d{2}-\d{2}", text):
        try:
            found.add(dt.date.fromisoformat(match))
        except ValueError:
            pass
    return found


# --- what a rewind removes, said before it does ------------------------------------------------


@dataclass
class Plan:
    """What `rewind(first)` removes, rebuilds and keeps, in sentences."""

    first: str
    removes: list[str]
    rebuilds: str
    keeps: str


def registered_exercises() -> dict:

    return exercises.EXERCISES


def _earlier(first: str) -> str:
    before = [k for k in sorted(registered_exercises()) if k < first]
    if not before:
        return "`lab setup` leaves them"
    span = before[0] if len(before) == 1 else f"{before[0]}-{before[-1]}"
    return (
        f"lesson{'s' if len(before) > 1 else ''} {span} leave{'' if len(before) > 1 else 's'} them"
    )


def plan(first: str, settings: Settings | None = None) -> Plan:
    """What going back to the start of lesson `first` takes away, from the state as it is."""

    settings = settings or get_settings()
    found = survey(settings)
    exercises = registered_exercises()
    removes = []
    if first <= "01" and LESSON_DATE in found.days:
        removes.append(f"lesson 01's batch of {LESSON_DATE} (landed file, rows, load record)")
    if first <= "03" and gate_results_of(LESSON_DATE, settings):
        removes.append(f"lesson 03's gate results of {LESSON_DATE}")
    exercise_days = {as_date(d) for d in EXERCISE_DATES.values()}
    other_days = sorted(found.days - found.history_days - exercise_days - {LESSON_DATE})
    if other_days:
        removes.append(
            f"the batches of {', '.join(d.isoformat() for d in other_days)} (lesson 05's "
            "pipeline runs, `lab pipeline` or loaded by hand): files, rows, load records, "
            "gate results"
        )
    kept_steps = {step.name for step in STEPS if step.lesson < first}
    going = {}
    for run_id, steps in sorted(found.runs.items()):
        if run_id.startswith(HISTORY_PREFIX):
            continue
        gone = steps - kept_steps if run_id == LESSON_RUN_ID else steps
        if gone:
            going[run_id] = gone
    if going:
        removes.append(
            "the step runs of "
            + ", ".join(f"{r} ({', '.join(sorted(s))})" for r, s in going.items())
        )
    folders = [r for r in going if run_folder(r, settings).exists()]
    if folders:
        removes.append(f"their saved notebooks in runs/: {', '.join(folders)}")
    removes += [f"exercise {k}: {e.work}" for k, e in sorted(exercises.items()) if k >= first]
    kept = [k for k in sorted(exercises) if k < first]
    return Plan(
        first=first,
        removes=removes,
        rebuilds=(
            f"It then rebuilds the warehouse's tables, the lake, dbt's marts and run results, "
            f"the gate results and the metrics as {_earlier(first)} (about half a minute)."
        ),
        keeps=(
            f"Kept: your work of exercise{'s' if len(kept) > 1 else ''} {', '.join(kept)}, "
            "your notebooks, and the tables you made yourself."
            if kept
            else "Kept: your notebooks and the tables you made yourself."
        ),
    )


def gate_results_of(day: dt.date, settings: Settings) -> list[Path]:
    folder = settings.gx_validations_dir
    return sorted(folder.glob(f"*/*_{day.isoformat()}")) if folder.exists() else []


def run_folder(run_id: str, settings: Settings) -> Path:

    return settings.runs_dir / safe_run_id(run_id)
