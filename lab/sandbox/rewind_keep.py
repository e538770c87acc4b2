"""An exercise's work in the state, kept aside while a rewind rebuilds and put back after.

Its day of batches (landed file, rows, gate results), and what is not a day of batches
(`CARRIED`): the learner's dbt models (exercise 02) and expectations (exercise 03).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from lab import transform
from lab.config import LOAD_BATCHES, Settings
from lab.contract import as_date
from lab.exercises.common import EXERCISE_DATES
from lab.exercises.ex02_dbt import FOLDER
from lab.ingest import batch_path, ensure_tables
from lab.profiles import get_lake, get_warehouse
from lab.sandbox.rewind_plan import DAY_TABLES, gate_results_of


def save_work(lesson: str, settings: Settings, folder: Path) -> list[str]:
    """Keep aside what an exercise holds in the state; return what (nothing: an empty list)."""

    folder.mkdir(parents=True, exist_ok=True)
    said = []
    if lesson in EXERCISE_DATES:
        said += _save_day(as_date(EXERCISE_DATES[lesson]), settings, folder / "day")
    if lesson in CARRIED:
        said += CARRIED[lesson][0](settings, folder)
    return said


def restore_work(lesson: str, settings: Settings, folder: Path) -> list[str]:

    said = []
    if lesson in EXERCISE_DATES and (folder / "day").exists():
        said += _restore_day(as_date(EXERCISE_DATES[lesson]), settings, folder / "day")
    if lesson in CARRIED:
        said += CARRIED[lesson][1](settings, folder)
    return said


def _save_day(day: dt.date, settings: Settings, folder: Path) -> list[str]:
    """An exercise's day: its landed file, its rows in the day tables, its gate results."""

    folder.mkdir(parents=True, exist_ok=True)
    lake = get_lake(settings)
    path = batch_path(day, settings)
    if lake.exists(path):
        (folder / "orders.csv").write_bytes(lake.read_bytes(path))
    warehouse = get_warehouse(settings)
    rows = 0
    for table in DAY_TABLES:
        if warehouse.table_exists(table):
            frame = warehouse.query(f"select * from {table} where batch_date = ?", [day])
            if not frame.empty:
                frame.to_pickle(folder / f"{table}.pkl")
                rows += len(frame) if table != LOAD_BATCHES else 0
    for results in gate_results_of(day, settings):
        shutil.copytree(results, folder / "validations" / results.parent.name / results.name)
    if not any(folder.iterdir()):
        folder.rmdir()
        return []
    return [f"batch of {day} ({rows} rows loaded or quarantined)"]


def _restore_day(day: dt.date, settings: Settings, folder: Path) -> list[str]:

    lake = get_lake(settings)
    if (folder / "orders.csv").exists():
        lake.ensure_bucket(settings.raw_bucket)
        lake.write_bytes(batch_path(day, settings), (folder / "orders.csv").read_bytes())
    warehouse = get_warehouse(settings)
    ensure_tables(warehouse)
    for table in DAY_TABLES:
        saved = folder / f"{table}.pkl"
        if saved.exists():
            warehouse.execute(f"delete from {table} where batch_date = ?", [day])
            warehouse.insert_dataframe(table, pd.read_pickle(saved))
    if (folder / "validations").exists():
        shutil.copytree(folder / "validations", settings.gx_validations_dir, dirs_exist_ok=True)
    return [f"batch of {day}"]


def learner_models(settings: Settings) -> dict:
    """The learner's dbt models (exercise 02's folder): dbt selectors for them, and their names."""

    folder = settings.root / FOLDER
    names = sorted(p.stem for p in folder.glob("*.sql")) if folder.exists() else []
    selectors = [f"path:{folder.relative_to(settings.dbt_dir).as_posix()}"] if names else []
    return {"selectors": selectors, "names": names}


def _save_models(settings: Settings, folder: Path) -> list[str]:
    """Which of the learner's models are built, and dbt's latest results (their last command)."""
    built = [
        name
        for name in learner_models(settings)["names"]
        if get_warehouse(settings).table_exists(name)
    ]
    if not built:
        return []
    (folder / "dbt").mkdir(parents=True, exist_ok=True)
    (folder / "dbt" / "built.json").write_text(json.dumps(built) + "\n")
    for name in ("run_results.json", "manifest.json"):
        if (settings.dbt_target_dir / name).exists():
            shutil.copy(settings.dbt_target_dir / name, folder / "dbt" / name)
    return [f"models built ({', '.join(built)}) and dbt's latest results"]


def _restore_models(settings: Settings, folder: Path) -> list[str]:

    saved = folder / "dbt"
    if not (saved / "built.json").exists():
        return []
    built = list(json.loads((saved / "built.json").read_text()))
    present = [n for n in built if n in learner_models(settings)["names"]]
    said = []
    if present:
        run = transform.build(select=" ".join(present))
        said.append(f"models built again ({run})")
    for name in ("run_results.json", "manifest.json"):
        if (saved / name).exists():
            shutil.copy(saved / name, settings.dbt_target_dir / name)
    return said


def _save_expectations(settings: Settings, folder: Path) -> list[str]:
    """The learner's expectations leave the suite while the earlier lessons' gates run again."""
    path = settings.learner_expectations_file
    if not path.exists():
        return []
    shutil.copy(path, folder / path.name)
    path.unlink()
    return ["expectations in the orders suite"]


def _restore_expectations(settings: Settings, folder: Path) -> list[str]:
    path = settings.learner_expectations_file
    saved = folder / path.name
    if not saved.exists():
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(saved, path)
    return ["expectations in the orders suite"]


# Exercise work that is not a day of batches: lesson -> (keep aside, put back).
CARRIED: dict[str, tuple[Callable[[Settings, Path], list[str]], ...]] = {
    "02": (_save_models, _restore_models),
    "03": (_save_expectations, _restore_expectations),
}
