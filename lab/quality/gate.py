"""Great Expectations 1.x: the GX project, the gate that runs the suites, and their overview.

The suites are declared once, in `lab.quality.suites`; `ensure_project()` writes them into the file
context in `great_expectations/gx/` (committed), together with the data sources, validation
definitions and one checkpoint per suite and profile. `run_gate()` runs the checkpoints and
returns a `GateResult` (`lab.quality.report`).

A learner extends a suite with `add_expectation()` (exercise 03, `lab.quality.learner_suite`): every
suite this module builds is the declared one plus the learner's.

GX cannot query DuckDB (through duckdb-engine every metric comes back empty), so on `local`
the tables are read from DuckDB into pandas DataFrames and validated there; on `stack` GX
validates inside PostgreSQL, with the connection string substituted from WAREHOUSE_URL.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings

import pandas as pd

from lab.config import Settings, environ, get_settings
from lab.contract import as_date
from lab.quality.learner_suite import (
    expectation_kwargs,
    learner_expectations,
    use_state_suites,
)
from lab.quality.report import (
    GateResult,
    SuiteResult,
    expectation_row,
    rows_validated,
    suite_result,
)
from lab.quality.sources import gx_lookup, source_for
from lab.quality.suites import SUITES, declared_expectations, suite_signature


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

    with environ(source_for(settings).env()):
        context = gx.get_context(mode="file", project_root_dir=str(settings.gx_root))
    return use_state_suites(context, settings)  # a learner's suites never touch the committed ones


def _expectations(suite: str, settings: Settings | None = None) -> list:
    """The suite the gate runs: the declared expectations, then the learner's."""
    return declared_expectations(suite) + learner_expectations(suite, settings)


def ensure_project(settings: Settings | None = None, context=None):
    """Create whatever the file context lacks for the active profile; keep suites as declared."""
    settings = settings or get_settings()
    where = source_for(settings)
    context = context or get_context(settings)
    with environ(where.env()):  # GX reads the stack's connection string when it connects
        _declare(context, where, settings)
    return context


def _declare(context, where, settings: Settings) -> None:
    import great_expectations as gx

    source = where.source(context)
    for suite_name, (table, _) in SUITES.items():
        suite = gx_lookup(context.suites, suite_name)
        wanted = _expectations(suite_name, settings)
        if suite is None:
            suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=wanted))
        elif suite_signature(suite.expectations) != suite_signature(wanted):
            context.suites.delete(suite_name)
            suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=wanted))
        batch = where.batch_definition(where.asset(source, table), table)
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


def run_gate(
    batch_date: dt.date | str | None = None,
    suites: list[str] | None = None,
    settings: Settings | None = None,
    data_docs: bool = True,
) -> GateResult:
    """Run each suite's checkpoint (orders: only the given day's batch) and collect the results.

    `data_docs=False` runs each checkpoint's validation definitions without its action, which
    rebuilds the whole Data Docs site: the same results, stored alike, for a caller that runs
    the gate many times and then calls `build_data_docs()` once (`lab setup`'s history). The
    action was 80% of a gate run here (0.9 of 1.15 CPU-s with 16 results stored), and its
    index page grows with every result stored.
    """
    settings = settings or get_settings()
    where = source_for(settings)
    batch_date = as_date(batch_date) if batch_date is not None else None
    results = []
    with environ(where.env()):  # the stack's connection string, for this run only
        context = ensure_project(settings)
        for suite_name in suites or list(SUITES):
            table = SUITES[suite_name][0]
            checkpoint = context.checkpoints.get(_name(suite_name, settings))
            parameters = where.batch_parameters(table, batch_date)
            run_id = _run_id(suite_name, batch_date)
            if data_docs:
                outcome = checkpoint.run(batch_parameters=parameters, run_id=run_id)
                validations = list(outcome.run_results.values())
            else:  # what Checkpoint.run does before its actions
                validations = [
                    definition.run(
                        checkpoint_id=checkpoint.id,
                        batch_parameters=parameters,
                        result_format=checkpoint.result_format,
                        run_id=run_id,
                    )
                    for definition in checkpoint.validation_definitions
                ]
            results.append(suite_result(suite_name, validations))
    return GateResult(suites=results, batch_date=batch_date)


def build_data_docs(settings: Settings | None = None) -> str:
    """Build the Data Docs site from every result stored; return its index page."""
    settings = settings or get_settings()
    with environ(source_for(settings).env()):
        get_context(settings).build_data_docs()
    return data_docs_path(settings)


def run_name(suite_name: str, batch_date: dt.date | None) -> str:
    """The GX run name of a gate run: results are stored under `validations/<suite>/<run name>/`."""
    return f"{suite_name}_{batch_date.isoformat() if batch_date else 'all'}"


def _run_id(suite_name: str, batch_date: dt.date | None):
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=run_name(suite_name, batch_date))


def data_docs_path(settings: Settings | None = None) -> str:
    """The Data Docs index page built by the last checkpoint run."""
    settings = settings or get_settings()
    return str(settings.data_docs_index)


def suites_table() -> pd.DataFrame:
    """The suites the gate runs: one row an expectation (the declared ones, then a learner's)."""
    rows = []
    for suite, (table, expectations) in SUITES.items():
        mine = [(type(e).__name__, expectation_kwargs(e)) for e in learner_expectations(suite)]
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


def frame_batch(frame: pd.DataFrame):
    """A GX batch of any DataFrame, in a throwaway context (nothing is written to the project)."""
    _quiet()
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    asset = context.data_sources.add_pandas("scratch").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame").get_batch(
        batch_parameters={"dataframe": frame}
    )


def validate_frame(suite_name: str, frame: pd.DataFrame) -> GateResult:
    """Validate any DataFrame against a suite as the gate runs it, in a throwaway context."""
    import great_expectations as gx

    batch = frame_batch(frame)
    suite = gx.ExpectationSuite(name=suite_name, expectations=_expectations(suite_name))
    outcome = batch.validate(suite, result_format="SUMMARY")
    rows = [expectation_row(r) for r in outcome.results]
    result = SuiteResult(suite_name, bool(outcome.success), rows, rows_validated(outcome.results))
    return GateResult(suites=[result])
