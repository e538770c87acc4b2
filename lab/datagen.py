"""Deterministic synthetic order batches: the upstream system the pipeline ingests from.

The same date, size, dirt, updates share and seed always give the same bytes, so lessons, tests
and benchmarks are reproducible at any size from one row to `contract.MAX_ROWS`.

How a day's export is made:

- **New orders** get the ids `day * ORDER_ID_DAY_STRIDE + n` (`day` = days since `EPOCH`,
  n = 1, 2, ...), so no two days collide at any size up to the stride, and every id stays below
  2**53 (exact in a float64) for thousands of years of days.
- An order's **customer, amount and first status are pure functions of its id and the seed** (an
  integer hash, vectorised with numpy), so any earlier day's order can be reproduced from its id
  without generating that day again.
- **Updates** (`updates`, a share from 0.0 to `MAX_UPDATES`): that share of the day's rows are
  status changes of orders placed 1 to `UPDATE_MAX_DAYS_BACK` days earlier. An update repeats the
  original's order id, customer, order date and amount and carries a later status in
  `LIFECYCLE` (an order already `returned` is never updated). It refers to an order number n that
  existed on that earlier day if that day had the same `rows` and `updates` (or fewer updates).
  Update rows are spread evenly through the file; no id appears twice in one file.
- **Dirt** (`dirty`, a fraction from 0.0 to 1.0) is applied last, to any row, new or update: a
  defect happens in transport whatever the row says. `DEFECTS` names the eight kinds and which
  stage of the pipeline is meant to catch each.

`write_orders` streams a day to a file in chunks of `CHUNK_ROWS` rows (memory stays bounded by the
chunk, not the file); `make_orders` returns the same rows as a DataFrame of strings for sizes that
fit in memory, and `to_csv_bytes(make_orders(...))` is byte for byte what `write_orders` writes.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lab.contract import (
    CSV_COLUMNS,
    CUSTOMER_IDS,
    DEFAULT_ROWS,
    EPOCH,
    MAX_ROWS,
    ORDER_ID_DAY_STRIDE,
    STATUS_WEIGHTS,
    STATUSES,
    as_date,
)
from lab.errors import ContractError

# Rows generated, formatted and written at a time. Part of the definition of the output (each
# chunk has its own random stream for dirt and updates), so changing it changes those rows.
# Measured on 2 cores: 250k rows a chunk, made in a thread while the previous one is written,
# took 1M rows from 2.6x to 1.9x pyarrow's CSV writer (10M: within 1.1x), peak RSS under 300 MB.
CHUNK_ROWS = 250_000
# `make_orders` builds a DataFrame of Python strings (about 0.5 KB a row); beyond this size use
# `write_orders`, which streams.
FRAME_MAX_ROWS = 1_000_000
# An update needs an earlier order to refer to: with at most half the rows updates, the orders of
# the previous days always outnumber them.
MAX_UPDATES = 0.5
UPDATE_MAX_DAYS_BACK = 7
# The order in which an order's status moves; an update always moves it forward.
LIFECYCLE: tuple[str, ...] = ("placed", "shipped", "completed", "return_pending", "returned")
HEADER = (",".join(CSV_COLUMNS) + "\n").encode()
# Arrow's CSV writer for chunks with nothing to quote; 64k-row batches measured 20% faster than
# its default of 1,024.
_PLAIN = pacsv.WriteOptions(include_header=False, quoting_style="none", eol="\n", batch_size=65_536)

# defect -> (what it does, who catches it)
DEFECTS = {
    "missing_order_id": ("order_id left empty", "ingestion quarantine"),
    "duplicate_order_id": ("order_id repeated from another row", "ingestion quarantine"),
    "missing_customer_id": ("customer_id left empty", "ingestion quarantine"),
    "bad_date": ("order_date that is not a date", "ingestion quarantine"),
    "bad_amount": ("amount that is not a number", "ingestion quarantine"),
    "unknown_status": ("status outside the allowed values", "ingestion quarantine"),
    "negative_amount": ("a refund booked as a negative amount", "Great Expectations"),
    "amount_in_cents": ("amount exported in cents (100x too large)", "Great Expectations"),
}
_KINDS = tuple(DEFECTS)
# The values a defect of a kind writes (one of them, drawn per row), and the column it touches.
_BAD_VALUES = {
    "bad_date": ("2026-13-45", "yesterday", "31/02/2026"),
    "bad_amount": ("n/a", "12,50", "$-"),
    "unknown_status": ("lost", "SHIPPED!", "cancelled?"),
}
_DEFECT_COLUMN = {
    "missing_order_id": "order_id",
    "duplicate_order_id": "order_id",
    "missing_customer_id": "customer_id",
    "bad_date": "order_date",
    "bad_amount": "amount",
    "unknown_status": "status",
    "negative_amount": "amount",
    "amount_in_cents": "amount",
}

_STATUS_CUMULATIVE = np.cumsum(STATUS_WEIGHTS) / np.sum(STATUS_WEIGHTS)
_STATUS_STEP = np.array([LIFECYCLE.index(s) for s in STATUSES])  # status index -> lifecycle step
_STATUS_OF_STEP = np.array([STATUSES.index(s) for s in LIFECYCLE])  # lifecycle step -> status
_CUSTOMERS = np.asarray(CUSTOMER_IDS, dtype=np.int64)
_STATUS_TEXT = pa.array(STATUSES)
_EPOCH_DAY = (EPOCH - dt.date(1970, 1, 1)).days  # Arrow's date32 counts days from 1970-01-01
_NEEDS_QUOTES = r'[",\r\n]'  # what makes pandas' (and the csv module's) minimal quoting quote


def _check_args(rows, dirty, updates=0.0, seed=42, limit: int = MAX_ROWS) -> None:
    if (
        isinstance(rows, bool)
        or not isinstance(rows, int | np.integer)
        or not 1 <= rows <= MAX_ROWS
    ):
        raise ContractError(
            f"rows={rows!r} is out of range. Fix: choose a whole number from 1 to {MAX_ROWS:_}."
        )
    if rows > limit:
        raise ContractError(
            f"rows={rows:_} is too many to build as a DataFrame in memory (at most {limit:_}). "
            "Fix: stream it to a file with datagen.write_orders() or `lab datagen --out FILE`."
        )
    if not isinstance(dirty, int | float) or not 0.0 <= float(dirty) <= 1.0:
        raise ContractError(
            f"dirty={dirty!r} is out of range. Fix: choose a fraction from 0.0 to 1.0."
        )
    if not isinstance(updates, int | float) or not 0.0 <= float(updates) <= MAX_UPDATES:
        raise ContractError(
            f"updates={updates!r} is out of range. Fix: choose a fraction from 0.0 to "
            f"{MAX_UPDATES} (the share of rows that change an earlier order's status)."
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ContractError(f"seed={seed!r} is not a seed. Fix: choose a whole number from 0 on.")


def _day_of(batch_date) -> tuple[dt.date, int]:
    batch_date = as_date(batch_date)
    if batch_date < EPOCH:
        raise ContractError(
            f"{batch_date} is before {EPOCH}, the first day the generator knows. "
            f"Fix: choose a date from {EPOCH} on."
        )
    return batch_date, (batch_date - EPOCH).days


# ---- pure functions of an order id -------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on a uint64 array: every input bit moves every output bit."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _hash(ids: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """A uint64 hash of each id, one independent stream per (seed, stream)."""
    key = _mix(np.array([(seed * 16 + stream) % 2**64], dtype=np.uint64))[0]
    x = ids.astype(np.uint64)
    x *= _GOLDEN
    x += key
    return _mix(x)


def _uniform(ids: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """A float in (0, 1) per id."""
    return ((_hash(ids, seed, stream) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def order_attributes(ids: np.ndarray, seed: int = 42) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customer id, amount in cents and first status index (into STATUSES) of each order id.

    Pure functions of the id and the seed: an update of an earlier order reproduces them exactly.
    Amounts follow 1 + gamma(shape 2, scale 30) (a sum of two exponentials), in whole cents.
    """
    ids = np.asarray(ids, dtype=np.int64)
    h = _hash(ids, seed, 1)  # high 32 bits: the customer; low 32 bits: the status
    customers = _CUSTOMERS[(h >> np.uint64(32)) % np.uint64(len(_CUSTOMERS))]
    u = ((h & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) * 2.0**-32
    status = np.searchsorted(_STATUS_CUMULATIVE, u, side="right")
    amount = 1.0 - 30.0 * np.log(_uniform(ids, seed, 2) * _uniform(ids, seed, 3))
    cents = np.rint(amount * 100.0).astype(np.int64)
    return customers, cents, np.minimum(status, len(STATUSES) - 1)


# ---- one chunk of a day ------------------------------------------------------------------------


def _cents_to_decimal(cents: np.ndarray) -> pa.Array:
    """A decimal(12, 2) array (12345 -> 123.45) built on the integers' own bits, no arithmetic."""
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63  # sign extension to 128 bits
    return pa.Array.from_buffers(pa.decimal128(12, 2), len(cents), [None, pa.py_buffer(words)])


def _as_text(columns: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """Every column as text, as the CSV shows it (ISO dates, amounts with two decimals)."""
    return {k: v if v.type == pa.string() else v.cast(pa.string()) for k, v in columns.items()}


def _chunk(
    day: int, start: int, stop: int, rows: int, n_updates: int, dirty: float, seed: int
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Rows start..stop-1 of the day, and the positions of its defective rows.

    A clean chunk's columns are typed (int64, date32, decimal), which Arrow's CSV writer formats
    fastest; a chunk with defects is all text.
    """
    index = start // CHUNK_ROWS
    m = stop - start
    n_up = 0
    if n_updates:
        # Bresenham: position p is an update when floor((p+1)U/R) steps, so exactly U of the R
        # rows are, spread evenly; the new orders in between are numbered 1, 2, ... in order.
        before = (np.arange(start, stop + 1, dtype=np.int64) * n_updates) // rows
        is_update = np.diff(before) == 1
        n_up = int(is_update.sum())
        new_before = start - int(before[0])  # new orders in the rows before this chunk
        n = np.arange(start + 1, stop + 1, dtype=np.int64) - before[:-1]
    else:
        n = np.arange(start + 1, stop + 1, dtype=np.int64)
    ids = day * ORDER_ID_DAY_STRIDE + n
    days = np.full(m, day, dtype=np.int64)
    if n_up:
        back, n = _update_targets(day, n_up, new_before, m - n_up, seed, index)
        ids[is_update] = (day - back) * ORDER_ID_DAY_STRIDE + n
        days[is_update] = day - back
    customers, cents, status = order_attributes(ids, seed)
    if n_up:
        step = _STATUS_STEP[status[is_update]]
        draw = np.random.default_rng([seed, day, index, 3]).random(n_up)
        later = step + 1 + np.floor(draw * (len(LIFECYCLE) - 1 - step)).astype(np.int64)
        status[is_update] = _STATUS_OF_STEP[later]
    columns = {
        "order_id": pa.array(ids),
        "customer_id": pa.array(customers),
        "order_date": pa.array((days + _EPOCH_DAY).astype(np.int32), pa.date32()),
        "status": _STATUS_TEXT.take(pa.array(status)),
        "amount": _cents_to_decimal(cents),
    }
    n_dirty = int(round(m * float(dirty)))
    if not n_dirty:
        return columns, np.empty(0, dtype=np.int64)
    columns = _as_text(columns)
    rng = np.random.default_rng([seed, day, index, 1])
    victims = rng.choice(m, size=n_dirty, replace=False)
    kinds = rng.integers(len(_KINDS), size=n_dirty)
    picks = rng.integers(3, size=n_dirty)
    return _apply_defects(columns, victims, kinds, picks), np.sort(victims)


def _update_targets(
    day: int, count: int, new_before: int, new_here: int, seed: int, index: int
) -> tuple[np.ndarray, np.ndarray]:
    """Days back and order numbers of `count` distinct earlier orders that can still move on.

    A chunk draws from the order numbers its own new rows use (on the earlier days), so chunks
    never pick the same order; orders already at the last lifecycle step are skipped.
    """
    max_back = min(UPDATE_MAX_DAYS_BACK, day)
    population = max_back * new_here
    if population == 0:
        raise ContractError(
            f"{EPOCH + dt.timedelta(days=day)} has no earlier orders to update (the generator "
            f"starts on {EPOCH}). Fix: choose a later date or updates=0."
        )
    rng = np.random.default_rng([seed, day, index, 2])
    size = min(population, count + count // 4 + 64)
    while True:
        drawn = rng.choice(population, size=size, replace=False)
        back = 1 + drawn // new_here
        n = new_before + 1 + drawn % new_here
        _, _, status = order_attributes((day - back) * ORDER_ID_DAY_STRIDE + n, seed)
        movable = _STATUS_STEP[status] < len(LIFECYCLE) - 1
        if movable.sum() >= count or size == population:
            break
        size = population
    if movable.sum() < count:
        raise ContractError(
            f"{count} updates need more earlier orders than the {int(movable.sum())} that can "
            "still change status. Fix: use more rows, a later date or a smaller updates share."
        )
    chosen = np.flatnonzero(movable)[:count]
    return back[chosen], n[chosen]


def _apply_defects(
    columns: dict[str, pa.Array], victims: np.ndarray, kinds: np.ndarray, picks: np.ndarray
) -> dict[str, pa.Array]:
    """Put defect `_KINDS[kinds[i]]` into row `victims[i]` (distinct rows), one column at a time.

    Every replacement is computed from the columns as given, so the victims' order is irrelevant.
    """
    m = len(columns["order_id"])
    out = dict(columns)
    for name in CSV_COLUMNS:
        rows, values = [], []
        for k, kind in enumerate(_KINDS):
            if _DEFECT_COLUMN[kind] != name:
                continue
            idx = victims[kinds == k]
            if not len(idx):
                continue
            if kind in ("missing_order_id", "missing_customer_id"):
                value = pa.array([""]).take(pa.array(np.zeros(len(idx), dtype=np.int64)))
            elif kind == "duplicate_order_id":
                value = columns["order_id"].take(pa.array((idx + 1) % m))
            elif kind in _BAD_VALUES:
                value = pa.array(_BAD_VALUES[kind]).take(pa.array(picks[kinds == k]))
            elif kind == "negative_amount":
                value = pc.binary_join_element_wise("-", columns["amount"].take(pa.array(idx)), "")
            else:  # amount_in_cents: the amount's digits without the point
                amount = columns["amount"].take(pa.array(idx))
                value = pc.replace_substring(amount, ".", "").cast(pa.int64()).cast(pa.string())
            rows.append(idx)
            values.append(value)
        if not rows:
            continue
        idx = np.concatenate(rows)
        order = np.argsort(idx, kind="stable")
        mask = np.zeros(m, dtype=bool)
        mask[idx] = True
        replacement = pa.concat_arrays([v.cast(pa.string()) for v in values]).take(pa.array(order))
        out[name] = pc.replace_with_mask(columns[name], pa.array(mask), replacement)
    return out


def _chunks(batch_date, rows, dirty, updates, seed, limit=MAX_ROWS) -> list[Callable[[], tuple]]:
    """One call per chunk of the day, each making that chunk (the arguments checked first)."""
    _check_args(rows, dirty, updates, seed, limit)
    _, day = _day_of(batch_date)
    rows, seed = int(rows), int(seed)
    n_updates = int(round(rows * float(updates)))
    return [
        partial(_chunk, day, start, min(start + CHUNK_ROWS, rows), rows, n_updates, dirty, seed)
        for start in range(0, rows, CHUNK_ROWS)
    ]


# ---- the public face ---------------------------------------------------------------------------


def make_orders(
    batch_date: dt.date | str,
    rows: int = DEFAULT_ROWS,
    dirty: float = 0.0,
    seed: int = 42,
    updates: float = 0.0,
) -> pd.DataFrame:
    """One day's orders as the upstream system exports them: every value a string.

    At most `FRAME_MAX_ROWS` rows; `write_orders` streams any size to a file.
    """
    tables = [
        pa.table(_as_text(make()[0]))
        for make in _chunks(batch_date, rows, dirty, updates, seed, FRAME_MAX_ROWS)
    ]
    frame = pa.concat_tables(tables).to_pandas()
    return frame.astype(object)


def write_orders(
    target: str | os.PathLike | BinaryIO,
    batch_date: dt.date | str,
    rows: int = DEFAULT_ROWS,
    dirty: float = 0.0,
    updates: float = 0.0,
    seed: int = 42,
) -> int:
    """Write one day's orders as CSV to a path or a binary file object; return the rows written.

    Streams in chunks of `CHUNK_ROWS`: memory does not grow with `rows`. A path is written under
    a temporary name and renamed when complete, so a killed run never leaves a partial file.
    The bytes are those of `to_csv_bytes(make_orders(...))` with the same arguments.
    """
    chunks = _chunks(batch_date, rows, dirty, updates, seed)
    if hasattr(target, "write"):
        _write(target, chunks)
        return int(rows)
    path = Path(target)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as fh:
            _write(fh, chunks)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return int(rows)


def _write(fh, chunks: list[Callable[[], tuple]]) -> None:
    """Write the header and every chunk, making the next chunk in a thread while one is written."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(chunks[0])
        columns, suspects = pending.result()  # a chunk that cannot be made fails before a byte
        fh.write(HEADER)
        for make in chunks[1:]:
            pending = pool.submit(make)
            _write_chunk(fh, columns, suspects)
            columns, suspects = pending.result()
        _write_chunk(fh, columns, suspects)


def _write_chunk(fh, columns: dict[str, pa.Array], suspects: np.ndarray) -> None:
    lines = _csv_lines(columns, suspects)
    if lines is not None:
        fh.write(lines)
    elif isinstance(fh, io.IOBase):  # nothing to quote: Arrow's writer is fastest
        pacsv.write_csv(pa.table(columns), fh, write_options=_PLAIN)
    else:  # any object with a write method
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.table(columns), sink, write_options=_PLAIN)
        fh.write(memoryview(sink.getvalue()))


def _csv_lines(columns: dict[str, pa.Array], suspects: np.ndarray) -> memoryview | None:
    """The CSV text of the rows (pandas' minimal quoting, `\\n` line ends) as one buffer.

    Generated values never need quotes; only the rows in `suspects` (the defective ones) are
    checked, so a clean chunk costs no scan. None when no value needs quotes.
    """
    if not len(suspects):
        return None
    fields = []
    quoting = False
    for name in CSV_COLUMNS:
        values = columns[name]
        if len(suspects):
            suspect = values.take(pa.array(suspects))
            needs = pc.match_substring_regex(suspect, _NEEDS_QUOTES).to_numpy(zero_copy_only=False)
            if needs.any():
                chosen = suspect.filter(pa.array(needs))
                quoted = pc.binary_join_element_wise(
                    '"', pc.replace_substring(chosen, '"', '""'), '"', ""
                )
                mask = np.zeros(len(values), dtype=bool)
                mask[suspects[needs]] = True
                values = pc.replace_with_mask(values, pa.array(mask), quoted)
                quoting = True
        fields.append(values)
    if not quoting:
        return None
    fields[-1] = pc.binary_join_element_wise(fields[-1], "", "\n")
    lines = pc.binary_join_element_wise(*fields, ",")
    if lines.type != pa.string():
        lines = lines.cast(pa.string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    begin, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[begin:end]


def _inject(frame: pd.DataFrame, idx: int, kind: str, rng: np.random.Generator) -> None:
    """Put one defect of `kind` into row `idx` of a `make_orders` frame, in place."""
    columns = {
        name: pa.array(frame[name].astype(str).tolist(), pa.string()) for name in CSV_COLUMNS
    }
    columns = _apply_defects(
        columns,
        np.array([idx]),
        np.array([_KINDS.index(kind)]),
        rng.integers(3, size=1),
    )
    for name in CSV_COLUMNS:
        frame[name] = np.asarray(columns[name].to_pylist(), dtype=object)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The CSV bytes the upstream system would send."""
    return frame.to_csv(index=False).encode()
