"""lab.datagen: deterministic synthetic order batches with a size, a dirt and an updates knob."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lab import contract, datagen, ingest, quality, steps
from lab.config import HISTORY_DAYS
from lab.datagen import csvtext, defects, orders
from lab.errors import ContractError, LabError
from lab.profiles import get_warehouse

DAY = "2026-11-01"


def day_number(date) -> int:
    return (contract.as_date(date) - contract.EPOCH).days


def test_same_arguments_give_the_same_frame():
    first = datagen.make_orders("2026-11-01", rows=200, dirty=0.1, updates=0.2)
    second = datagen.make_orders(dt.date(2026, 11, 1), rows=200, dirty=0.1, updates=0.2)
    pd.testing.assert_frame_equal(first, second)


def test_same_arguments_give_the_same_file(tmp_path):
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path in paths:
        datagen.write_orders(path, DAY, rows=30_000, dirty=0.05, updates=0.1, seed=7)
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert digests[0] == digests[1], f"expected identical files, got sha256 {digests}"


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
    assert customers.isin(list(contract.CUSTOMER_IDS)).all(), (
        f"expected customers from the contract, got {sorted(customers.unique())}"
    )
    amounts = frame["amount"]
    assert amounts.str.fullmatch(r"\d+\.\d\d").all(), f"expected 2 decimals: {amounts.tolist()}"
    assert (amounts.astype(float) > 0).all(), "expected positive amounts in a clean batch"


def test_statuses_and_amounts_follow_the_contract_at_scale():
    frame = datagen.make_orders(DAY, rows=100_000)
    shares = frame["status"].value_counts(normalize=True)
    for status, weight in zip(contract.STATUSES, contract.STATUS_WEIGHTS, strict=True):
        assert abs(shares.get(status, 0.0) - weight) < 0.01, (
            f"expected about {weight:.0%} {status}, got {shares.get(status, 0.0):.2%}"
        )
    mean = frame["amount"].astype(float).mean()
    assert 58 < mean < 64, f"expected a mean amount near 61 (1 + gamma(2, 30)), got {mean:.2f}"


def test_new_order_ids_are_the_day_times_the_stride_plus_n():
    frame = datagen.make_orders(DAY, rows=300)
    expected = [str(day_number(DAY) * contract.ORDER_ID_DAY_STRIDE + n) for n in range(1, 301)]
    assert frame["order_id"].tolist() == expected, f"got {frame['order_id'].tolist()[:3]}..."


def test_order_ids_never_collide_across_days_at_the_largest_size():
    """The last chunk of a MAX_ROWS day, generated for real, stays below the next day's first id."""
    assert contract.MAX_ROWS < contract.ORDER_ID_DAY_STRIDE, "expected the stride above MAX_ROWS"
    day = day_number(DAY)
    start = contract.MAX_ROWS - datagen.CHUNK_ROWS
    columns, _ = orders._chunk(day, start, contract.MAX_ROWS, contract.MAX_ROWS, 0, 0.0, 42)
    ids = np.asarray(columns["order_id"].cast(pa.int64()))
    first_of_next_day = (day + 1) * contract.ORDER_ID_DAY_STRIDE + 1
    assert ids.max() == day * contract.ORDER_ID_DAY_STRIDE + contract.MAX_ROWS, ids.max()
    assert ids.max() < first_of_next_day, f"{ids.max()} collides with {first_of_next_day}"
    assert len(np.unique(ids)) == len(ids), "expected unique ids within the chunk"
    last_day = day_number(dt.date.max)
    largest = last_day * contract.ORDER_ID_DAY_STRIDE + contract.MAX_ROWS
    assert largest <= contract.MAX_KEY, f"expected ids up to the largest key, largest {largest}"


def test_order_ids_are_unique_across_dates():
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(5)]
    ids = pd.concat([datagen.make_orders(d, rows=2_000, updates=0.0)["order_id"] for d in days])
    duplicated = ids[ids.duplicated()].tolist()
    assert not duplicated, f"expected unique order ids across dates, repeated: {duplicated[:5]}"


# ---- updates -----------------------------------------------------------------------------------


def test_updates_repeat_the_original_order_with_a_later_status():
    rows, share = 2_000, 0.25
    today = datagen.make_orders(DAY, rows=rows, updates=share)
    updates = today[today["order_date"] != DAY]
    assert len(updates) == rows * share, f"expected {rows * share:.0f} updates, got {len(updates)}"
    assert not today["order_id"].duplicated().any(), "expected no id twice in one file"
    earlier = {}
    for date in sorted(set(updates["order_date"])):
        back = (contract.as_date(DAY) - contract.as_date(date)).days
        assert 1 <= back <= contract.UPDATE_MAX_DAYS_BACK, f"update of {date}, {back} days back"
        earlier[date] = datagen.make_orders(date, rows=rows, updates=share).set_index("order_id")
    for row in updates.itertuples():
        original = earlier[row.order_date].loc[row.order_id]
        assert original["order_date"] == row.order_date, (row, original)
        assert (original["customer_id"], original["amount"]) == (row.customer_id, row.amount), (
            f"expected update {row.order_id} to keep customer and amount "
            f"{(original['customer_id'], original['amount'])}, got {(row.customer_id, row.amount)}"
        )
        assert row.status in contract.STATUS_TRANSITIONS[original["status"]], (
            f"expected {row.order_id} to move from {original['status']!r} to one of "
            f"{contract.STATUS_TRANSITIONS[original['status']]}, got {row.status!r}"
        )


def test_updates_across_chunks_never_repeat_an_id(tmp_path):
    rows = 2 * datagen.CHUNK_ROWS + 500_000
    path = tmp_path / "orders.csv"
    datagen.write_orders(path, DAY, rows=rows, updates=contract.MAX_UPDATES)
    ids = pd.read_csv(path, usecols=["order_id"], dtype={"order_id": "int64"})["order_id"]
    assert len(ids) == rows, f"expected {rows} rows, got {len(ids)}"
    assert ids.is_unique, f"expected unique ids, repeated: {ids[ids.duplicated()].head().tolist()}"
    day = day_number(DAY)
    n = ids % contract.ORDER_ID_DAY_STRIDE
    back = day - ids // contract.ORDER_ID_DAY_STRIDE
    assert back.between(0, contract.UPDATE_MAX_DAYS_BACK).all(), sorted(back.unique())
    new_orders = rows - round(rows * contract.MAX_UPDATES)
    assert n.between(1, new_orders).all(), f"expected n in 1..{new_orders}, got {n.max()}"


def test_an_update_on_the_first_day_is_refused_with_the_fix():
    with pytest.raises(ContractError) as info:
        datagen.make_orders(contract.EPOCH, rows=10, updates=0.1)
    message = str(info.value)
    assert f"{contract.EPOCH} has no earlier orders to update" in message, message
    assert "Fix:" in message, message


@pytest.mark.parametrize("updates", [-0.1, 0.75, "0.1"])
def test_updates_out_of_range_is_a_contract_error_with_the_fix(updates):
    with pytest.raises(ContractError) as info:
        datagen.make_orders(DAY, rows=10, updates=updates)
    message = str(info.value)
    assert f"updates={updates!r} is out of range" in message, message
    assert f"Fix: choose a fraction from 0.0 to {contract.MAX_UPDATES}" in message, message


def test_status_transitions_cover_every_status_and_only_move_forward():
    moves = contract.STATUS_TRANSITIONS
    assert sorted(moves) == sorted(contract.STATUSES), f"expected every status a key, got {moves}"
    targets = {t for ts in moves.values() for t in ts}
    assert targets <= set(contract.STATUSES), f"unknown targets {targets - set(moves)}"
    assert moves["returned"] == (), f"expected 'returned' to be final, got {moves['returned']}"

    def reachable(status, seen=()):
        return {t for n in moves[status] if n not in seen for t in {n} | reachable(n, (*seen, n))}

    cycles = [s for s in moves if s in reachable(s)]
    assert not cycles, f"expected no status to lead back to itself, got {cycles}"


def test_updates_reach_no_further_back_than_asked():
    for reach in (1, 3):
        frame = datagen.make_orders(DAY, rows=2_000, updates=0.05, reach=reach)
        dates = frame["order_date"].map(contract.as_date)
        back = {(contract.as_date(DAY) - d).days for d in dates}
        assert back == set(range(reach + 1)), f"reach={reach}: updates came from {sorted(back)}"


def test_no_two_days_update_the_same_order_so_deliveries_never_contradict():
    days = [dt.date(2026, 10, 20) + dt.timedelta(days=n) for n in range(10)]
    frames = [datagen.make_orders(d, rows=1_000, updates=0.3) for d in days]
    history = pd.concat(frames, keys=[d.isoformat() for d in days], names=["batch", None])
    history = history.reset_index(level=0)
    updates = history[history["order_date"] != history["batch"]]
    repeated = updates["order_id"][updates["order_id"].duplicated()].tolist()
    assert len(updates) == 10 * 300 and not repeated, (
        f"expected 3,000 updates of distinct orders, got {len(updates)}, repeated {repeated[:5]}"
    )


@pytest.mark.parametrize("reach", [0, contract.UPDATE_MAX_DAYS_BACK + 1, 2.5, True])
def test_reach_out_of_range_is_a_contract_error_with_the_fix(reach):
    with pytest.raises(ContractError) as info:
        datagen.make_orders(DAY, rows=10, updates=0.1, reach=reach)
    message = str(info.value)
    assert f"reach={reach!r} is out of range" in message, message
    assert f"from 1 to {contract.UPDATE_MAX_DAYS_BACK}" in message, message


def test_too_few_orders_due_within_the_reach_is_a_contract_error_with_the_fix():
    with pytest.raises(ContractError) as info:
        datagen.make_orders(DAY, rows=1_000, updates=0.3, reach=1)
    message = str(info.value)
    assert "300 updates need more earlier orders than the" in message, message
    assert "within reach=1 days. Fix: use more rows, a longer reach" in message, message


# ---- dirt --------------------------------------------------------------------------------------


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


def classify(clean: pd.Series, dirty: pd.Series) -> str:
    """Which defect turned the clean row into the dirty one."""
    changed = [c for c in contract.CSV_COLUMNS if clean[c] != dirty[c]]
    assert len(changed) == 1, f"expected one changed column, got {changed}: {dirty.to_dict()}"
    column, value = changed[0], dirty[changed[0]]
    if column == "order_id":
        return "missing_order_id" if value == "" else "duplicate_order_id"
    if column == "customer_id":
        return "missing_customer_id"
    if column == "order_date":
        return "bad_date"
    if column == "status":
        return "unknown_status"
    if value == "-" + clean["amount"]:
        return "negative_amount"
    if value == clean["amount"].replace(".", "").lstrip("0"):
        return "amount_in_cents"
    return "bad_amount"


def test_every_defect_kind_appears_and_looks_as_described():
    clean = datagen.make_orders(DAY, rows=2_000, updates=0.1)
    dirty = datagen.make_orders(DAY, rows=2_000, updates=0.1, dirty=0.2)
    changed = (clean != dirty).any(axis=1)
    kinds = pd.Series([classify(clean.loc[i], dirty.loc[i]) for i in clean.index[changed]])
    assert set(kinds) == set(defects.DEFECTS), (
        f"expected all of {sorted(defects.DEFECTS)}, got {kinds.value_counts().to_dict()}"
    )
    repeated = dirty["order_id"][dirty["order_id"] != ""].duplicated().sum()
    assert repeated >= (kinds == "duplicate_order_id").sum() * 0.9, (
        f"expected each duplicate_order_id to repeat an id, got {repeated} repeats"
    )
    bad = dirty.loc[changed & (dirty["status"] != clean["status"]), "status"]
    assert not set(bad) & set(contract.STATUSES), f"expected unknown statuses, got {set(bad)}"


def python_calls(func) -> int:
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        func()
    finally:
        sys.setprofile(None)
    return calls


def test_generation_and_dirt_are_vectorised():
    """No Python call per row: 100x the rows with every row defective costs the same calls."""

    def make(rows):
        return lambda: datagen.make_orders(DAY, rows=rows, dirty=1.0, updates=0.2)

    make(500)()  # warm up imports and caches
    small, large = python_calls(make(500)), python_calls(make(50_000))
    assert large <= small * 1.1 + 50, (
        f"expected the Python calls not to grow with rows, got {small} at 500 and {large} at 50,000"
    )


def test_clean_batch_has_no_defects():
    clean = datagen.make_orders("2026-11-01", rows=300, dirty=0.0)
    assert not clean["order_id"].duplicated().any(), "expected no repeated order ids"
    assert (clean != "").all().all(), "expected no empty values"


# The orders suite's range for single amounts (the gate's row-level amount check).
AMOUNT_RANGE = next(
    (kwargs["min_value"], kwargs["max_value"])
    for expectation, kwargs in quality.SUITES["orders"][1]
    if expectation == "ExpectColumnValuesToBeBetween" and kwargs["column"] == "amount"
)
# tests/lab/test_ingest.py proves that ingestion quarantines the others, each with its reason.
LEFT_BY_INGESTION = sorted(
    kind for kind, (_, catcher) in defects.DEFECTS.items() if catcher != "ingestion quarantine"
)


@pytest.mark.parametrize("kind", LEFT_BY_INGESTION)
def test_a_defect_left_to_the_gate_passes_ingestion_and_breaks_the_amount_range(kind):
    catcher = defects.DEFECTS[kind][1]
    assert catcher == "Great Expectations", f"{kind}: no stage of the pipeline is {catcher!r}"
    frame = datagen.make_orders(DAY, rows=10)
    defects._inject(frame, 3, kind, np.random.default_rng(0))
    ingest.land_batch(DAY, frame=frame)
    result = ingest.load_batch(DAY)
    assert (result.rows_loaded, result.rows_quarantined) == (10, 0), (
        f"expected {kind} to get past ingestion for the quality gate to catch, got {result}"
    )
    amount, (low, high) = float(frame.loc[3, "amount"]), AMOUNT_RANGE
    assert not low <= amount <= high, (
        f"expected {kind}'s amount {amount} outside the orders suite's range {low}..{high}"
    )


@pytest.mark.parametrize("kind", sorted(defects.DEFECTS))
def test_inject_puts_one_defect_into_one_row(kind):
    frame = datagen.make_orders(DAY, rows=10)
    before = frame.copy()
    defects._inject(frame, 3, kind, np.random.default_rng(0))
    changed = (frame != before).any(axis=1)
    assert changed.tolist() == [i == 3 for i in range(10)], f"{kind}: changed {changed.tolist()}"
    assert classify(before.loc[3], frame.loc[3]) == kind, frame.loc[3].to_dict()


# ---- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [0, -1, contract.MAX_ROWS + 1, 2.5, "10", True])
def test_rows_out_of_range_is_a_contract_error_with_the_fix(rows):
    with pytest.raises(ContractError) as info:
        datagen.write_orders(io.BytesIO(), "2026-11-01", rows=rows)
    message = str(info.value)
    assert f"rows={rows!r} is out of range" in message, message
    assert f"Fix: choose a whole number from 1 to {contract.MAX_ROWS:_}" in message, message


def test_a_frame_too_large_for_memory_points_to_the_streaming_writer():
    rows = datagen.FRAME_MAX_ROWS + 1
    with pytest.raises(ContractError) as info:
        datagen.make_orders(DAY, rows=rows)
    message = str(info.value)
    assert f"rows={rows:_} is too many to build as a DataFrame" in message, message
    assert "Fix: stream it to a file with datagen.write_orders()" in message, message


@pytest.mark.parametrize("dirty", [-0.1, 1.5])
def test_dirty_out_of_range_is_a_lab_error_with_the_fix(dirty):
    with pytest.raises(LabError) as info:
        datagen.make_orders("2026-11-01", rows=10, dirty=dirty)
    message = str(info.value)
    assert f"dirty={dirty!r} is out of range" in message, message
    assert "Fix: choose a fraction from 0.0 to 1.0" in message, message


@pytest.mark.parametrize("seed", [-1, 1.5])
def test_a_seed_that_is_not_a_whole_number_is_refused(seed):
    with pytest.raises(ContractError) as info:
        datagen.make_orders(DAY, rows=10, seed=seed)
    assert f"seed={seed!r} is not a seed" in str(info.value), str(info.value)


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


def test_a_refused_write_leaves_no_file(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ContractError):
        datagen.write_orders(folder / "orders.csv", contract.EPOCH, rows=10, updates=0.1)
    assert list(folder.iterdir()) == [], f"expected nothing written, got {list(folder.iterdir())}"


# ---- the CSV -----------------------------------------------------------------------------------


def test_to_csv_bytes_round_trips_as_text():
    frame = datagen.make_orders("2026-11-01", rows=20, dirty=0.3)
    back = pd.read_csv(io.BytesIO(csvtext.to_csv_bytes(frame)), dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, frame.astype(str).reset_index(drop=True))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rows": 1},
        {"rows": 3_000},
        {"rows": 3_000, "dirty": 0.3, "updates": 0.2, "seed": 5},
        {"rows": 500, "dirty": 1.0},
        {"rows": 4_000, "dirty": 0.002},
    ],
)
def test_write_orders_writes_the_bytes_of_to_csv_bytes(kwargs, tmp_path):
    expected = csvtext.to_csv_bytes(datagen.make_orders(DAY, **kwargs))
    sink = io.BytesIO()
    assert datagen.write_orders(sink, DAY, **kwargs) == kwargs["rows"]
    path = tmp_path / "orders.csv"
    datagen.write_orders(path, DAY, **kwargs)
    for label, written in (("file object", sink.getvalue()), ("path", path.read_bytes())):
        assert written == expected, (
            f"{label}: expected {len(expected)} bytes starting {expected[:80]!r}, "
            f"got {len(written)} starting {written[:80]!r}"
        )
    assert expected.startswith(b"order_id,customer_id,order_date,status,amount\n"), expected[:60]
    assert b"\r" not in expected, "expected \\n line ends"


def test_a_defect_with_a_comma_is_quoted_as_pandas_quotes_it():
    frame = datagen.make_orders(DAY, rows=3_000, dirty=0.5)
    assert (frame["amount"] == "12,50").any(), "expected the '12,50' defect at this size"
    written = io.BytesIO()
    datagen.write_orders(written, DAY, rows=3_000, dirty=0.5)
    assert b',"12,50"\n' in written.getvalue(), "expected the comma amount quoted"


class CountingSink:
    """A file object that keeps nothing and notes the live memory at every write."""

    def __init__(self):
        self.bytes = 0
        self.peak = 0

    def write(self, data) -> int:
        size = len(memoryview(data))
        self.bytes += size
        live = pa.total_allocated_bytes() + tracemalloc.get_traced_memory()[0]
        self.peak = max(self.peak, live)
        return size


def test_streaming_memory_does_not_grow_with_rows():
    peaks = {}
    for rows in (datagen.CHUNK_ROWS * 4, datagen.CHUNK_ROWS * 16):
        sink = CountingSink()
        tracemalloc.start()
        try:
            datagen.write_orders(sink, DAY, rows=rows, dirty=0.001)
            numpy_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        peaks[rows] = max(sink.peak, numpy_peak)
        assert sink.bytes > rows * 40, f"expected about 43 bytes a row, got {sink.bytes / rows:.1f}"
    small, large = peaks.values()
    # Two chunks are alive at most (one written while the next is made), whatever the rows;
    # the whole 4M-row CSV alone would be about 170 MB.
    assert large < small * 1.6, f"expected flat memory, got {peaks} (bytes live at the peak)"
    assert large < 120e6, f"expected under 120 MB live (measured: 58 MB), got {large / 1e6:.0f} MB"


# ---- the prepared history ----------------------------------------------------------------------

PREPARED_HISTORY_DAYS = HISTORY_DAYS


@pytest.fixture
def history(prepared_sandbox) -> pd.DataFrame:
    """Every delivery the prepared history loaded, in batch order."""
    frame = get_warehouse().query(
        "select order_id, customer_id, order_date, status, batch_date from raw_orders "
        "order by batch_date, order_id"
    )
    for column in ("order_date", "batch_date"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


@pytest.mark.slow
def test_the_prepared_history_carries_status_updates_within_itself(history):
    days = sorted(history["batch_date"].unique())
    assert len(days) == HISTORY_DAYS, f"expected {HISTORY_DAYS} history days, got {days}"
    updates = history[history["order_date"] < history["batch_date"]]
    per_day = updates.groupby("batch_date").size().reindex(days, fill_value=0)
    share = len(updates) / len(history[history["batch_date"] > days[0]])
    assert per_day.iloc[0] == 0 and (per_day.iloc[1:] > 0).all(), per_day.to_dict()
    assert abs(share - steps.HISTORY_UPDATES) < 0.01, (
        f"expected about {steps.HISTORY_UPDATES:.0%} of the rows after the first day to be "
        f"updates, got {share:.2%} ({per_day.to_dict()})"
    )
    early = updates[updates["order_date"] < days[0]]
    assert early.empty, f"expected updates of history orders only, got {early.head().to_dict()}"


@pytest.mark.slow
def test_each_update_of_the_history_moves_an_earlier_delivery_on(history):
    first = history.drop_duplicates("order_id", keep="first").set_index("order_id")
    updates = history[history["order_date"] < history["batch_date"]]
    quarantined = get_warehouse().query(
        "select cast(batch_date as varchar) as day, count(*) as n from quarantine_orders group by 1"
    )
    quarantined = dict(zip(quarantined["day"], quarantined["n"], strict=True))
    wrong, refused = [], {}
    for row in updates.itertuples():
        if (
            row.order_id not in first.index
            or first.at[row.order_id, "batch_date"] >= row.batch_date
        ):
            day = row.order_date.isoformat()  # its first delivery can only have been refused
            refused[day] = refused.get(day, 0) + 1
            if refused[day] > quarantined.get(day, 0):
                wrong.append(f"{row.order_id}: no earlier delivery before {row.batch_date}")
            continue
        before = first.loc[row.order_id]
        if (before["customer_id"], before["order_date"]) != (row.customer_id, row.order_date):
            wrong.append(f"{row.order_id}: customer or date changed")
        elif row.status not in contract.STATUS_TRANSITIONS[before["status"]]:
            wrong.append(f"{row.order_id}: {before['status']} -> {row.status}")
    delivered = history["order_id"].value_counts()
    assert not wrong and delivered.max() <= 2, (
        f"expected each update to move an earlier delivery on by one transition, at most one "
        f"update an order; got {wrong[:5]}, deliveries per order up to {delivered.max()}"
    )
