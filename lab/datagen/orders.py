"""Deterministic synthetic order batches: the upstream system the pipeline ingests from.

The same date, size, dirt, updates share and seed always give the same bytes, so lessons, tests
and benchmarks are reproducible at any size from one row to `contract.MAX_ROWS`.

How a day's export is made:

- **New orders** get the ids `day * ORDER_ID_DAY_STRIDE + n` (`day` = days since `EPOCH`,
  n = 1, 2, ...), so no two days collide at any size up to the stride, and every id stays below
  2**53 (exact in a float64) for thousands of years of days.
- An order's **customer, amount and first status are pure functions of its id and the seed** (an
  integer hash in lab.datagen.order_ids), so any earlier day's order can be reproduced from its id
  without generating that day again.
- **Updates** (`updates`, a share from 0.0 to `MAX_UPDATES`): that share of the day's rows are
  status changes of orders placed 1 to `reach` days earlier (at most `UPDATE_MAX_DAYS_BACK`; a
  history that starts on day D passes a reach that stays on or after D). An update repeats the
  original's order id, customer, order date and amount and carries a status its first status
  moves to (`contract.STATUS_TRANSITIONS`; a `returned` order is never updated). Each order has
  one day on which it may be updated, 1 to `UPDATE_MAX_DAYS_BACK` days after it was placed
  (`lab.datagen.order_ids.update_lag`), so two days never update the same order and no delivery
  contradicts an earlier one. An update refers to an order number n that existed on that earlier
  day if that day had the same `rows` and `updates` (or fewer updates). Update rows are spread
  evenly through the file; no id appears twice in one file.
- **Dirt** (`dirty`, a fraction from 0.0 to 1.0) is applied last, to any row, new or update: a
  defect happens in transport whatever the row says. `lab.datagen.defects.DEFECTS` names the eight kinds and
  which stage of the pipeline is meant to catch each.

`write_orders` streams a day to a file in chunks of `CHUNK_ROWS` rows (memory stays bounded by the
chunk, not the file); `make_orders` returns the same rows as a DataFrame of strings for sizes that
fit in memory, and `lab.datagen.csvtext.to_csv_bytes(make_orders(...))` is byte for byte what
`write_orders` writes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from lab.contract import (
    DEFAULT_ROWS,
    EPOCH,
    MAX_ROWS,
    MAX_UPDATES,
    ORDER_ID_DAY_STRIDE,
    STATUS_TRANSITIONS,
    STATUSES,
    UPDATE_MAX_DAYS_BACK,
    as_date,
)
from lab.datagen.csvtext import write_chunks
from lab.datagen.defects import DEFECTS, apply_defects
from lab.datagen.order_ids import order_attributes, update_lag
from lab.errors import ContractError

# Rows generated, formatted and written at a time. Part of the definition of the output (each
# chunk has its own random stream for dirt and updates), so changing it changes those rows.
# Measured on 2 cores: 250k rows a chunk, made in a thread while the previous one is written,
# took 1M rows from 2.6x to 1.9x pyarrow's CSV writer (10M: within 1.1x), peak RSS under 300 MB.
CHUNK_ROWS = 250_000
# `make_orders` builds a DataFrame of Python strings (about 0.5 KB a row); beyond this size use
# `write_orders`, which streams.
FRAME_MAX_ROWS = 1_000_000

# status index -> how many statuses it moves to, and their indices (padded with its own)
_NEXT_COUNT = np.array([len(STATUS_TRANSITIONS[s]) for s in STATUSES])
_NEXT_STATUS = np.array(
    [
        [STATUSES.index(t) for t in STATUS_TRANSITIONS[s]]
        + [i] * (max(_NEXT_COUNT) - len(STATUS_TRANSITIONS[s]))
        for i, s in enumerate(STATUSES)
    ]
)
_STATUS_TEXT = pa.array(STATUSES)
_EPOCH_DAY = (EPOCH - dt.date(1970, 1, 1)).days  # Arrow's date32 counts days from 1970-01-01


def _check_args(
    rows, dirty, updates=0.0, seed=42, limit: int = MAX_ROWS, reach=UPDATE_MAX_DAYS_BACK
) -> None:
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
    if (
        isinstance(reach, bool)
        or not isinstance(reach, int | np.integer)
        or not 1 <= reach <= UPDATE_MAX_DAYS_BACK
    ):
        raise ContractError(
            f"reach={reach!r} is out of range. Fix: choose a whole number of days from 1 to "
            f"{UPDATE_MAX_DAYS_BACK} (how far back an update may refer to an order)."
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
    day: int,
    start: int,
    stop: int,
    rows: int,
    n_updates: int,
    dirty: float,
    seed: int,
    reach: int = UPDATE_MAX_DAYS_BACK,
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
        back, n = _update_targets(day, n_up, new_before, m - n_up, seed, index, reach)
        ids[is_update] = (day - back) * ORDER_ID_DAY_STRIDE + n
        days[is_update] = day - back
    customers, cents, status = order_attributes(ids, seed)
    if n_up:
        first = status[is_update]
        draw = np.random.default_rng([seed, day, index, 3]).random(n_up)
        choice = np.floor(draw * _NEXT_COUNT[first]).astype(np.int64)
        status[is_update] = _NEXT_STATUS[first, choice]
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
    kinds = rng.integers(len(DEFECTS), size=n_dirty)
    picks = rng.integers(3, size=n_dirty)
    return apply_defects(columns, victims, kinds, picks), np.sort(victims)


def _update_targets(
    day: int, count: int, new_before: int, new_here: int, seed: int, index: int, reach: int
) -> tuple[np.ndarray, np.ndarray]:
    """Days back and order numbers of `count` distinct earlier orders due for an update today.

    The candidates are the orders of the `reach` days before whose update day is today
    (`update_lag`) and whose status can still move on. A chunk draws from the order numbers its
    own new rows use (on the earlier days), so chunks never pick the same order.
    """
    max_back = min(reach, day)
    if max_back * new_here == 0:
        raise ContractError(
            f"{EPOCH + dt.timedelta(days=day)} has no earlier orders to update (the generator "
            f"starts on {EPOCH}). Fix: choose a later date or updates=0."
        )
    back = np.repeat(np.arange(1, max_back + 1, dtype=np.int64), new_here)
    n = np.tile(np.arange(new_before + 1, new_before + new_here + 1, dtype=np.int64), max_back)
    ids = (day - back) * ORDER_ID_DAY_STRIDE + n
    due = update_lag(ids, seed, UPDATE_MAX_DAYS_BACK) == back
    back, n = back[due], n[due]
    _, _, status = order_attributes(ids[due], seed)
    movable = np.flatnonzero(_NEXT_COUNT[status] > 0)
    if len(movable) < count:
        raise ContractError(
            f"{count} updates need more earlier orders than the {len(movable)} due to change "
            f"status within reach={reach} days. Fix: use more rows, a longer reach (up to "
            f"{UPDATE_MAX_DAYS_BACK}), a later date or a smaller updates share."
        )
    rng = np.random.default_rng([seed, day, index, 2])
    chosen = rng.choice(movable, size=count, replace=False)
    return back[chosen], n[chosen]


def _chunks(
    batch_date, rows, dirty, updates, seed, limit=MAX_ROWS, reach=UPDATE_MAX_DAYS_BACK
) -> list[Callable[[], tuple]]:
    """One call per chunk of the day, each making that chunk (the arguments checked first)."""
    _check_args(rows, dirty, updates, seed, limit, reach)
    _, day = _day_of(batch_date)
    rows, seed, reach = int(rows), int(seed), int(reach)
    n_updates = int(round(rows * float(updates)))
    return [
        partial(
            _chunk, day, start, min(start + CHUNK_ROWS, rows), rows, n_updates, dirty, seed, reach
        )
        for start in range(0, rows, CHUNK_ROWS)
    ]


# ---- the public face ---------------------------------------------------------------------------


def make_orders(
    batch_date: dt.date | str,
    rows: int = DEFAULT_ROWS,
    dirty: float = 0.0,
    seed: int = 42,
    updates: float = 0.0,
    reach: int = UPDATE_MAX_DAYS_BACK,
) -> pd.DataFrame:
    """One day's orders as the upstream system exports them: every value a string.

    At most `FRAME_MAX_ROWS` rows; `write_orders` streams any size to a file.
    """
    tables = [
        pa.table(_as_text(make()[0]))
        for make in _chunks(batch_date, rows, dirty, updates, seed, FRAME_MAX_ROWS, reach)
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
    reach: int = UPDATE_MAX_DAYS_BACK,
) -> int:
    """Write one day's orders as CSV to a path or a binary file object; return the rows written.

    Streams in chunks of `CHUNK_ROWS`: memory does not grow with `rows`. A path is written under
    a temporary name and renamed when complete, so a killed run never leaves a partial file.
    The bytes are those of `csvtext.to_csv_bytes(make_orders(...))` with the same arguments.
    """
    chunks = _chunks(batch_date, rows, dirty, updates, seed, reach=reach)
    if hasattr(target, "write"):
        write_chunks(target, chunks)
        return int(rows)
    path = Path(target)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as fh:
            write_chunks(fh, chunks)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return int(rows)
