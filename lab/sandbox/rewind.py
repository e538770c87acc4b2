"""Back to the start of a lesson (`lab reset --lesson N`): the state is rebuilt, not patched.

The sandbox at the start of lesson N is what `lab setup` makes, then what lessons 01..N-1 do,
each followed by the learner's work on its exercise. `rewind(N)`:

1. undoes the exercise work of lessons N..05 (each exercise's own `start`); the learner's own
   files among it (`Exercise.files`, exercise 03's expectations) are moved to
   `exercises/work/saved/<timestamp>/`, never deleted;
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

What the state holds and what a rewind removes (asked before it does) are in
`lab.sandbox.rewind_plan`; how an exercise's work is kept aside and put back, in `lab.sandbox.rewind_keep`.

A rewind that stops half-way (an error, Ctrl-C) resumes when run again: the work kept aside
stays in `Settings.rewind_dir` until it is back in place.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable

from lab import exercises, sandbox, steps, transform
from lab.config import (
    OPS_SCHEMA,
    ORDERS_PREFIX,
    QUARANTINE_ORDERS,
    RAW_ORDERS,
    Settings,
    get_settings,
)
from lab.errors import LabError
from lab.exercises.core import keep_aside, learner_files, saved_folder, shown
from lab.profiles import get_lake, get_warehouse
from lab.sandbox.rewind_keep import learner_models, restore_work, save_work
from lab.sandbox.rewind_plan import (
    HISTORY_PREFIX,
    LESSON_DATE,
    LESSON_RUN_ID,
    Survey,
    registered_exercises,
    run_folder,
    survey,
)


def rewind(lesson: str | int, say: Callable[[str], None] = print) -> list[str]:
    """Rebuild the state at the start of a lesson (see the module's docstring); return what the
    exercises of that lesson and later ones removed."""

    settings = get_settings()
    first = exercises.lesson_key(lesson)
    get_warehouse(settings).scalar("select 1")  # a busy warehouse stops us before anything goes
    found = survey(settings)
    removed: list[str] = []
    kept_in = saved_folder(settings)
    for key, exercise in sorted(registered_exercises().items()):
        if key >= first and exercise.start is not None:
            for path in keep_aside(learner_files([exercise], settings), kept_in, settings):
                removed.append(f"exercise {key}: {path} (a copy is in {shown(kept_in, settings)}/)")
            removed += [f"exercise {key}: {what}" for what in exercise.start(settings)]
    for line in removed:
        say(f"  removed {line}")
    kept = [k for k in sorted(registered_exercises()) if k < first]
    saved = settings.rewind_dir
    marker = saved / "complete"
    if marker.exists():
        say(f"  resuming a reset that stopped half-way: your exercise work waits in {saved}")
    else:
        shutil.rmtree(saved, ignore_errors=True)
        for key in kept:
            for line in save_work(key, settings, saved / key):
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

    saved = settings.rewind_dir
    _clear(settings, found)
    say("  cleared the lessons' tables, batches, gate results, dbt target and metrics")
    mine = learner_models(settings)
    with transform.excluding(*mine["selectors"]):
        sandbox.prepare(
            force=True,
            say=lambda line: say(f"    {line}"),
            **({} if history is None else {"history_days": history}),
        )
    for key in kept:
        if key in steps.BY_LESSON:
            with transform.excluding(*mine["selectors"]):
                say(f"  replayed lesson {key}: {_replay(key)}")
        if (saved / key).exists():
            for line in restore_work(key, settings, saved / key):
                say(f"  put back: exercise {key}'s {line}")


def _replay(lesson: str) -> str:
    """Do to the state what a lesson's notebook does with its default parameters; say what."""
    return steps.BY_LESSON[lesson].replay(LESSON_DATE, LESSON_RUN_ID)


def _clear(settings: Settings, found: Survey) -> None:
    """Take away what lessons and pipeline runs write (`lab setup` and the replays make it again)."""

    warehouse = get_warehouse(settings)
    transform.drop_kept_relations(settings)  # incremental models and snapshots keep old rows
    for table in (RAW_ORDERS, QUARANTINE_ORDERS):
        warehouse.execute(f"drop table if exists {table} cascade")
    warehouse.execute(f"drop schema if exists {OPS_SCHEMA} cascade")
    lake = get_lake(settings)
    prefix = f"{settings.raw_bucket}/{ORDERS_PREFIX}"
    if lake.exists(prefix):
        lake.fs.rm(prefix, recursive=True)
    transform.clear_target(settings)  # dbt's parse cache stays: a full parse is 1.5-3 CPU-s
    folders = [
        settings.dbt_log_dir,
        settings.metrics_dir,
        settings.gx_validations_dir,
        settings.gx_uncommitted_dir / "data_docs",
    ]
    folders += [run_folder(r, settings) for r in found.runs if not r.startswith(HISTORY_PREFIX)]
    for folder in folders:
        if folder.exists():
            shutil.rmtree(folder)
