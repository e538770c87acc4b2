"""`lab reset --lesson N` gives the state at the start of lesson N: the same warehouse tables,
lake files, dbt results, gate results and metrics as a fresh sandbox plus lessons 01..N-1 give,
and lesson N's notebook then reproduces its saved outputs from there (nbval).

The reference is the real thing: the lesson notebooks executed one after the other on a fresh
sandbox (once a module; the sandbox `lab setup` prepares, copied from the test run's template),
fingerprinted after the lessons a reset goes back to.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from lab import cli
from lab.config import HISTORY_DAYS, environ, get_settings
from tests.conftest import prepared_copy
from tests.exercises.conftest import layout
from tests.helpers import run_nbval as nbval

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# Lesson 00 only reads the state; 01-05 change it.
LESSONS = ["01_ingestion", "02_dbt", "03_great_expectations", "04_monitoring", "05_orchestration"]
# Columns whose values are clock readings: equal states differ there.
VOLATILE = {"loaded_at", "quarantined_at", "started_at", "finished_at", "duration_s"}


def fingerprint(bases: list[Path]) -> dict[str, object]:
    """The sandbox's state as comparable values, with the sandbox's own folders masked (a state
    folder, LAB_HOME, as `<base>/<home>`: the template's is `home`, a scratch sandbox's `state`)."""
    from lab.profiles import get_warehouse

    settings = get_settings()

    def masked(value):
        text = str(value)
        for base in bases:
            for home in ("home", "state"):
                text = text.replace(f"{base}/{home}/", "<base>/<home>/")
            text = text.replace(str(base), "<base>")
        return text

    found: dict[str, object] = {}
    warehouse = get_warehouse(settings)
    listing = warehouse.query(
        "select table_schema, table_name, table_type from information_schema.tables "
        "where table_schema not in ('information_schema', 'pg_catalog') order by 1, 2"
    )
    found["warehouse objects"] = [tuple(r) for r in listing.itertuples(index=False)]
    for schema, name, _ in found["warehouse objects"]:
        frame = warehouse.query(f'select * from "{schema}"."{name}"')
        frame = frame[[c for c in frame.columns if c not in VOLATILE]]
        rows = sorted(tuple(masked(v) for v in row) for row in frame.itertuples(index=False))
        found[f"table {schema}.{name}"] = (list(frame.columns), rows)
    lake = settings.lake_root
    found["lake files"] = {
        p.relative_to(lake).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake.rglob("*"))
        if p.is_file()
    }
    target = settings.dbt_target_dir
    results = json.loads((target / "run_results.json").read_text())
    found["dbt run results"] = (
        results["args"].get("which"),
        sorted((r["unique_id"], r["status"]) for r in results["results"]),
    )
    manifest = json.loads((target / "manifest.json").read_text())
    found["dbt manifest nodes"] = sorted(manifest["nodes"])
    validations = settings.gx_validations_dir
    found["gate results"] = sorted(
        (
            f.relative_to(validations).parts[:2],
            json.loads(f.read_text())["success"],
            len(json.loads(f.read_text())["results"]),
        )
        for f in validations.rglob("*.json")
    )
    found["metrics files"] = {
        p.name: sorted(
            line
            for line in p.read_text().splitlines()
            if line.startswith(("lab_step_rows", "lab_step_success", "lab_quality"))
        )
        for p in sorted(settings.metrics_dir.glob("*.prom"))
    }
    found["saved runs"] = sorted(p.name for p in settings.runs_dir.glob("*"))
    return found


def assert_same_state(actual: dict, expected: dict, what: str) -> None:
    assert list(actual) == list(expected), (
        f"{what}: the state has {sorted(set(actual) ^ set(expected))} on one side only"
    )
    for key in expected:
        a, e = actual[key], expected[key]
        if a != e:
            if isinstance(e, tuple) and len(e) == 2 and isinstance(e[1], list):
                a_rows, e_rows = set(map(str, a[1])), set(map(str, e[1]))
                detail = (
                    f"columns {a[0]} vs {e[0]}; only after the reset: {sorted(a_rows - e_rows)[:3]}; "
                    f"only in the reference: {sorted(e_rows - a_rows)[:3]}"
                )
            else:
                detail = f"after the reset: {a}\nreference: {e}"
            pytest.fail(f"{what}: {key} differs.\n{detail}", pytrace=False)


@pytest.fixture(scope="module")
def after_lessons(tmp_path_factory, prepared_templates):
    """Lessons 01-05 executed on a fresh sandbox: (its base folder, fingerprints by lesson
    reached: "02" is the state at the start of lesson 02, i.e. after lesson 01, and the folders
    to mask: this one and the template's, which the history's load records name)."""
    from lab import sandbox
    from lab.exercises import grading
    from lab.pipeline import run_notebook

    base = tmp_path_factory.mktemp("lessons")
    env = grading.scratch_env(base)
    prepared = prepared_copy(prepared_templates, HISTORY_DAYS)  # what `lab setup` leaves
    shutil.rmtree(env["LAB_GX_ROOT"])
    for source, target in (
        (prepared.home, "LAB_HOME"),
        (prepared.runs_dir, "LAB_RUNS_DIR"),
        (prepared.gx_root, "LAB_GX_ROOT"),
    ):
        shutil.copytree(source, env[target], symlinks=True)
    masked = [base, prepared_templates.path(("lab", HISTORY_DAYS), "prepared")]
    starts = {}
    with environ({**env, "GX_ANALYTICS_ENABLED": "false"}):
        assert not sandbox.prepare(say=lambda _: None), "the copy must be a prepared sandbox"
        for name in LESSONS:
            run_notebook(get_settings().notebooks_dir / f"{name}.ipynb", timeout=600)
            starts[f"{int(name[:2]) + 1:02d}"] = fingerprint(masked)
    return base, starts, masked


@pytest.fixture
def lessons_done(after_lessons, lab_env, tmp_path, monkeypatch) -> Path:
    """A private copy of the sandbox after every lesson, active for one test."""
    base = tmp_path / "sandbox"
    shutil.copytree(after_lessons[0], base, symlinks=True)
    for name, value in layout(base).items():
        monkeypatch.setenv(name, value)
    return base


def run_nbval(notebook: str, base: Path) -> subprocess.CompletedProcess:
    sanitize = base / "sanitize.cfg"
    sanitize.write_text(
        (ROOT / "tests/notebooks/sanitize.cfg").read_text()
        + f"\n[this_sandbox]\nregex: {re.escape(str(base))}\nreplace: <SANDBOX>\n"
    )
    notebook_path = ROOT / "notebooks" / f"{notebook}.ipynb"
    return nbval(notebook_path, layout(base), sanitize, timeout=600)


@pytest.mark.parametrize("lesson", ["02", "04"])
def test_reset_to_a_lesson_gives_the_state_the_lessons_before_it_leave(
    after_lessons, lessons_done, lesson, capsys
):
    _, starts, masked = after_lessons
    assert cli.main(["reset", "--lesson", str(int(lesson)), "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"Back to the start of lesson {lesson}. This removes:" in out, out
    assert "the batches of 2026-11-02, 2026-11-03" in out, out
    assert "orchestration_demo (ingestion)" in out and "dirty_demo (ingestion, quality)" in out
    assert_same_state(
        fingerprint([*masked, lessons_done]),
        starts[lesson],
        f"reset to lesson {lesson} against a fresh sandbox plus the lessons before it",
    )
    notebook = next(n for n in LESSONS if n.startswith(lesson))
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
