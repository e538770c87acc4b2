"""Great Expectations 1.x: the suites, the gate, and a summary a person can read.

The suites are declared once, in `SUITES` below; `ensure_project()` writes them into the file
context in `great_expectations/gx/` (committed), together with the data sources, validation
definitions and one checkpoint per suite and profile. `run_gate()` runs the checkpoints.

A learner extends a suite with `add_expectation()` (exercise 03): the expectation is kept in the
sandbox state (`Settings.learner_expectations_file`), not in code, and every suite this module
builds is the declared one plus the learner's. `lab reset` and `lab reset --lesson 3` remove it.

GX cannot query DuckDB (through duckdb-engine every metric comes back empty), so on `local`
the tables are read from DuckDB into pandas DataFrames and validated there; on `stack` GX
validates inside PostgreSQL, with the connection string substituted from WAREHOUSE_URL.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lab.config import RAW_CUSTOMERS, RAW_ORDERS, Settings, environ, get_settings
from lab.contract import STATUSES, as_date
from lab.errors import QualityGateError, SuiteError
from lab.profiles import gx_lookup, profile_of
from lab.warehouse import get_warehouse

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


def declared_expectations(suite: str) -> list:
    """The suite as this module declares it (`SUITES`), without a learner's additions."""
    import great_expectations.expectations as gxe

    return [getattr(gxe, cls)(**kwargs) for cls, kwargs in SUITES[suite][1]]


def _expectations(suite: str, settings: Settings | None = None) -> list:
    """The suite the gate runs: the declared expectations, then the learner's."""
    return declared_expectations(suite) + learner_expectations(suite, settings)


# --- a learner's own expectations (exercise 03) ---------------------------------------------

COLUMN_ARGUMENTS = ("column", "column_A", "column_B", "column_list")


def _saved(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    path = settings.learner_expectations_file
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SuiteError(
            f"{path} is not valid JSON ({exc}). Fix: remove your expectations with "
            "quality.remove_expectations() and add them again."
        ) from None
    return data if isinstance(data, dict) else {}


def learner_expectations(suite: str = "orders", settings: Settings | None = None) -> list:
    """The expectations a learner added to a suite with `add_expectation()`, oldest first."""
    import great_expectations.expectations as gxe

    settings = settings or get_settings()
    found = []
    for entry in _saved(settings).get(suite, []):
        cls = getattr(gxe, str(entry.get("type")), None)
        if cls is None:
            raise SuiteError(
                f"{settings.learner_expectations_file} names {entry.get('type')!r}, which is not "
                "a Great Expectations expectation. Fix: quality.remove_expectations() and add "
                "yours again with quality.add_expectation(...)."
            )
        found.append(cls(**entry.get("kwargs", {})))
    return found


def _kwargs(expectation) -> dict[str, Any]:
    return {
        k: v
        for k, v in expectation.configuration.kwargs.items()
        if k != "batch_id" and v is not None
    }


def _columns(expectation) -> list[str]:
    kwargs = _kwargs(expectation)
    found = []
    for name in COLUMN_ARGUMENTS:
        value = kwargs.get(name)
        found += [str(v) for v in value] if isinstance(value, list | tuple) else []
        found += [str(value)] if isinstance(value, str) else []
    return found


def describe(expectation) -> str:
    """`ExpectColumnMinToBeBetween(column=amount, min_value=0)`: an expectation in one line."""
    args = ", ".join(f"{k}={_number(v)}" for k, v in _kwargs(expectation).items())
    return f"{type(expectation).__name__}({args})"


def table_columns(suite: str, settings: Settings | None = None) -> list[str]:
    """The columns of the table a suite validates, as the warehouse has them."""
    from lab.contract import COLUMNS

    table = SUITES[suite][0]
    warehouse = get_warehouse(settings or get_settings())
    schema = warehouse.default_schema
    frame = warehouse.query(
        "select column_name from information_schema.columns where table_schema = ? "
        "and table_name = ? order by ordinal_position",
        [schema, table],
    )
    if frame.empty and table == RAW_ORDERS:  # nothing loaded yet: the contract's columns
        return [*COLUMNS, "batch_date", "source_file", "loaded_at"]
    return [str(c) for c in frame["column_name"]]


def missing_columns(expectation, suite: str = "orders", settings: Settings | None = None):
    """The columns an expectation names that the suite's table lacks (empty when all exist)."""
    have = {c.lower() for c in table_columns(suite, settings)}
    return [c for c in _columns(expectation) if c.lower() not in have]


def _same_rule(a, b) -> bool:
    """One expectation a type and column(s): a new one of the same kind replaces the old one."""
    return type(a).__name__ == type(b).__name__ and _columns(a) == _columns(b)


def add_expectation(expectation, suite: str = "orders", settings: Settings | None = None) -> None:
    """Make an expectation part of a suite: the gate runs it from its next run; says what changed.
    One of yours a type and column: adding another of the same replaces it."""
    settings = settings or get_settings()
    if suite not in SUITES:
        raise SuiteError(
            f"There is no suite {suite!r}. Fix: choose one of {', '.join(sorted(SUITES))}."
        )
    if not hasattr(expectation, "configuration"):
        raise SuiteError(
            f"{expectation!r} is a {type(expectation).__name__}, not a Great Expectations "
            "expectation. Fix: build one, e.g. gxe.ExpectColumnMinToBeBetween(column='amount', "
            "min_value=0) (import great_expectations.expectations as gxe)."
        )
    table = SUITES[suite][0]
    missing = missing_columns(expectation, suite, settings)
    if missing:
        raise SuiteError(
            f"{describe(expectation)} names the column {missing[0]!r}, which {table} does not "
            f"have. Fix: use one of its columns: {', '.join(table_columns(suite, settings))}."
        )
    wanted = _signature([expectation])
    if any(_signature([e]) == wanted for e in declared_expectations(suite)):
        raise SuiteError(
            f"The {suite} suite already has {describe(expectation)}. Fix: write an expectation "
            "of your own (another kind, column or bound)."
        )
    data = _saved(settings)
    mine = learner_expectations(suite, settings)
    replaced = [e for e in mine if _same_rule(e, expectation)]
    mine = [e for e in mine if not _same_rule(e, expectation)] + [expectation]
    data[suite] = [{"type": type(e).__name__, "kwargs": _kwargs(e)} for e in mine]
    _write(settings, data)
    what = f"replaced {describe(replaced[0])} with" if replaced else "added"
    print(f"The {suite} suite: {what} {describe(expectation)}; the gate runs it from its next run.")


def remove_expectations(suite: str | None = None, settings: Settings | None = None) -> list[str]:
    """Remove a learner's expectations from one suite (or every suite); return what went."""
    settings = settings or get_settings()
    data = _saved(settings)
    removed = []
    for name in [suite] if suite else list(data):
        removed += [f"{name}: {describe(e)}" for e in learner_expectations(name, settings)]
        data.pop(name, None)
    _write(settings, data)
    return removed


def _write(settings: Settings, data: dict) -> None:
    path = settings.learner_expectations_file
    data = {k: v for k, v in data.items() if v}
    if not data:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


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
        wanted = _expectations(suite_name, settings)
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
    """The suites the gate runs: one row an expectation (the declared ones, then a learner's)."""
    rows = []
    for suite, (table, expectations) in SUITES.items():
        mine = [(type(e).__name__, _kwargs(e)) for e in learner_expectations(suite)]
        for cls, kwargs in [*expectations, *mine]:
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
    """Validate any DataFrame against a suite as the gate runs it, in a throwaway context."""
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
