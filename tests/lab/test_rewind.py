"""`lab reset --lesson N` gives the state at the start of lesson N: the same warehouse tables,
lake files, dbt results, gate results and metrics as a fresh sandbox plus lessons 01..N-1 give,
and lesson N's notebook then reproduces its saved outputs from there (nbval).

The reference is the real thing: the session's lesson walk (tests/lesson_walk.py), the lesson
notebooks executed one after the other on the sandbox `lab setup` prepares, fingerprinted after
each lesson; the reset starts from a copy of its sandbox after lesson 05.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from lab import cli
from tests.exercises.conftest import layout
from tests.helpers import run_nbval as nbval
from tests.lesson_walk import CHANGING, assert_same_state, fingerprint, sanitize_config

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lessons_done(lesson_walk, lab_env, tmp_path, monkeypatch) -> Path:
    """A private copy of the walk's sandbox after lesson 05, active for one test."""
    base = tmp_path / "sandbox"
    shutil.copytree(lesson_walk.kept_sandbox(), base, symlinks=True)
    for name, value in layout(base).items():
        monkeypatch.setenv(name, value)
    return base


def run_nbval(notebook: str, base: Path) -> subprocess.CompletedProcess:
    notebook_path = ROOT / "notebooks" / f"{notebook}.ipynb"
    return nbval(notebook_path, layout(base), sanitize_config(base, base), timeout=600)


@pytest.mark.parametrize("lesson", ["02", "04"])
def test_reset_to_a_lesson_gives_the_state_the_lessons_before_it_leave(
    lesson_walk, lessons_done, lesson, capsys
):
    assert cli.main(["reset", "--lesson", str(int(lesson)), "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"Back to the start of lesson {lesson}. This removes:" in out, out
    assert "the batches of 2026-11-02, 2026-11-03" in out, out
    assert "orchestration_demo (ingestion)" in out and "dirty_demo (ingestion, quality)" in out
    assert_same_state(
        fingerprint([*lesson_walk.masks, lessons_done]),
        lesson_walk.start_of(lesson),
        f"reset to lesson {lesson} against a fresh sandbox plus the lessons before it",
    )
    notebook = next(n for n in CHANGING if n.startswith(lesson))
    result = run_nbval(notebook, lessons_done)
    assert result.returncode == 0, (
        f"{notebook} does not reproduce its saved outputs after `lab reset --lesson {lesson}`:\n"
        + result.stdout[-6000:]
        + result.stderr[-2000:]
    )


@pytest.mark.postgres
def test_reset_to_a_lesson_on_the_stack_profile(postgres_dsn, stack_lake, monkeypatch, capsys):
    """PostgreSQL and S3: the same rebuild, with exercise 01's day kept and a "Try it" day gone."""
    from lab import ingest, sandbox, steps
    from lab.profiles import get_lake, get_warehouse
    from lab.sandbox.rewind_plan import DAY_TABLES, LESSON_DATE

    monkeypatch.setenv("WAREHOUSE_URL", postgres_dsn)
    exercise_day, try_it = "2026-11-10", "2026-11-20"
    sandbox.prepare(history_days=1, say=lambda _: None)
    steps.ingestion(LESSON_DATE, run_id="lesson")
    ingest.land_batch(exercise_day, dirty=0.2)
    ingest.load_batch(exercise_day)
    steps.transformation(run_id="lesson")
    steps.ingestion(try_it, run_id="try_it")
    steps.quality(try_it, run_id="try_it")
    warehouse = get_warehouse()

    def rows_of(day):
        return {
            t: sorted(
                map(str, warehouse.query(f"select * from {t} where batch_date = ?", [day]).values)
            )
            for t in DAY_TABLES
        }

    kept = rows_of(exercise_day)
    assert cli.main(["reset", "--lesson", "2", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"the batches of {try_it}" in out and "try_it (ingestion, quality)" in out, out
    assert rows_of(exercise_day) == kept
    dates = {d.isoformat() for d in ingest.loaded_dates()}
    assert dates == {"2026-10-31", LESSON_DATE.isoformat(), exercise_day}, dates
    assert get_lake().list(ingest.batch_path(try_it)) == []
    runs = warehouse.query("select distinct run_id, step from ops.step_runs order by 1, 2")
    assert [tuple(r) for r in runs.values] == [
        ("history_2026-10-31", "dbt"),
        ("history_2026-10-31", "ingestion"),
        ("history_2026-10-31", "quality"),
        ("lesson", "ingestion"),
    ], runs
    marts = {
        pd.Timestamp(d).date().isoformat()
        for d in warehouse.query("select order_date from daily_revenue")["order_date"]
    }
    assert "2026-10-31" in marts, sorted(marts)
    assert LESSON_DATE.isoformat() not in marts and exercise_day not in marts, (
        f"at the start of lesson 02 the marts hold only what `lab setup` built: {sorted(marts)}"
    )
