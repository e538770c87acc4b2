"""A learner's own expectations (exercise 03), added to the declared suites.

A learner extends a suite with `add_expectation()`: the expectation is kept in the sandbox
state (`Settings.learner_expectations_file`), not in code, and every suite `lab.quality` builds
is the declared one plus the learner's. `lab reset` and `lab reset --lesson 3` remove it.
What cannot become part of a suite (no such suite or column, not an expectation, one the suite
already has) is refused with a `SuiteError` that says how to fix it.

The committed GX project (`great_expectations/gx/expectations/`) holds the declared suites
only and is never rewritten for a learner: while a learner has expectations, the GX context
keeps its suites in the sandbox state instead (`use_state_suites`), where `lab.quality` writes
the merged ones.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from lab.config import RAW_ORDERS, Settings, get_settings
from lab.contract import COLUMNS
from lab.errors import SuiteError
from lab.profiles import get_warehouse
from lab.quality.report import number_text
from lab.quality.suites import SUITES, declared_expectations, suite_signature

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


def suites_folder(settings: Settings) -> Path:
    """Where the GX context keeps its suites while a learner has expectations (sandbox state)."""
    return settings.learner_expectations_file.parent / "gx_expectations"


def use_state_suites(context, settings: Settings | None = None):
    """While a learner has expectations, point the context's suite store at the sandbox state,
    so the suites with theirs merged in never overwrite the committed JSON files; return it."""
    settings = settings or get_settings()
    if _saved(settings):
        folder = suites_folder(settings)
        folder.mkdir(parents=True, exist_ok=True)
        # GX resolves every suite file below this one folder of its filesystem store backend
        context.expectations_store.store_backend.full_base_directory = str(folder)
    return context


def expectation_kwargs(expectation) -> dict[str, Any]:
    return {
        k: v
        for k, v in expectation.configuration.kwargs.items()
        if k != "batch_id" and v is not None
    }


def _columns(expectation) -> list[str]:
    kwargs = expectation_kwargs(expectation)
    found = []
    for name in COLUMN_ARGUMENTS:
        value = kwargs.get(name)
        found += [str(v) for v in value] if isinstance(value, list | tuple) else []
        found += [str(value)] if isinstance(value, str) else []
    return found


def describe(expectation) -> str:
    """`ExpectColumnMinToBeBetween(column=amount, min_value=0)`: an expectation in one line."""
    args = ", ".join(f"{k}={number_text(v)}" for k, v in expectation_kwargs(expectation).items())
    return f"{type(expectation).__name__}({args})"


def table_columns(suite: str, settings: Settings | None = None) -> list[str]:
    """The columns of the table a suite validates, as the warehouse has them."""

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
    wanted = suite_signature([expectation])
    if any(suite_signature([e]) == wanted for e in declared_expectations(suite)):
        raise SuiteError(
            f"The {suite} suite already has {describe(expectation)}. Fix: write an expectation "
            "of your own (another kind, column or bound)."
        )
    data = _saved(settings)
    mine = learner_expectations(suite, settings)
    replaced = [e for e in mine if _same_rule(e, expectation)]
    mine = [e for e in mine if not _same_rule(e, expectation)] + [expectation]
    data[suite] = [{"type": type(e).__name__, "kwargs": expectation_kwargs(e)} for e in mine]
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
        shutil.rmtree(suites_folder(settings), ignore_errors=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")
