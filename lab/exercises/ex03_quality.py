"""Exercise 03 · the quality gate: run it on a dirty day, read it, and add an expectation."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pandas as pd

from lab.config import RAW_ORDERS, Settings, get_settings
from lab.exercises.common import EXERCISE_DATES, day_of, delete_day
from lab.exercises.core import (
    Exercise,
    ExerciseError,
    Task,
    Verdict,
    forget,
    keep_aside,
    register,
    saved_folder,
    shown,
)
from lab.profiles import get_warehouse
from lab.datagen import make_orders
from lab.exercises.answers import CallSpec
from lab.exercises.common import split_rows
from lab.quality import frame_batch
from lab.quality import learner_suite
from lab.quality import run_name
from lab.quality.learner_suite import expectation_kwargs
from lab.quality.learner_suite import remove_expectations
from lab.quality.suites import suite_signature
from lab.quality.suites import declared_expectations

LESSON = "03"
DAY = EXERCISE_DATES["03"]


def _latest_results(settings: Settings | None = None) -> list[dict] | None:

    settings = settings or get_settings()
    stored = settings.gx_validations_dir / "orders" / run_name("orders", day_of(LESSON))
    files = (
        sorted(stored.rglob("*.json"), key=lambda p: p.stat().st_mtime) if stored.exists() else []
    )
    return json.loads(files[-1].read_text())["results"] if files else None


def gate_details(day: str = DAY) -> pd.DataFrame:
    """The gate's latest stored results of a day: expectation, column, success, observed value."""
    results = _latest_results() or []
    return pd.DataFrame(
        [
            {
                "expectation": r["expectation_config"]["type"],
                "column": r["expectation_config"]["kwargs"].get("column", ""),
                "success": r["success"],
                "observed_value": (r.get("result") or {}).get("observed_value"),
                "unexpected_count": (r.get("result") or {}).get("unexpected_count"),
            }
            for r in results
        ],
        columns=["expectation", "column", "success", "observed_value", "unexpected_count"],
    )


def normal_name(name: object) -> str:
    """ExpectColumnMeanToBeBetween, expect_column_mean_to_be_between and the like: one form."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _rows_validated(results: list[dict]) -> int | None:
    """The rows a stored gate run validated (its row-count expectation's observed value)."""
    for r in results:
        if r["expectation_config"]["type"] == "expect_table_row_count_to_be_between":
            observed = (r.get("result") or {}).get("observed_value")
            return int(observed) if observed is not None else None
    return None


def _rows_loaded() -> int:
    warehouse = get_warehouse()
    if not warehouse.table_exists(RAW_ORDERS):
        return 0
    day = day_of(LESSON)
    return int(warehouse.scalar(f"select count(*) from {RAW_ORDERS} where batch_date = ?", [day]))


def check_gate_ran(answers) -> Verdict:
    day = day_of(LESSON)
    results = _latest_results()
    if results is None:
        return Verdict(
            False,
            f"the gate has not run on {day}: land and load a dirty batch for it, then quality.run_gate(day)",
        )
    validated, loaded = _rows_validated(results), _rows_loaded()
    if validated != loaded:
        return Verdict(
            False,
            f"the gate's latest run on {day} validated {validated} rows, but {RAW_ORDERS} holds "
            f"{loaded} rows of {day} now: the rows were loaded again since; run the gate again "
            "(quality.run_gate(day))",
        )
    failed = [r for r in results if not r["success"]]
    if not failed:
        return Verdict(
            False,
            f"the gate's latest run on {day} passed: the batch there is clean; land it with dirty=0.2, load it and run the gate again",
        )
    return Verdict(
        True,
        f"the gate ran on {day} and stopped it: {len(failed)} of {len(results)} expectations failed",
    )


def check_named(answers) -> Verdict:
    results = _latest_results()
    name, value = answers.get("failing_expectation"), answers.get("observed_value")
    if not results or all(r["success"] for r in results):
        return Verdict(False, "first make the gate fail on the day (task 1)")
    if not name:
        return Verdict(False, "set failing_expectation to the name of an expectation that failed")
    matches = [
        r
        for r in results
        if not r["success"] and normal_name(r["expectation_config"]["type"]) == normal_name(name)
    ]
    if not matches:
        if any(normal_name(r["expectation_config"]["type"]) == normal_name(name) for r in results):
            return Verdict(False, f"{name} passed on that day; name one that failed")
        return Verdict(False, f"{name!r} is not an expectation of the orders suite's latest run")
    if value is None:
        return Verdict(False, f"{name} is right; now set observed_value to what the gate observed")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return Verdict(False, f"observed_value={value!r} is not a number")
    for r in matches:
        result = r.get("result") or {}
        observed = result.get("observed_value")
        if observed is not None and abs(float(observed) - number) <= max(
            0.01, abs(float(observed)) * 0.005
        ):
            return Verdict(True, f"{name} failed with an observed value of {observed}")
        if (
            observed is None
            and result.get("unexpected_count") is not None
            and int(result["unexpected_count"]) == number
        ):
            return Verdict(True, f"{name} failed with {number:.0f} unexpected values")
    return Verdict(
        False, f"{name} did fail, but its observed value (or unexpected count) is not {value}"
    )


def expectation_from(answer: Any):
    """A GX expectation from the learner's answer: an expectation object, or its class and arguments."""
    import great_expectations.expectations as gxe

    if answer is None:
        raise ExerciseError(
            "my_expectation is None: set my_expectation to an expectation, e.g. "
            "gxe.ExpectColumn...(column=...), and add it to the orders suite with "
            "quality.add_expectation(my_expectation) (the check judges the notebook's answer, "
            "not an expectation added earlier)"
        )
    if isinstance(answer, CallSpec):
        cls = getattr(gxe, answer.name, None)
        if cls is None:
            raise ExerciseError(f"{answer.name} is not a Great Expectations expectation class")
        return cls(**answer.kwargs)
    if hasattr(answer, "configuration"):
        return answer
    raise ExerciseError(f"my_expectation is a {type(answer).__name__}, not an expectation object")


def _validate(expectation, frame: pd.DataFrame) -> bool:

    return bool(frame_batch(frame).validate(expectation).success)


def _clean_frame() -> pd.DataFrame:

    good, _ = split_rows(make_orders(day_of(LESSON), dirty=0.0), day_of(LESSON))
    return good.assign(amount=good["amount"].astype(float), batch_date=day_of(LESSON))


def _same(a, b) -> bool:

    return suite_signature([a]) == suite_signature([b])


def _problem(expectation) -> str | None:
    """What keeps an expectation from being a good addition to the orders suite, or None."""

    name = type(expectation).__name__
    if any(_same(expectation, e) for e in declared_expectations("orders")):
        return (
            f"the orders suite already has exactly this expectation ({name}); write one of your own"
        )
    missing = learner_suite.missing_columns(expectation, "orders")
    if missing:
        columns = ", ".join(learner_suite.table_columns("orders"))
        return f"{name} names the column {missing[0]!r}, which {RAW_ORDERS} does not have (its columns: {columns})"
    warehouse = get_warehouse()
    day = day_of(LESSON)
    if not warehouse.table_exists(RAW_ORDERS):
        return f"load the dirty batch of {day} first (task 1)"
    dirty = warehouse.query(f"select * from {RAW_ORDERS} where batch_date = ?", [day])
    if dirty.empty:
        return f"no loaded rows of {day}: load the dirty batch first (task 1)"
    dirty["amount"] = dirty["amount"].astype(float)
    if _validate(expectation, dirty):
        return f"{name} passes on the dirty day's loaded rows: it catches none of the defects that got through row validation"
    if not _validate(expectation, _clean_frame()):
        return f"{name} also fails on a clean batch: it flags good data; loosen it so only the defect fails"
    return None


def _in_latest_gate(expectation) -> dict | None:
    """The expectation's result in the gate's latest stored run on the exercise day, or None."""

    wanted = (normal_name(type(expectation).__name__), expectation_kwargs(expectation))
    for r in _latest_results() or []:
        config = r["expectation_config"]
        kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id" and v is not None}
        if (normal_name(config["type"]), kwargs) == wanted:
            return r
    return None


def check_new_expectation(answers) -> Verdict:

    added = learner_suite.learner_expectations("orders")
    expectation = expectation_from(answers.get("my_expectation"))
    problem = _problem(expectation)
    if problem:
        return Verdict(False, problem)
    name = type(expectation).__name__
    day = day_of(LESSON)
    if not any(_same(expectation, e) for e in added):
        others = "; the suite has yours: " + ", ".join(map(learner_suite.describe, added))
        return Verdict(
            False,
            f"{learner_suite.describe(expectation)} catches the defect, but it is not part of "
            f"the orders suite yet{others if added else ''}: "
            f"quality.add_expectation(my_expectation), then run the gate on {day} again",
        )
    for other in added:
        trouble = None if _same(other, expectation) else _problem(other)
        if trouble and "also fails on a clean batch" in trouble:
            return Verdict(
                False,
                f"your other expectation {learner_suite.describe(other)} in the orders suite also fails on a clean batch, "
                "so every clean day's gate would fail: quality.remove_expectations() and add only the one that is right",
            )
    result = _in_latest_gate(expectation)
    if result is None:
        return Verdict(
            False,
            f"{name} is in the orders suite; now run the gate on {day} again (quality.run_gate(day)) so it reports it",
        )
    if result["success"]:
        return Verdict(
            False,
            f"{name} passed in the gate's latest run on {day}: load the dirty batch (task 1) and run the gate again",
        )
    observed = (result.get("result") or {}).get("observed_value")
    seen = f" (observed {observed})" if observed is not None else ""
    return Verdict(
        True,
        f"{name} is in the orders suite, passes on a clean batch, and the gate's latest run on {day} reports it failed{seen}",
    )


def start(settings: Settings) -> list[str]:
    """Undo the exercise; a copy of your expectations goes to `exercises/work/saved/<time>/`."""

    said: list[str] = []
    delete_day(day_of(LESSON), settings, said)
    path = settings.learner_expectations_file
    if path.exists():
        folder = saved_folder(settings)
        (copy,) = keep_aside([path], folder, settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / copy, path)  # remove_expectations() reads it to say what goes
        gone = remove_expectations(settings=settings)
        said += [
            f"your expectation {what} (a copy is in {shown(folder / copy, settings)})"
            for what in gone
        ]
    forget(LESSON, settings)
    return said


EXERCISE = register(
    Exercise(
        lesson=LESSON,
        title="read the gate",
        notebook="03_great_expectations.ipynb",
        answers=("failing_expectation", "observed_value", "my_expectation"),
        start=start,
        work=f"the batch of {DAY} (landed file, loaded and quarantined rows, gate results) and your expectations in the orders suite",
        tasks=[
            Task(
                "1",
                f"run the quality gate on a dirty day ({DAY}) and see it fail",
                check_gate_ran,
                [
                    "As in exercise 01: ingest.land_batch(day, dirty=0.2), then ingest.load_batch(day).",
                    "quality.run_gate(day) validates that day's loaded rows and stores the result.",
                ],
                f'ingest.land_batch("{DAY}", dirty=0.2)\ningest.load_batch("{DAY}")\n'
                f'gate = quality.run_gate("{DAY}")',
            ),
            Task(
                "2",
                "name an expectation that failed, with the value it observed",
                check_named,
                [
                    "gate.failures() lists the failed expectations; either name form works: ExpectColumnMeanToBeBetween or expect_column_mean_to_be_between.",
                    "exercises.gate_details(day) shows each expectation's observed_value (a mean) or unexpected_count (rows out of range).",
                    "For a per-row expectation such as ExpectColumnValuesToBeBetween, the observed value is its count of unexpected rows.",
                ],
                "details = exercises.gate_details(day)\nfailed = details[~details.success].iloc[0]\nfailing_expectation = failed.expectation\nobserved_value = failed.observed_value if failed.observed_value is not None else failed.unexpected_count",
            ),
            Task(
                "3",
                "add an expectation to the orders suite that catches a defect row validation lets through (and nothing on a clean day), and see the gate report it",
                check_new_expectation,
                [
                    "Look at the dirty day's loaded amounts (describe() them): which defects passed row validation?",
                    "A refund booked as a negative amount: an expectation on the smallest amount, or on every amount's lower bound.",
                    "gxe.ExpectColumnMinToBeBetween(column='amount', min_value=0) is one answer; it must differ from the suite's own.",
                    "quality.add_expectation(my_expectation) makes it part of the orders suite; quality.run_gate(day) then runs it with the rest.",
                ],
                'my_expectation = gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0)\n'
                "quality.add_expectation(my_expectation)\n"
                "gate = quality.run_gate(day)\n"
                "gate.failures()",
            ),
        ],
    )
)
