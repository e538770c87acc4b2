"""lab.datagen: deterministic synthetic order batches with a size and a dirt knob."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from lab import contract, datagen
from lab.errors import LabError


def test_same_arguments_give_the_same_frame():
    first = datagen.make_orders("2026-11-01", rows=200, dirty=0.1)
    second = datagen.make_orders(dt.date(2026, 11, 1), rows=200, dirty=0.1)
    pd.testing.assert_frame_equal(first, second)


def test_different_dates_give_different_orders():
    first = datagen.make_orders("2026-11-01", rows=200)
    second = datagen.make_orders("2026-11-02", rows=200)
    assert not first["customer_id"].equals(second["customer_id"]), (
        "expected the customers of two days to differ, got the same sequence"
    )
    assert not first["amount"].equals(second["amount"]), "expected different amounts per day"


def test_different_seeds_give_different_orders():
    first = datagen.make_orders("2026-11-01", rows=200, seed=1)
    second = datagen.make_orders("2026-11-01", rows=200, seed=2)
    assert not first.equals(second), "expected two seeds to give two different batches"


def test_a_clean_batch_has_the_upstream_columns_as_text():
    frame = datagen.make_orders("2026-11-01", rows=50)
    assert tuple(frame.columns) == contract.CSV_COLUMNS, (
        f"expected columns {contract.CSV_COLUMNS}, got {tuple(frame.columns)}"
    )
    assert len(frame) == 50, f"expected 50 rows, got {len(frame)}"
    assert frame.map(lambda v: isinstance(v, str)).all().all(), "expected every value a string"
    assert set(frame["order_date"]) == {"2026-11-01"}
    assert set(frame["status"]) <= set(contract.STATUSES)
    customers = frame["customer_id"].astype(int)
    assert customers.between(1, 100).all(), f"expected customers 1..100, got {customers.unique()}"
    amounts = frame["amount"].astype(float)
    assert (amounts > 0).all(), f"expected positive amounts in a clean batch, min {amounts.min()}"


def test_order_ids_are_unique_across_dates():
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(5)]
    ids = pd.concat([datagen.make_orders(d, rows=datagen.MAX_ROWS)["order_id"] for d in days[:2]])
    ids = pd.concat([ids, *(datagen.make_orders(d, rows=300)["order_id"] for d in days[2:])])
    duplicated = ids[ids.duplicated()].tolist()
    assert not duplicated, f"expected unique order ids across dates, repeated: {duplicated[:5]}"


@pytest.mark.parametrize("dirty", [0.05, 0.2, 0.5])
def test_dirty_fraction_gives_about_that_many_defective_rows(dirty):
    rows = 1000
    clean = datagen.make_orders("2026-11-01", rows=rows)
    dirty_frame = datagen.make_orders("2026-11-01", rows=rows, dirty=dirty)
    defective = int((clean != dirty_frame).any(axis=1).sum())
    expected = rows * dirty
    assert abs(defective - expected) <= 0.01 * rows, (
        f"expected about {expected:.0f} defective rows for dirty={dirty}, got {defective}"
    )


def test_clean_batch_has_no_defects():
    clean = datagen.make_orders("2026-11-01", rows=300, dirty=0.0)
    assert not clean["order_id"].duplicated().any(), "expected no repeated order ids"
    assert (clean != "").all().all(), "expected no empty values"


def test_every_defect_names_who_catches_it():
    catchers = {catcher for _, catcher in datagen.DEFECTS.values()}
    assert catchers == {"ingestion quarantine", "Great Expectations"}, f"got {catchers}"


@pytest.mark.parametrize("rows", [0, -1, datagen.MAX_ROWS + 1, 2.5, "10"])
def test_rows_out_of_range_is_a_lab_error_with_the_fix(rows):
    with pytest.raises(LabError) as info:
        datagen.make_orders("2026-11-01", rows=rows)
    message = str(info.value)
    assert f"rows={rows!r} is out of range" in message, message
    assert f"Fix: choose a whole number from 1 to {datagen.MAX_ROWS}" in message, message


@pytest.mark.parametrize("dirty", [-0.1, 1.5])
def test_dirty_out_of_range_is_a_lab_error_with_the_fix(dirty):
    with pytest.raises(LabError) as info:
        datagen.make_orders("2026-11-01", rows=10, dirty=dirty)
    message = str(info.value)
    assert f"dirty={dirty!r} is out of range" in message, message
    assert "Fix: choose a fraction from 0.0 to 1.0" in message, message


@pytest.mark.parametrize("value", ["2026-13-45", "yesterday", "01/11/2026", ""])
def test_a_value_that_is_not_a_date_is_a_lab_error_with_the_fix(value):
    with pytest.raises(LabError) as info:
        datagen.make_orders(value, rows=10)
    message = str(info.value)
    assert f"{value!r} is not a date" in message, message
    assert "Fix: use the ISO form YYYY-MM-DD" in message, message


def test_a_date_before_the_generators_epoch_is_a_lab_error_with_the_fix():
    """Order ids are built from the days since 2020-01-01; an earlier date must be refused.

    (Found failing: numpy's seed raises `ValueError: expected non-negative integer`.)
    """
    with pytest.raises(LabError) as info:
        datagen.make_orders("2019-12-31", rows=10)
    message = str(info.value)
    assert "2019-12-31" in message, f"expected the offending date in: {message}"
    assert "Fix:" in message, f"expected the fix in: {message}"


def test_to_csv_bytes_round_trips_as_text():
    import io

    frame = datagen.make_orders("2026-11-01", rows=20, dirty=0.3)
    back = pd.read_csv(io.BytesIO(datagen.to_csv_bytes(frame)), dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, frame.astype(str).reset_index(drop=True))
