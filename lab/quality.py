"""Great Expectations 1.x: the suites, the gate, and a summary a person can read.

The suites are declared once, in `SUITES` below; `ensure_project()` writes them into the file
context in `great_expectations/gx/` (committed), together with the data sources, validation
definitions and one checkpoint per suite and profile. `run_gate()` runs the checkpoints.

GX cannot query DuckDB (through duckdb-engine every metric comes back empty), so on `local`
the tables are read from DuckDB into pandas DataFrames and validated there; on `stack` GX
validates inside PostgreSQL, with the connection string substituted from WAREHOUSE_URL.
"""

from __future__ import annotations

import datetime as dt
import logging
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lab.config import RAW_CUSTOMERS, RAW_ORDERS, Settings, environ, get_settings
from lab.contract import STATUSES, as_date
from lab.errors import QualityGateError
from lab.profiles import gx_lookup, profile_of

# suite name -> (table it validates, [(expectation class, kwargs), ...])
SUITES: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
    "raw_customers": (
        RAW_CUSTOMERS,
        [
            ("ExpectTableRowCountToBeBetween", {"min_value": 1}),
            ("ExpectColumnValuesToNotBeNull", {"column": "id"}),
            ("ExpectColumnValuesToBeUnique", {"column": "id"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "first_name"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "last_name"}),
        ],
    ),
    "orders": (
        RAW_ORDERS,
        [
            ("ExpectTableRowCountToBeBetween", {"min_value": 1}),
            ("ExpectColumnValuesToBeUnique", {"column": "order_id"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "customer_id"}),
            ("ExpectColumnValuesToBeBetween", {"column": "customer_id", "min_value": 1}),
            ("ExpectColumnValuesToBeInSet", {"column": "status", "value_set": list(STATUSES)}),
            (
                "ExpectColumnValuesToBeBetween",
                {"column": "amount", "min_value": 0, "max_value": 1000},
            ),
            (
                "ExpectColumnMeanToBeBetween",
                {"column": "amount", "min_value": 10, "max_value": 250},
            ),
        ],
    ),
}


def _quiet() -> None:
    """GX logs errors only. Some of its modules set their own level when imported (the ephemeral
    context's "Created temporary directory ..." is INFO), so import first, then set every one."""
    warnings.filterwarnings("ignore", module="great_expectations")
    with environ({"GX_ANALYTICS_ENABLED": "false"}):  # read once, when GX is first imported
        import great_expectations  # noqa: F401

    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.split(".")[0] == "great_expectations" and isinstance(logger, logging.Logger):
            if logger.level != logging.NOTSET and logger.level < logging.ERROR:
                logger.setLevel(logging.ERROR)
    logging.getLogger("great_expectations").setLevel(logging.ERROR)


def _name(suite: str, settings: Settings) -> str:
    return f"{suite}_{settings.profile}"


def get_context(settings: Settings | None = None):
    """The file context in `great_expectations/gx/`, with every object the sandbox needs."""
    settings = settings or get_settings()
    _quiet()
    import great_expectations as gx

    with environ(profile_of(settings).gx_env()):
        return gx.get_context(mode="file", project_root_dir=str(settings.gx_root))


def _expectations(suite: str) -> list:
    import great_expectations.expectations as gxe

    return [getattr(gxe, cls)(**kwargs) for cls, kwargs in SUITES[suite][1]]


def ensure_project(settings: Settings | None = None, context=None):
    """Create whatever the file context lacks for the active profile; keep suites as declared."""
    settings = settings or get_settings()
    profile = profile_of(settings)
    context = context or get_context(settings)
    with environ(profile.gx_env()):  # GX reads the stack's connection string when it connects
        _declare(context, profile, settings)
    return context


def _declare(context, profile, settings: Settings) -> None:
    import great_expectations as gx

    source = profile.gx_source(context)
    for suite_name, (table, _) in SUITES.items():
        suite = gx_lookup(context.suites, suite_name)
        wanted = _expectations(suite_name)
        if suite is None:
            suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=wanted))
        elif _signature(suite.expectations) != _signature(wanted):
            context.suites.delete(suite_name)
            suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=wanted))
        batch = profile.gx_batch_definition(profile.gx_asset(source, table), table)
        name = _name(suite_name, settings)
        definition = gx_lookup(context.validation_definitions, name) or (
            context.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=batch, suite=suite)
            )
        )
        if gx_lookup(context.checkpoints, name) is None:
            context.checkpoints.add(
                gx.Checkpoint(
                    name=name,
                    validation_definitions=[definition],
                    actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
                    result_format="SUMMARY",
                )
            )


def _signature(expectations) -> list[tuple[str, str]]:
    return sorted(
        (
            type(e).__name__,
            repr(sorted((k, v) for k, v in e.configuration.kwargs.items() if k != "batch_id")),
        )
        for e in expectations
    )


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


def run_gate(
    batch_date: dt.date | str | None = None,
    suites: list[str] | None = None,
    settings: Settings | None = None,
) -> GateResult:
    """Run each suite's checkpoint (orders: only the given day's batch) and collect the results."""
    settings = settings or get_settings()
    profile = profile_of(settings)
    batch_date = as_date(batch_date) if batch_date is not None else None
    results = []
    with environ(profile.gx_env()):  # the stack's connection string, for this run only
        context = ensure_project(settings)
        for suite_name in suites or list(SUITES):
            table = SUITES[suite_name][0]
            checkpoint = context.checkpoints.get(_name(suite_name, settings))
            outcome = checkpoint.run(
                batch_parameters=profile.gx_batch_parameters(table, batch_date),
                run_id=_run_id(suite_name, batch_date),
            )
            results.append(_suite_result(suite_name, outcome))
    return GateResult(suites=results, batch_date=batch_date)


def run_name(suite_name: str, batch_date: dt.date | None) -> str:
    """The GX run name of a gate run: results are stored under `validations/<suite>/<run name>/`."""
    return f"{suite_name}_{batch_date.isoformat() if batch_date else 'all'}"


def _run_id(suite_name: str, batch_date: dt.date | None):
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=run_name(suite_name, batch_date))


def _suite_result(suite_name: str, outcome) -> SuiteResult:
    results = [r for validation in outcome.run_results.values() for r in validation.results]
    return SuiteResult(
        suite=suite_name,
        success=bool(outcome.success),
        rows=[_row(r) for r in results],
        rows_validated=_rows_validated(results),
    )


def data_docs_path(settings: Settings | None = None) -> str:
    """The Data Docs index page built by the last checkpoint run."""
    settings = settings or get_settings()
    return str(settings.data_docs_index)


def suites_table() -> pd.DataFrame:
    """The declared suites: one row an expectation, with its arguments."""
    rows = []
    for suite, (table, expectations) in SUITES.items():
        for cls, kwargs in expectations:
            args = {k: v for k, v in kwargs.items() if k != "column"}
            rows.append(
                {
                    "suite": suite,
                    "table": table,
                    "expectation": cls,
                    "column": kwargs.get("column", ""),
                    "arguments": ", ".join(f"{k}={v}" for k, v in args.items()),
                }
            )
    return pd.DataFrame(rows)


def validate_frame(suite_name: str, frame: pd.DataFrame) -> GateResult:
    """Validate any DataFrame against a declared suite, in a throwaway context (nothing saved)."""
    _quiet()
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    asset = context.data_sources.add_pandas("scratch").add_dataframe_asset("frame")
    batch = asset.add_batch_definition_whole_dataframe("whole_frame").get_batch(
        batch_parameters={"dataframe": frame}
    )
    suite = gx.ExpectationSuite(name=suite_name, expectations=_expectations(suite_name))
    outcome = batch.validate(suite, result_format="SUMMARY")
    rows = [_row(r) for r in outcome.results]
    result = SuiteResult(suite_name, bool(outcome.success), rows, _rows_validated(outcome.results))
    return GateResult(suites=[result])


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


def _rows_validated(results) -> int:
    """Rows in the validated batch: the row count a table expectation saw, or a column's count."""
    counts = [
        (r.result or {}).get("observed_value")
        if r.expectation_config.type == "expect_table_row_count_to_be_between"
        else (r.result or {}).get("element_count")
        for r in results
    ]
    return max((int(c) for c in counts if isinstance(c, int | float)), default=0)


def _number(value) -> str:
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
        return f"between {_number(low)} and {_number(high)}"
    if low is not None:
        return f">= {_number(low)}"
    if high is not None:
        return f"<= {_number(high)}"
    if "value_set" in kwargs:
        return "in {" + ", ".join(map(str, kwargs["value_set"])) + "}"
    return ""


def _observed(result: dict[str, Any]) -> str:
    """What GX saw: the aggregate (a mean, a row count), or how many rows broke the rule."""
    if "observed_value" in result:
        value = result["observed_value"]
        return _number(value)
    if "element_count" in result:
        return f"{int(result.get('unexpected_count') or 0)} of {result['element_count']} rows fail"
    return ""


def _row(r) -> dict[str, Any]:
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
