"""What the quality gate reports: observed values of failed expectations, and rows validated."""

from __future__ import annotations

import datetime as dt

import pytest

from lab import datagen, ingest, quality
from lab.errors import QualityGateError
from lab.observe import metrics
from lab.profiles import get_warehouse

pytestmark = pytest.mark.slow

PREPARED_HISTORY_DAYS = 0
DIRTY_DAY = dt.date(2026, 11, 3)


@pytest.fixture(scope="module")
def dirty_gate(prepared_state, use_state):
    """The gate on a loaded dirty day (20 % defects), with the batch's valid amounts."""
    with use_state(prepared_state):
        ingest.land_batch(DIRTY_DAY, dirty=0.2)
        ingest.load_batch(DIRTY_DAY)
        gate = quality.run_gate(DIRTY_DAY)
        amounts = (
            get_warehouse()
            .query("select amount from raw_orders where batch_date = ?", [DIRTY_DAY])["amount"]
            .astype(float)
        )
        customers = int(get_warehouse().scalar("select count(*) from raw_customers"))
    return gate, amounts, customers


@pytest.fixture(scope="module")
def cents_day(dirty_gate, prepared_state, use_state):
    """The dirty day exported in cents (every amount x100): its mean is implausible."""
    with use_state(prepared_state):
        frame = get_warehouse().query("select * from raw_orders where batch_date = ?", [DIRTY_DAY])
    frame["amount"] = frame["amount"].astype(float) * 100
    return quality.validate_frame("orders", frame), frame["amount"]


def test_a_failed_mean_shows_the_observed_mean_and_the_expected_range(cents_day):
    gate, amounts = cents_day
    failures = gate.failures()
    mean = failures[failures["expectation"] == "expect_column_mean_to_be_between"]
    assert len(mean) == 1, f"expected the mean check to fail on a day in cents, got:\n{failures}"
    row = mean.iloc[0]
    assert float(row["observed"]) == pytest.approx(amounts.mean(), abs=0.01), (
        f"expected the observed mean {amounts.mean():.2f}, got {row['observed']!r}"
    )
    assert row["expected"] == "between 10 and 250", f"got expected={row['expected']!r}"
    assert row["unexpected"] == 0, "a mean has no unexpected rows: the observed value tells"


def test_a_failed_range_shows_how_many_rows_broke_it(dirty_gate):
    gate, amounts, _ = dirty_gate
    failures = gate.failures()
    outside = int(((amounts < 0) | (amounts > 1000)).sum())
    rng = failures[failures["expectation"] == "expect_column_values_to_be_between"].iloc[0]
    expected = f"{outside} of {len(amounts)} rows fail"
    assert rng["observed"] == expected, f"expected observed={expected!r}, got {rng['observed']!r}"
    assert rng["expected"] == "between 0 and 1000", f"got expected={rng['expected']!r}"


def test_the_gate_error_names_the_observed_mean(cents_day):
    gate, amounts = cents_day
    with pytest.raises(QualityGateError) as info:
        gate.raise_on_failure()
    needle = (
        "orders: expect_column_mean_to_be_between(amount) expected between 10 and 250, "
        f"observed: {amounts.mean():.2f}"
    )
    assert needle in str(info.value), f"expected {needle!r} in:\n{info.value}"


def test_every_failure_of_a_dirty_day_has_an_observed_value(dirty_gate):
    gate, _, _ = dirty_gate
    failures = gate.failures()
    assert not failures.empty, f"expected a dirty day to fail the gate, got {gate}"
    assert (failures["observed"] != "").all(), f"every failure needs an observed value:\n{failures}"


def test_validate_frame_reports_observed_values_too():
    sample, _ = ingest.validate_rows(datagen.make_orders(DIRTY_DAY, rows=200, dirty=0.2))
    failures = quality.validate_frame("orders", sample).failures()
    assert (failures["observed"] != "").all(), f"every failure needs an observed value:\n{failures}"


def test_the_quality_step_counts_rows_validated_as_rows_in(dirty_gate, prepared_sandbox):
    gate, amounts, customers = dirty_gate
    assert gate.rows_validated == len(amounts) + customers, (
        f"expected {len(amounts)} orders + {customers} customers validated, "
        f"got {gate.rows_validated}"
    )
    metrics.start("quality", "run_q").finish_gate(gate)
    row = metrics.step_runs("run_q").iloc[0]
    got = (row["rows_in"], row["rows_out"], row["outcome"])
    assert got == (gate.rows_validated, 0, "failed"), (
        f"expected rows_in={gate.rows_validated} (rows validated), rows_out=0 (a failed gate "
        f"lets nothing through), outcome failed; got {got}"
    )
