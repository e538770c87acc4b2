"""The quality gate's results, readable: one row an expectation, with what it expected and what
it observed, and a failure that names them (`GateResult`, `SuiteResult`)."""

from __future__ import annotations

import datetime as dt
import numbers
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lab.errors import QualityGateError


@dataclass
class SuiteResult:
    """One suite's outcome with one row an expectation."""

    suite: str
    success: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    rows_validated: int = 0

    @property
    def passed(self) -> int:
        return sum(1 for r in self.rows if r["success"])

    @property
    def failed(self) -> int:
        return len(self.rows) - self.passed


@dataclass
class GateResult:
    """The quality gate: every suite's result, readable as a table."""

    suites: list[SuiteResult]
    batch_date: dt.date | None = None

    @property
    def success(self) -> bool:
        return all(s.success for s in self.suites)

    @property
    def passed(self) -> int:
        return sum(s.passed for s in self.suites)

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.suites)

    @property
    def rows_validated(self) -> int:
        """Rows the gate read, over every suite (the step's `rows_in`)."""
        return sum(s.rows_validated for s in self.suites)

    def table(self) -> pd.DataFrame:
        """One row an expectation: what it expects, what it observed, unexpected rows, examples."""
        rows = [{"suite": s.suite, **r} for s in self.suites for r in s.rows]
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)

    def failures(self) -> pd.DataFrame:
        """The failed expectations, each with the expected range and the value observed."""
        table = self.table()
        return table[~table["success"]].reset_index(drop=True)

    def __str__(self) -> str:
        verdict = "PASSED" if self.success else "FAILED"
        return f"Quality gate {verdict}: {self.passed} expectations passed, {self.failed} failed"

    def raise_on_failure(self) -> GateResult:
        if self.success:
            return self
        failed = self.failures()
        what = "; ".join(
            f"{r.suite}: {r.expectation}({r.column or 'table'}) expected {r.expected}, "
            f"observed: {r.observed}"
            for r in failed.itertuples()
        )
        raise QualityGateError(
            f"The quality gate failed: {what}. Fix: look at the failing rows "
            "(gate.failures(), the Data Docs), correct the data upstream, and run the pipeline again."
        )


def suite_result(suite_name: str, validations: list) -> SuiteResult:
    """One suite's outcome from its validation results (a checkpoint run's `run_results`)."""
    results = [r for validation in validations for r in validation.results]
    return SuiteResult(
        suite=suite_name,
        success=all(bool(validation.success) for validation in validations),
        rows=[expectation_row(r) for r in results],
        rows_validated=rows_validated(results),
    )


TABLE_COLUMNS = [
    "suite",
    "expectation",
    "column",
    "success",
    "expected",
    "observed",
    "unexpected",
    "examples",
]


def rows_validated(results) -> int:
    """Rows in the validated batch: the row count a table expectation saw, or a column's count."""
    counts = [
        (r.result or {}).get("observed_value")
        if r.expectation_config.type == "expect_table_row_count_to_be_between"
        else (r.result or {}).get("element_count")
        for r in results
    ]
    return max((int(c) for c in counts if isinstance(c, int | float)), default=0)


def number_text(value) -> str:
    """A number to two decimals at most: 10, 292.61, 22268.95."""
    if not isinstance(value, numbers.Real):
        return str(value)
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


_RULES = {
    "expect_column_values_to_not_be_null": "no nulls",
    "expect_column_values_to_be_unique": "unique values",
}


def _expected(kind: str, kwargs: dict[str, Any]) -> str:
    """What an expectation asks for, in words: `between 10 and 250`, `in {placed, ...}`."""
    if kind in _RULES:
        return _RULES[kind]
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"between {number_text(low)} and {number_text(high)}"
    if low is not None:
        return f">= {number_text(low)}"
    if high is not None:
        return f"<= {number_text(high)}"
    if "value_set" in kwargs:
        return "in {" + ", ".join(map(str, kwargs["value_set"])) + "}"
    return ""


def _observed(result: dict[str, Any]) -> str:
    """What GX saw: the aggregate (a mean, a row count), or how many rows broke the rule."""
    if "observed_value" in result:
        value = result["observed_value"]
        return number_text(value)
    if "element_count" in result:
        return f"{int(result.get('unexpected_count') or 0)} of {result['element_count']} rows fail"
    return ""


def expectation_row(r) -> dict[str, Any]:
    config = r.expectation_config
    result = r.result or {}
    examples = result.get("partial_unexpected_list") or []
    rule = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "column")}
    return {
        "expectation": config.type,
        "column": config.kwargs.get("column", ""),
        "success": bool(r.success),
        "expected": _expected(config.type, rule),
        "observed": _observed(result),
        "unexpected": int(result.get("unexpected_count") or 0),
        "examples": ", ".join(map(str, examples[:3])),
    }
