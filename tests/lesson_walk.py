"""The lessons walked once a test run: the reference for nbval and for `lab reset --lesson N`.

`walk()` executes every lesson notebook in order on the sandbox `lab setup` prepares, under
nbval (outputs compared with the saved ones, volatile values sanitized), in a subprocess that
loads this module as a plugin: after each lesson that changes the state (01-05), once its
kernel has stopped, the plugin fingerprints the sandbox, and after lesson 05 it keeps a copy
of the whole sandbox.

tests/notebooks/test_lessons.py asserts nbval's verdict; tests/lab/test_rewind.py compares the
state `lab reset --lesson N` leaves with the walk's state at the start of lesson N, on a copy of
the sandbox kept after lesson 05. One walk serves both: the `lesson_walk` fixture builds it once
a test run, like the prepared templates (the first worker that needs it; ~50 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.config import get_settings
from lab.exercises import grading
from tests.helpers import run_nbval

ROOT = Path(__file__).resolve().parents[1]
# Lesson 00 only reads the state; 01-05 change it (06 and 07 come after what a reset replays).
CHANGING = ["01_ingestion", "02_dbt", "03_great_expectations", "04_monitoring", "05_orchestration"]
KEPT_AFTER = "05"
# Columns whose values are clock readings: equal states differ there.
VOLATILE = {"loaded_at", "quarantined_at", "started_at", "finished_at", "duration_s"}
# What the walk's nbval subprocess reads: where to write, which folders to mask, the sandbox.
WALK_DIR, WALK_MASKS, WALK_SANDBOX = "LESSON_WALK_DIR", "LESSON_WALK_MASKS", "LESSON_WALK_SANDBOX"


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


def sanitize_config(folder: Path, sandbox: Path) -> Path:
    """tests/notebooks/sanitize.cfg plus this sandbox's folder, masked as `make notebooks`'."""
    path = folder / "sanitize.cfg"
    path.write_text(
        (ROOT / "tests/notebooks/sanitize.cfg").read_text()
        + f"\n[this_sandbox]\nregex: {re.escape(str(sandbox))}\nreplace: <SANDBOX>\n"
    )
    return path


@dataclass(frozen=True)
class LessonWalk:
    """A walk's folder (a copy of it): nbval's verdict, the states, the kept sandbox."""

    folder: Path

    @property
    def nbval(self) -> dict:
        """{"returncode", "stdout", "stderr"} of nbval over every lesson."""
        return json.loads((self.folder / "nbval.json").read_text())

    @property
    def masks(self) -> list[Path]:
        """The folders the states name and a fingerprint masks (the walk's sandbox, and the
        prepared template it was copied from, which the history's load records name)."""
        return [Path(p) for p in json.loads((self.folder / "masks.json").read_text())]

    def start_of(self, lesson: str) -> dict:
        """The fingerprint at the start of lesson `lesson` ("02": after lesson 01)."""
        before = f"{int(lesson) - 1:02d}"
        return pickle.loads((self.folder / f"after-{before}.pickle").read_bytes())

    def kept_sandbox(self) -> Path:
        """The sandbox as it was after lesson 05 (a layout like grading.scratch_env's)."""
        return self.folder / f"after-{KEPT_AFTER}"


def walk(folder: Path, prepared, template: Path) -> None:
    """Walk the lessons in `folder`, in a scratch sandbox holding a copy of `prepared` (the
    LabPaths of a copy of what `lab setup` prepares; `template`: the folder it was built in)."""
    sandbox = folder / "sandbox"
    env = grading.scratch_env(sandbox)
    shutil.rmtree(env["LAB_GX_ROOT"])
    for source, target in (
        (prepared.home, "LAB_HOME"),
        (prepared.runs_dir, "LAB_RUNS_DIR"),
        (prepared.gx_root, "LAB_GX_ROOT"),
    ):
        shutil.copytree(source, env[target], symlinks=True)
    masks = [sandbox, template]
    (folder / "masks.json").write_text(json.dumps([str(p) for p in masks]))
    result = run_nbval(
        ROOT / "notebooks",
        {
            **env,
            "GX_ANALYTICS_ENABLED": "false",
            WALK_DIR: str(folder),
            WALK_MASKS: os.pathsep.join(str(p) for p in masks),
            WALK_SANDBOX: str(sandbox),
        },
        sanitize_config(folder, sandbox),
        plugins=("tests.lesson_walk",),
    )
    (folder / "nbval.json").write_text(
        json.dumps(
            {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}
        )
    )


# --- the plugin, in the walk's nbval subprocess -----------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After a changing lesson's last cell, once its kernel has stopped: fingerprint the state;
    after lesson 05, keep the sandbox."""
    result = yield
    folder = os.environ.get(WALK_DIR)
    lesson = item.path.stem
    if not folder or lesson not in CHANGING:
        return result
    if nextitem is not None and nextitem.path == item.path:
        return result
    bases = [Path(p) for p in os.environ[WALK_MASKS].split(os.pathsep)]
    number = lesson[:2]
    (Path(folder) / f"after-{number}.pickle").write_bytes(pickle.dumps(fingerprint(bases)))
    if number == KEPT_AFTER:
        shutil.copytree(os.environ[WALK_SANDBOX], Path(folder) / f"after-{number}", symlinks=True)
    return result
