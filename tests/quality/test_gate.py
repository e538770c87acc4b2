"""The Great Expectations quality gate (lab.quality) on a prepared `local` sandbox."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from lab import ingest, quality, steps
from lab.errors import QualityGateError
from lab.observe import metrics

pytestmark = pytest.mark.slow

PREPARED_HISTORY_DAYS = 0  # the customers seed is enough; each test module loads its own days
CLEAN_DAY = dt.date(2026, 11, 1)
DIRTY_DAY = dt.date(2026, 11, 2)
COMMITTED_SUITES = (
    Path(__file__).resolve().parents[2] / "great_expectations" / "gx" / "expectations"
)


@pytest.fixture(scope="module")
def gates(prepared_state, use_state):
    """The gate on a clean day and on a dirty day (20 % defects), run once for the module."""
    with use_state(prepared_state):
        ingest.land_batch(CLEAN_DAY)
        ingest.load_batch(CLEAN_DAY)
        ingest.land_batch(DIRTY_DAY, dirty=0.2)
        dirty_load = ingest.load_batch(DIRTY_DAY)
        return {
            "clean": quality.run_gate(CLEAN_DAY),
            "dirty": quality.run_gate(DIRTY_DAY, suites=["orders"]),
            "dirty_load": dirty_load,
        }


def test_a_clean_batch_passes_the_gate(gates):
    gate = gates["clean"]
    assert gate.success, f"expected a clean batch to pass, got {gate}:\n{gate.failures()}"
    suites = [s.suite for s in gate.suites]
    assert suites == ["raw_customers", "orders"], f"expected both suites, got {suites}"
    expected = sum(len(expectations) for _, expectations in quality.SUITES.values())
    assert (gate.passed, gate.failed) == (expected, 0), f"expected {expected} passed, got {gate}"
    assert gate.raise_on_failure() is gate
    assert str(gate) == f"Quality gate PASSED: {expected} expectations passed, 0 failed"
    assert gate.batch_date == CLEAN_DAY


def test_a_dirty_batch_fails_on_the_amount_range(gates):
    gate = gates["dirty"]
    assert gates["dirty_load"].rows_loaded > 0, "expected some dirty rows to get past ingestion"
    assert not gate.success, f"expected a dirty batch to fail the gate, got {gate}"
    failures = gate.failures()
    failed = set(zip(failures["expectation"], failures["column"], strict=True))
    assert ("expect_column_values_to_be_between", "amount") in failed, (
        f"expected the amount range (0..1000) to fail, got failures {sorted(failed)}"
    )
    allowed = {
        ("expect_column_values_to_be_between", "amount"),
        ("expect_column_mean_to_be_between", "amount"),
    }
    assert failed <= allowed, f"expected only amount expectations to fail, got {sorted(failed)}"
    amount = failures[failures["expectation"] == "expect_column_values_to_be_between"].iloc[0]
    assert amount["suite"] == "orders" and amount["unexpected"] > 0, amount.to_dict()
    assert amount["examples"], (
        f"expected example values of the failing rows, got {amount.to_dict()}"
    )


def test_raise_on_failure_names_the_failing_expectation(gates):
    with pytest.raises(QualityGateError) as info:
        gates["dirty"].raise_on_failure()
    message = str(info.value)
    assert message.startswith("The quality gate failed: "), message
    needle = "orders: expect_column_values_to_be_between(amount) expected between 0 and 1000, "
    assert needle + "observed: " in message, f"expected {needle!r} in: {message}"
    assert "Fix: look at the failing rows" in message, message


def test_validation_results_and_data_docs_land_under_lab_gx_root(gates, prepared_sandbox):
    uncommitted = prepared_sandbox.gx_root / "gx" / "uncommitted"
    results = list((uncommitted / "validations").rglob("*.json"))
    assert len(results) >= 3, (
        f"expected a result per checkpoint run under {uncommitted}, got {results}"
    )
    index = (
        prepared_sandbox.gx_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    )
    assert index.is_file(), f"expected the Data Docs index at {index}"
    assert quality.data_docs_path() == str(index)


def test_the_history_validates_each_day_and_builds_the_data_docs_once(sandbox_copy, monkeypatch):
    """`lab setup`'s history runs the gate on every day, then builds the Data Docs once: each
    checkpoint run rebuilding the whole site was 80% of a gate run, and the site's index
    grows with every result stored. Once is enough: every day's result gets its page."""
    from great_expectations.data_context.data_context.abstract_data_context import (
        AbstractDataContext,
    )

    builds = []
    real_build = AbstractDataContext.build_data_docs

    def counted(context, *args, **kwargs):
        builds.append(kwargs.get("resource_identifiers"))
        return real_build(context, *args, **kwargs)

    monkeypatch.setattr(AbstractDataContext, "build_data_docs", counted)
    days = 2
    steps.simulate_history(DIRTY_DAY, days=days)
    assert len(builds) == 1, f"expected one Data Docs build for {days} days, got {len(builds)}"

    uncommitted = sandbox_copy.gx_root / "gx" / "uncommitted"
    results = sorted(
        p.relative_to(uncommitted / "validations").with_suffix("")
        for p in (uncommitted / "validations").rglob("*.json")
    )
    pages = sorted(
        p.relative_to(uncommitted / "data_docs" / "local_site" / "validations").with_suffix("")
        for p in (uncommitted / "data_docs" / "local_site" / "validations").rglob("*.html")
    )
    history = {
        quality.run_name(suite, DIRTY_DAY - dt.timedelta(days=back))
        for suite in quality.SUITES
        for back in range(1, days + 1)
    }
    assert history <= {result.parts[1] for result in results}, (history, results)
    assert pages == results, f"expected a Data Docs page for each result:\n{results}\n{pages}"
    runs = metrics.step_runs()
    gates = runs[runs["step"] == "quality"]
    assert len(gates) == days and set(gates["outcome"]) == {"success"}, gates


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _canonical(expectations) -> list[tuple[str, str]]:
    def number(value):
        return (
            float(value)
            if isinstance(value, int | float) and not isinstance(value, bool)
            else value
        )

    return sorted(
        (kind, json.dumps({k: number(v) for k, v in kwargs.items()}, sort_keys=True))
        for kind, kwargs in expectations
    )


@pytest.mark.parametrize("suite", sorted(quality.SUITES))
def test_suites_in_code_match_the_committed_gx_project(suite):
    path = COMMITTED_SUITES / f"{suite}.json"
    assert path.is_file(), f"expected the committed suite {path} for quality.SUITES[{suite!r}]"
    committed = json.loads(path.read_text())
    assert committed["name"] == suite
    in_code = _canonical((_snake(cls), kwargs) for cls, kwargs in quality.SUITES[suite][1])
    in_file = _canonical((e["type"], e["kwargs"]) for e in committed["expectations"])
    assert in_code == in_file, (
        f"quality.SUITES[{suite!r}] and {path.name} have drifted.\n"
        f"in code: {in_code}\nin file: {in_file}\n"
        "Fix: run lab.quality.ensure_project() against the repo's GX project and commit the result."
    )


def test_every_committed_suite_is_declared_in_code():
    committed = {p.stem for p in COMMITTED_SUITES.glob("*.json")}
    assert committed == set(quality.SUITES), (
        f"expected the committed suites {sorted(committed)} "
        f"to be quality.SUITES {sorted(quality.SUITES)}"
    )
