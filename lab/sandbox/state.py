"""The sandbox's own state: prepare it once, check its health, reset it.

`prepare()` is what `make lab` runs: buckets, the customers seed, and a week of history so the
monitoring lesson has something to show. It is quick when the state already exists and never
throws away a learner's work; `reset()` does, after saying so.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from lab import exercises, steps, transform
from lab.config import HISTORY_DAYS, RAW_CUSTOMERS, Settings, get_settings
from lab.errors import NotPreparedError
from lab.exercises.core import keep_aside, learner_files, saved_folder, shown
from lab.pipeline import DEFAULT_RUN_DATE
from lab.profiles import ensure_buckets, get_lake, get_warehouse


def _say(message: str) -> None:
    print(message, flush=True)


def is_prepared(settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    return (settings.home / "prepared").exists()


def prepare(
    force: bool = False, history_days: int = HISTORY_DAYS, say: Callable[[str], None] = _say
) -> bool:
    """Make the sandbox ready to use; return False when it already was (nothing touched)."""

    settings = get_settings()
    if is_prepared(settings) and not force:
        say(f"Sandbox state is ready in {settings.home} (profile {settings.profile}).")
        return False
    t0 = time.perf_counter()
    say(f"Preparing the sandbox ({settings.profile} profile) in {settings.home} ...")
    ensure_buckets(settings)
    say(
        f"  [1/3] buckets {settings.raw_bucket!r} and {settings.artifacts_bucket!r} ready at "
        f"{get_lake(settings).location}"
    )

    transform.seed(settings).raise_on_failure()
    say(f"  [2/3] dbt seed loaded {RAW_CUSTOMERS}")
    if history_days:
        steps.simulate_history(DEFAULT_RUN_DATE, days=history_days)
    say(f"  [3/3] {history_days} days of order history loaded, transformed and checked")
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "prepared").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    say(f"Ready in {time.perf_counter() - t0:.0f} s.")
    return True


def learner_work(settings: Settings | None = None) -> list:
    """The learner's own exercise files (models, rules, DAG) and expectations, where they are."""

    settings = settings or get_settings()
    paths = learner_files(list(exercises.EXERCISES.values()), settings)
    return [*paths, settings.learner_expectations_file]


def reset(say: Callable[[str], None] = _say) -> None:
    """Delete the local state (warehouse, lake, metrics) and the saved pipeline runs; move the
    learner's exercise files to `exercises/work/saved/<timestamp>/` so the next setup starts clean."""

    settings = get_settings()
    kept = saved_folder(settings)
    moved = keep_aside(learner_work(settings), kept, settings)
    if moved:
        say(f"Moved your exercise files to {shown(kept, settings)}/: {', '.join(moved)}")
    for folder in (settings.home, settings.runs_dir):
        if folder.exists():
            say(f"Removing {folder}")
            shutil.rmtree(folder)
    uncommitted = settings.gx_uncommitted_dir
    for sub in ("validations", "data_docs"):
        if (uncommitted / sub).exists():
            shutil.rmtree(uncommitted / sub)


@dataclass
class Check:
    part: str
    ok: bool
    detail: str


def health(settings: Settings | None = None) -> pd.DataFrame:
    """Check every part of the sandbox; one row a part with what was found or how to fix it."""
    settings = settings or get_settings()
    checks = [
        _check("settings", lambda: f"profile {settings.profile}, state in {settings.home}"),
        _check("warehouse", lambda: _warehouse_detail(settings)),
        _check("object storage", lambda: _lake_detail(settings)),
        _check("dbt project", lambda: _exists(settings.dbt_dir / "dbt_project.yml")),
        _check(
            "great expectations",
            lambda: _exists(settings.gx_root / "gx" / "great_expectations.yml"),
        ),
        _check(
            "notebooks",
            lambda: f"{len(list(settings.notebooks_dir.glob('[0-9][0-9]_*.ipynb')))} lessons",
        ),
        _check("sandbox state", lambda: "prepared" if is_prepared(settings) else _missing_state()),
    ]
    return pd.DataFrame([c.__dict__ for c in checks]).set_index("part")


def _check(part: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(part, True, probe())
    except Exception as exc:  # a health check reports, it never raises
        return Check(part, False, str(exc).splitlines()[0])


def _warehouse_detail(settings: Settings) -> str:

    warehouse = get_warehouse(settings)
    tables = int(
        warehouse.scalar(
            "select count(*) from information_schema.tables where table_schema not in "
            "('information_schema', 'pg_catalog')"
        )
    )
    return f"{warehouse.describe()}: {tables} tables and views"


def _lake_detail(settings: Settings) -> str:

    lake = get_lake(settings)
    files = lake.list(settings.raw_bucket)
    return f"{lake.location}: {len(files)} objects in {settings.raw_bucket!r}"


def _exists(path) -> str:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing. Fix: restore it with `git checkout -- {path.name}`."
        )
    root = get_settings().root
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _missing_state() -> str:
    raise NotPreparedError("not prepared yet. Fix: run `lab setup` (or `make lab`).")
