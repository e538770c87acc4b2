"""Back to the start of a lesson (`lab reset --lesson N`): the state is rebuilt, not patched.

The sandbox at the start of lesson N is what `lab setup` makes, then what lessons 01..N-1 do,
each followed by the learner's work on its exercise. `rewind(N)`:

1. undoes the exercise work of lessons N..05 (each exercise's own `start`);
2. keeps aside, in `Settings.rewind_dir`, the work of exercises 01..N-1 that lives in the state:
   an exercise's day of batches, your expectations, what your dbt models built;
3. clears what lessons and pipeline runs write: the raw, quarantine and ops tables, the lake's
   batches, dbt's target folder, the metrics files, the gate results, and the saved notebooks
   of the pipeline runs that go;
4. prepares the sandbox afresh (`lab setup`) and replays lessons 01..N-1 through the
   `lab.steps` calls their notebooks make, with their default parameters, putting back each
   lesson's exercise work after it, in the order a learner did them.

Why a rebuild and not a deletion of what later lessons wrote: much of the state is derived and
overwritten. At the start of lesson 02 the marts hold the history but not lesson 01's day;
lesson 02's `dbt build` replaced them, and no deletion gives them back. The metrics files and
dbt's run results are overwritten the same way. A rebuild also takes away what no list
foresees, such as a "Try it" pipeline run on a day of its own.

A rewind that stops half-way (an error, Ctrl-C) resumes when run again: the work kept aside
stays in `Settings.rewind_dir` until it is back in place.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lab.config import (
    LOAD_BATCHES,
    OPS_SCHEMA,
    ORDERS_PREFIX,
    PIPELINE_NOTEBOOKS,
    QUARANTINE_ORDERS,
    RAW_ORDERS,
    STEP_RUNS,
    Settings,
    get_settings,
)
from lab.contract import DEFAULT_RUN_DATE, as_date
from lab.errors import LabError
from lab.warehouse import get_warehouse

# The lessons' parameters cells: run_date = "2026-11-01", run_id = "lesson", rows and dirty at
# their defaults. Lessons 01-04 are the pipeline's steps, in order; lesson 05 only runs them.
LESSON_DATE = as_date(DEFAULT_RUN_DATE)
LESSON_RUN_ID = "lesson"
LESSON_STEPS = {notebook[:2]: step for step, notebook in PIPELINE_NOTEBOOKS}
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
    from lab.ingest import batch_path
    from lab.lake import get_lake
    from lab.sandbox import is_prepared

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


def _exercises() -> dict:
    from lab import exercises

    exercises.load_all()
    return exercises.EXERCISES


def _earlier(first: str) -> str:
    before = [k for k in sorted(_exercises()) if k < first]
    if not before:
        return "`lab setup` leaves them"
    span = before[0] if len(before) == 1 else f"{before[0]}-{before[-1]}"
    return (
        f"lesson{'s' if len(before) > 1 else ''} {span} leave{'' if len(before) > 1 else 's'} them"
    )


def plan(first: str, settings: Settings | None = None) -> Plan:
    """What going back to the start of lesson `first` takes away, from the state as it is."""
    from lab.exercises.common import EXERCISE_DATES

    settings = settings or get_settings()
    found = survey(settings)
    exercises = _exercises()
    removes = []
    if first <= "01" and LESSON_DATE in found.days:
        removes.append(f"lesson 01's batch of {LESSON_DATE} (landed file, rows, load record)")
    if first <= "03" and _gate_results_of(LESSON_DATE, settings):
        removes.append(f"lesson 03's gate results of {LESSON_DATE}")
    exercise_days = {as_date(d) for d in EXERCISE_DATES.values()}
    other_days = sorted(found.days - found.history_days - exercise_days - {LESSON_DATE})
    if other_days:
        removes.append(
            f"the batches of {', '.join(d.isoformat() for d in other_days)} (lesson 05's "
            "pipeline runs, `lab pipeline` or loaded by hand): files, rows, load records, "
            "gate results"
        )
    kept_steps = {LESSON_STEPS[k] for k in LESSON_STEPS if k < first}
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
    folders = [r for r in going if _run_folder(r, settings).exists()]
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


def _gate_results_of(day: dt.date, settings: Settings) -> list[Path]:
    folder = settings.gx_validations_dir
    return sorted(folder.glob(f"*/*_{day.isoformat()}")) if folder.exists() else []


def _run_folder(run_id: str, settings: Settings) -> Path:
    from lab.pipeline import safe_run_id

    return settings.runs_dir / safe_run_id(run_id)


# --- the rewind ------------------------------------------------------------------------------


def rewind(lesson: str | int, say: Callable[[str], None] = print) -> list[str]:
    """Rebuild the state at the start of a lesson (see the module's docstring); return what the
    exercises of that lesson and later ones removed."""
    from lab import exercises

    settings = get_settings()
    first = exercises.lesson_key(lesson)
    get_warehouse(settings).scalar("select 1")  # a busy warehouse stops us before anything goes
    found = survey(settings)
    removed: list[str] = []
    for key, exercise in sorted(_exercises().items()):
        if key >= first and exercise.start is not None:
            removed += [f"exercise {key}: {what}" for what in exercise.start(settings)]
    for line in removed:
        say(f"  removed {line}")
    kept = [k for k in sorted(_exercises()) if k < first]
    saved = settings.rewind_dir
    marker = saved / "complete"
    if marker.exists():
        say(f"  resuming a reset that stopped half-way: your exercise work waits in {saved}")
    else:
        shutil.rmtree(saved, ignore_errors=True)
        for key in kept:
            for line in _save(key, settings, saved / key):
                say(f"  kept aside: exercise {key}'s {line}")
        history = len(found.history_days) if found.prepared else None
        saved.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"first": first, "history_days": history}) + "\n")
    history = json.loads(marker.read_text())["history_days"]
    try:
        _rebuild(kept, found, history, settings, say)
    except LabError as exc:
        raise type(exc)(
            f"{exc} The reset to lesson {first} stopped half-way; your exercise work waits in "
            f"{saved}. Fix: once the problem is solved, run `lab reset --lesson {first}` again: "
            "it finishes the job."
        ) from exc
    shutil.rmtree(saved, ignore_errors=True)
    return removed


def _rebuild(kept: list[str], found: Survey, history: int | None, settings: Settings, say) -> None:
    """Clear, prepare afresh (`history` days of it; None: the default), replay the lessons of
    the `kept` exercises and put back each one's exercise work after it."""
    from lab import sandbox, transform

    saved = settings.rewind_dir
    _clear(settings, found)
    say("  cleared the lessons' tables, batches, gate results, dbt target and metrics")
    mine = _learner_models(settings)
    with transform.excluding(*mine["selectors"]):
        sandbox.prepare(
            force=True,
            say=lambda line: say(f"    {line}"),
            **({} if history is None else {"history_days": history}),
        )
    for key in kept:
        if key in LESSON_STEPS:
            with transform.excluding(*mine["selectors"]):
                say(f"  replayed lesson {key}: {_replay(key)}")
        if (saved / key).exists():
            for line in _restore(key, settings, saved / key):
                say(f"  put back: exercise {key}'s {line}")


def _replay(lesson: str) -> str:
    """Do to the state what a lesson's notebook does with its default parameters; say what."""
    from lab import steps

    step = LESSON_STEPS[lesson]
    if step == "ingestion":
        return f"{steps.ingestion(LESSON_DATE, run_id=LESSON_RUN_ID)}"
    if step == "dbt":
        return f"{steps.transformation(run_id=LESSON_RUN_ID)}"
    if step == "quality":
        return f"{steps.quality(LESSON_DATE, run_id=LESSON_RUN_ID)} on {LESSON_DATE}"
    run = steps.monitoring(run_id=LESSON_RUN_ID)
    return f"its step run recorded ({run.counts['step_runs']} step runs read)"


def _clear(settings: Settings, found: Survey) -> None:
    """Take away what lessons and pipeline runs write (`lab setup` and the replays make it again)."""
    from lab.lake import get_lake

    warehouse = get_warehouse(settings)
    for table in (RAW_ORDERS, QUARANTINE_ORDERS):
        warehouse.execute(f"drop table if exists {table} cascade")
    warehouse.execute(f"drop schema if exists {OPS_SCHEMA} cascade")
    lake = get_lake(settings)
    prefix = f"{settings.raw_bucket}/{ORDERS_PREFIX}"
    if lake.exists(prefix):
        lake.fs.rm(prefix, recursive=True)
    folders = [
        settings.dbt_target_dir,
        settings.dbt_log_dir,
        settings.metrics_dir,
        settings.gx_validations_dir,
        settings.gx_uncommitted_dir / "data_docs",
    ]
    folders += [_run_folder(r, settings) for r in found.runs if not r.startswith(HISTORY_PREFIX)]
    for folder in folders:
        if folder.exists():
            shutil.rmtree(folder)


# --- an exercise's work in the state: kept aside, put back -----------------------------------


def _save(lesson: str, settings: Settings, folder: Path) -> list[str]:
    """Keep aside what an exercise holds in the state; return what (nothing: an empty list)."""
    from lab.exercises.common import EXERCISE_DATES

    folder.mkdir(parents=True, exist_ok=True)
    said = []
    if lesson in EXERCISE_DATES:
        said += _save_day(as_date(EXERCISE_DATES[lesson]), settings, folder / "day")
    if lesson in CARRIED:
        said += CARRIED[lesson][0](settings, folder)
    return said


def _restore(lesson: str, settings: Settings, folder: Path) -> list[str]:
    from lab.exercises.common import EXERCISE_DATES

    said = []
    if lesson in EXERCISE_DATES and (folder / "day").exists():
        said += _restore_day(as_date(EXERCISE_DATES[lesson]), settings, folder / "day")
    if lesson in CARRIED:
        said += CARRIED[lesson][1](settings, folder)
    return said


def _save_day(day: dt.date, settings: Settings, folder: Path) -> list[str]:
    """An exercise's day: its landed file, its rows in the day tables, its gate results."""
    from lab.ingest import batch_path
    from lab.lake import get_lake

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
    for results in _gate_results_of(day, settings):
        shutil.copytree(results, folder / "validations" / results.parent.name / results.name)
    if not any(folder.iterdir()):
        folder.rmdir()
        return []
    return [f"batch of {day} ({rows} rows loaded or quarantined)"]


def _restore_day(day: dt.date, settings: Settings, folder: Path) -> list[str]:
    from lab.ingest import batch_path, ensure_tables
    from lab.lake import get_lake

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


def _learner_models(settings: Settings) -> dict:
    """The learner's dbt models (exercise 02's folder): dbt selectors for them, and their names."""
    from lab.exercises.ex02_dbt import FOLDER

    folder = settings.root / FOLDER
    names = sorted(p.stem for p in folder.glob("*.sql")) if folder.exists() else []
    selectors = [f"path:{folder.relative_to(settings.dbt_dir).as_posix()}"] if names else []
    return {"selectors": selectors, "names": names}


def _save_models(settings: Settings, folder: Path) -> list[str]:
    """Which of the learner's models are built, and dbt's latest results (their last command)."""
    built = [
        name
        for name in _learner_models(settings)["names"]
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
    from lab import transform

    saved = folder / "dbt"
    if not (saved / "built.json").exists():
        return []
    built = list(json.loads((saved / "built.json").read_text()))
    present = [n for n in built if n in _learner_models(settings)["names"]]
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
