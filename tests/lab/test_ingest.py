"""lab.ingest: land a batch, load the good rows, quarantine the bad ones, reconcile the counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from lab import datagen, ingest
from lab.config import CURRENT_LOADS, QUARANTINE_ORDERS, RAW_ORDERS
from lab.datagen import defects
from lab.errors import BatchFileError, LabError
from lab.ingest import loading
from lab.profiles import get_lake, get_warehouse

DAY = dt.date(2026, 11, 1)
NEXT_DAY = DAY + dt.timedelta(days=1)

# The reason ingestion gives for each defect kind it is meant to catch.
QUARANTINE_REASONS = {
    "missing_order_id": "order_id is empty or not a whole number",
    "duplicate_order_id": "order_id repeats an earlier row of this file",
    "missing_customer_id": "customer_id is empty or not a whole number",
    "bad_date": "order_date is not a date (YYYY-MM-DD)",
    "bad_amount": "amount is not a number",
    "unknown_status": "status is not one of placed, shipped, completed, returned, return_pending",
}


def count(sql: str, params=None) -> int:
    return int(get_warehouse().scalar(sql, params))


def test_clean_batch_loads_every_row():
    path = ingest.land_batch(DAY, rows=120)
    result = ingest.load_batch(DAY)
    assert path == "raw/orders/date=2026-11-01/orders.csv", f"got path {path}"
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (120, 120, 0), str(
        result
    )
    assert result.reconciled
    assert result.counts() == {"landed": 120, "loaded": 120, "quarantined": 0}
    loaded = count(f"select count(*) from {RAW_ORDERS} where batch_date = ?", [DAY])
    assert loaded == 120, f"expected 120 rows in {RAW_ORDERS}, got {loaded}"
    assert ingest.loaded_dates() == [DAY]
    assert str(result) == "2026-11-01: 120 rows in = 120 loaded + 0 quarantined"


def test_loaded_rows_are_typed_and_traceable_to_their_file(lab_env):
    ingest.land_batch(DAY, rows=10)
    result = ingest.load_batch(DAY)
    frame = get_warehouse().query(
        f"select r.*, c.source_file from {RAW_ORDERS} r join {CURRENT_LOADS} c using (batch_date) "
        "order by order_id"
    )
    expected = datagen.make_orders(DAY, rows=10)
    assert frame["order_id"].tolist() == expected["order_id"].astype(int).tolist()
    assert frame["amount"].astype(float).tolist() == expected["amount"].astype(float).tolist()
    assert {str(d)[:10] for d in frame["order_date"]} == {"2026-11-01"}
    source = str(lab_env.home / "lake" / "raw" / "orders" / "date=2026-11-01" / "orders.csv")
    assert set(frame["source_file"]) == {source}, (
        f"expected {source}, got {set(frame['source_file'])}"
    )
    assert result.source == source


def test_dirty_batch_reconciles_rows_in_with_loaded_plus_quarantined():
    ingest.land_batch(DAY, rows=500, dirty=0.2)
    result = ingest.load_batch(DAY)
    assert result.rows_in == 500, f"expected 500 rows in, got {result.rows_in}"
    assert result.rows_quarantined > 0, f"expected quarantined rows, got {result}"
    assert result.rows_in == result.rows_loaded + result.rows_quarantined, str(result)
    assert sum(result.reasons.values()) == result.rows_quarantined, result.reasons
    in_quarantine = count(f"select count(*) from {QUARANTINE_ORDERS} where batch_date = ?", [DAY])
    in_raw = count(f"select count(*) from {RAW_ORDERS} where batch_date = ?", [DAY])
    assert (in_raw, in_quarantine) == (result.rows_loaded, result.rows_quarantined), (
        f"expected tables to hold {result.rows_loaded} + {result.rows_quarantined}, "
        f"got {in_raw} + {in_quarantine}"
    )
    assert set(result.reasons) <= set(QUARANTINE_REASONS.values()), result.reasons


def test_every_defect_meant_for_ingestion_has_an_expected_reason():
    meant = {k for k, (_, catcher) in defects.DEFECTS.items() if catcher == "ingestion quarantine"}
    assert meant == set(QUARANTINE_REASONS), (
        f"expected the defect kinds caught by ingestion {sorted(meant)} to match this test's "
        f"{sorted(QUARANTINE_REASONS)}"
    )


@pytest.mark.parametrize("kind", sorted(QUARANTINE_REASONS))
def test_each_ingestion_defect_lands_in_quarantine_with_its_reason(kind):
    frame = datagen.make_orders(DAY, rows=10)
    # defects._inject is the one place that knows what each defect looks like.
    defects._inject(frame, 3, kind, np.random.default_rng(0))
    ingest.land_batch(DAY, frame=frame)
    result = ingest.load_batch(DAY)
    assert (result.rows_loaded, result.rows_quarantined) == (9, 1), f"{kind}: {result}"
    quarantined = ingest.quarantined_rows(DAY)
    reasons = quarantined["reason"].tolist()
    assert reasons == [QUARANTINE_REASONS[kind]], (
        f"expected reason {QUARANTINE_REASONS[kind]!r} for {kind}, got {reasons}"
    )
    expected_line = 6 if kind == "duplicate_order_id" else 5  # the repeat is the later row
    assert quarantined["line_number"].tolist() == [expected_line], quarantined.to_dict("records")


def test_quarantine_keeps_the_original_text_of_a_bad_row():
    frame = datagen.make_orders(DAY, rows=3)
    frame.loc[1, "amount"] = "12,50"
    ingest.land_batch(DAY, frame=frame)
    ingest.load_batch(DAY)
    row = ingest.quarantined_rows(DAY).iloc[0]
    assert (row["amount"], row["reason"]) == ("12,50", "amount is not a number"), row.to_dict()
    assert row["order_id"] == frame.loc[1, "order_id"]


@pytest.mark.parametrize("dirty", [0.0, 0.2])
def test_reloading_a_date_replaces_its_rows(dirty):
    ingest.land_batch(DAY, rows=200, dirty=dirty)
    first = ingest.load_batch(DAY)
    second = ingest.load_batch(DAY)
    assert (second.rows_loaded, second.rows_quarantined) == (
        first.rows_loaded,
        first.rows_quarantined,
    )
    in_raw = count(f"select count(*) from {RAW_ORDERS}")
    in_quarantine = count(f"select count(*) from {QUARANTINE_ORDERS}")
    assert (in_raw, in_quarantine) == (first.rows_loaded, first.rows_quarantined), (
        f"expected {first.rows_loaded} + {first.rows_quarantined} rows after a reload, "
        f"got {in_raw} + {in_quarantine}"
    )


def test_reloading_a_date_with_a_new_file_replaces_the_old_rows():
    ingest.land_batch(DAY, rows=200)
    ingest.load_batch(DAY)
    ingest.land_batch(DAY, rows=50)
    ingest.load_batch(DAY)
    in_raw = count(f"select count(*) from {RAW_ORDERS}")
    assert in_raw == 50, f"expected the 50 rows of the new file, got {in_raw}"


def redeliver_an_order(
    change: Callable[[pd.Series], dict[str, str]],
) -> tuple[pd.Series, ingest.IngestResult]:
    """Load 20 orders of DAY, then NEXT_DAY's 5 with DAY's order 7 delivered again as row 2,
    its fields changed by `change(order)`; the original order and NEXT_DAY's load result."""
    ingest.land_batch(DAY, rows=20)
    ingest.load_batch(DAY)
    original = datagen.make_orders(DAY, rows=20).loc[7]
    frame = datagen.make_orders(NEXT_DAY, rows=5)
    frame.loc[2] = original.copy()
    for column, value in change(original).items():
        frame.loc[2, column] = value
    ingest.land_batch(NEXT_DAY, frame=frame)
    return original, ingest.load_batch(NEXT_DAY)


def test_an_update_of_an_order_another_date_loaded_is_kept_as_a_new_delivery():
    original, result = redeliver_an_order(lambda order: {"status": "returned"})
    assert (result.rows_loaded, result.rows_quarantined) == (5, 0), str(result)
    deliveries = get_warehouse().query(
        f"select batch_date, status from {RAW_ORDERS} where order_id = ? order by batch_date",
        [int(original["order_id"])],
    )
    assert deliveries["status"].tolist() == [original["status"], "returned"], deliveries


def test_an_update_that_changes_the_customer_is_quarantined():
    original, result = redeliver_an_order(
        lambda order: {"customer_id": str(int(order["customer_id"]) % 100 + 1)}
    )
    assert (result.rows_loaded, result.rows_quarantined) == (4, 1), str(result)
    quarantined = ingest.quarantined_rows(NEXT_DAY)
    assert quarantined[["order_id", "reason"]].values.tolist() == [
        [original["order_id"], loading.CHANGED]
    ], quarantined.to_dict("records")
    kept = count(
        f"select count(*) from {RAW_ORDERS} where order_id = ?", [int(original["order_id"])]
    )
    assert kept == 1, f"expected order {original['order_id']} once in {RAW_ORDERS}, got {kept}"


def test_two_dates_load_side_by_side():
    for n, day in enumerate([DAY, NEXT_DAY]):
        ingest.land_batch(day, rows=30 + n)
        ingest.load_batch(day)
    assert ingest.loaded_dates() == [DAY, NEXT_DAY]
    assert count(f"select count(*) from {RAW_ORDERS}") == 61


def test_land_batch_with_rows_zero_is_refused():
    """`rows=0` must be refused like make_orders(rows=0), not turned into the default size.

    (Found failing: land_batch treats 0 as "not given" and lands DEFAULT_ROWS rows.)
    """
    with pytest.raises(LabError, match=r"rows=0 is out of range"):
        ingest.land_batch(DAY, rows=0)


def test_loaded_dates_is_empty_before_any_load():
    assert ingest.loaded_dates() == []


# --- broken batch files ---------------------------------------------------------------------


def land_bytes(data: bytes) -> str:
    lake = get_lake()
    lake.ensure_bucket("raw")
    path = ingest.batch_path(DAY)
    lake.write_bytes(path, data)
    return lake.url(path)


def assert_one_sentence(message: str, url: str, *phrases: str) -> None:
    assert "\n" not in message, f"expected one line, got: {message!r}"
    assert message.startswith(f"The batch file {url} "), f"expected the file {url} first: {message}"
    assert "Fix:" in message, f"expected the fix in: {message}"
    for phrase in phrases:
        assert phrase in message, f"expected {phrase!r} in: {message}"


def assert_nothing_loaded() -> None:
    dates = ingest.loaded_dates()
    assert dates == [], f"expected nothing loaded, got batches for {dates}"


def test_missing_file_is_a_batch_file_error_and_loads_nothing(lab_env):
    url = str(lab_env.home / "lake" / ingest.batch_path(DAY))
    with pytest.raises(BatchFileError) as info:
        ingest.load_batch(DAY)
    assert_one_sentence(str(info.value), url, "is missing", "land it first")
    assert_nothing_loaded()


@pytest.mark.parametrize(
    ("data", "phrase"),
    [(b"", "is empty (0 bytes)"), (b"  \n", "has no header line")],
    ids=["zero-bytes", "blank"],
)
def test_empty_file_is_a_batch_file_error_and_loads_nothing(data, phrase):
    url = land_bytes(data)
    with pytest.raises(BatchFileError) as info:
        ingest.load_batch(DAY)
    assert_one_sentence(str(info.value), url, phrase)
    assert_nothing_loaded()


def test_file_without_the_required_columns_is_a_batch_file_error_and_loads_nothing():
    url = land_bytes(b"id,total\n1,2.50\n")
    with pytest.raises(BatchFileError) as info:
        ingest.load_batch(DAY)
    assert_one_sentence(
        str(info.value),
        url,
        "lacks the column(s) order_id, customer_id, order_date, status, amount",
        "(found: id, total)",
        "the header must be order_id,customer_id,order_date,status,amount",
    )
    assert_nothing_loaded()


def test_a_png_is_named_as_such_and_loads_nothing():
    url = land_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\xff\xfe\xfa")
    with pytest.raises(BatchFileError) as info:
        ingest.load_batch(DAY)
    assert_one_sentence(str(info.value), url, "is a PNG image, not a CSV file")
    assert_nothing_loaded()


def test_a_broken_file_keeps_the_rows_a_date_already_has():
    ingest.land_batch(DAY, rows=40)
    ingest.load_batch(DAY)
    land_bytes(b"")
    with pytest.raises(BatchFileError):
        ingest.load_batch(DAY)
    kept = count(f"select count(*) from {RAW_ORDERS}")
    assert kept == 40, f"expected the 40 rows loaded before to stay, got {kept}"
