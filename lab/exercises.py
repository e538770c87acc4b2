"""Exercise checks: they inspect the state the learner produced and say what is still missing.

A check never says "passed" when something failed: every requirement is checked, each one
reports its own verdict, and the exercise passes only when all do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from lab.config import QUARANTINE_ORDERS, RAW_ORDERS, get_settings
from lab.contract import as_date
from lab.warehouse import get_warehouse

# The day each exercise works on, so exercises never disturb the lessons' data.
EXERCISE_DATE = "2026-11-10"


@dataclass
class Requirement:
    text: str
    ok: bool
    hint: str = ""


@dataclass
class Feedback:
    exercise: str
    requirements: list[Requirement] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.requirements) and all(r.ok for r in self.requirements)

    def __str__(self) -> str:
        lines = [f"Exercise {self.exercise}: {'PASSED' if self.passed else 'not yet'}"]
        for r in self.requirements:
            lines.append(f"  [{'x' if r.ok else ' '}] {r.text}")
            if not r.ok and r.hint:
                lines.append(f"      hint: {r.hint}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:  # shown in a notebook
        lines = [f"**Exercise {self.exercise}: {'passed' if self.passed else 'not yet'}**", ""]
        for r in self.requirements:
            lines.append(f"- {'✅' if r.ok else '⬜'} {r.text}")
            if not r.ok and r.hint:
                lines.append(f"  - *hint:* {r.hint}")
        return "\n".join(lines)


def _count(sql: str, params: list) -> int:
    warehouse = get_warehouse()
    return int(warehouse.scalar(sql, params) or 0)


def check_01() -> Feedback:
    """Load a dirty batch for EXERCISE_DATE and account for every row."""
    from lab.ingest import batch_path
    from lab.lake import get_lake

    day = as_date(EXERCISE_DATE)
    feedback = Feedback("01 · a dirty day")
    warehouse = get_warehouse()
    landed = get_lake().exists(batch_path(day))
    feedback.requirements.append(
        Requirement(
            f"the batch for {day} is landed in the raw zone",
            landed,
            f'call ingest.land_batch("{day}", dirty=...) with a dirty fraction above 0',
        )
    )
    has_tables = warehouse.table_exists(RAW_ORDERS) and warehouse.table_exists(QUARANTINE_ORDERS)
    loaded = quarantined = 0
    if has_tables:
        loaded = _count(f"select count(*) from {RAW_ORDERS} where batch_date = ?", [day])
        quarantined = _count(
            f"select count(*) from {QUARANTINE_ORDERS} where batch_date = ?", [day]
        )
    feedback.requirements.append(
        Requirement(
            f"rows for {day} are loaded into {RAW_ORDERS} ({loaded} found)",
            loaded > 0,
            f'after landing, call ingest.load_batch("{day}")',
        )
    )
    feedback.requirements.append(
        Requirement(
            f"the dirty rows of {day} are in {QUARANTINE_ORDERS} ({quarantined} found)",
            quarantined > 0,
            "land the batch with dirty=0.1 or more, then load it again: a clean batch quarantines nothing",
        )
    )
    reconciled = False
    if landed and loaded:
        from lab.ingest import read_batch

        rows_in = len(read_batch(batch_path(day)))
        reconciled = rows_in == loaded + quarantined
    feedback.requirements.append(
        Requirement(
            "rows in the file = rows loaded + rows quarantined",
            reconciled,
            "load the landed file once more with ingest.load_batch: a load replaces that day's rows",
        )
    )
    return feedback


def check_02() -> Feedback:
    """Build only the staging layer with a dbt selector, all tests passing."""
    feedback = Feedback("02 · build one layer")
    results_file = get_settings().dbt_target_dir / "run_results.json"
    results = []
    if results_file.exists():
        results = json.loads(results_file.read_text()).get("results", [])
    ids = [r.get("unique_id", "") for r in results]
    models = {i.split(".")[-1] for i in ids if i.startswith("model.")}
    feedback.requirements.append(
        Requirement(
            "the last dbt command built models",
            bool(models),
            "run transform.build(select=...) with a selector for the staging folder",
        )
    )
    feedback.requirements.append(
        Requirement(
            f"it built the staging models and nothing else (built: {', '.join(sorted(models)) or 'none'})",
            bool(models) and all(m.startswith("stg_") for m in models),
            "dbt's selector for a folder is `path:models/staging` (or `staging`, the folder name)",
        )
    )
    ran_tests = any(i.startswith("test.") for i in ids)
    all_ok = bool(results) and all(r.get("status") in ("success", "pass") for r in results)
    feedback.requirements.append(
        Requirement(
            "the same command ran the staging models' tests, and every node passed",
            ran_tests and all_ok,
            "`build` runs tests as well as models; `run` does not",
        )
    )
    return feedback


def check_03(answer: str | None = None) -> Feedback:
    """Find which expectation a dirty day breaks, from the gate's stored validation results."""
    from lab.quality import run_name

    day = as_date(EXERCISE_DATE)
    feedback = Feedback("03 · read the gate")
    stored = get_settings().gx_validations_dir / "orders"
    files = sorted((stored / run_name("orders", day)).rglob("*.json")) if stored.exists() else []
    failed: set[str] = set()
    if files:  # the newest run of that day
        latest = json.loads(files[-1].read_text())
        failed = {r["expectation_config"]["type"] for r in latest["results"] if not r["success"]}
    feedback.requirements.append(
        Requirement(
            f"the quality gate ran on the orders of {day}",
            bool(files),
            f'load a dirty batch for {day} (as in exercise 01), then call quality.run_gate("{day}")',
        )
    )
    feedback.requirements.append(
        Requirement(
            "the gate's latest run on that day failed",
            bool(failed),
            "a dirty fraction of 0.1 or more makes implausible amounts reach the gate",
        )
    )
    right = bool(answer) and answer in failed
    feedback.requirements.append(
        Requirement(
            f"your answer names an expectation that failed (you said: {answer!r})",
            right,
            "look at gate.failures(): the `expectation` column holds names like "
            "expect_column_mean_to_be_between",
        )
    )
    return feedback


CHECKS: dict[str, Callable[..., Feedback]] = {"01": check_01, "02": check_02, "03": check_03}


def check(exercise: str, **answers) -> Feedback:
    """Run an exercise's check by its number, e.g. `check("01")`."""
    return CHECKS[exercise](**answers)
