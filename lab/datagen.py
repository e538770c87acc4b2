"""Deterministic synthetic order batches: the upstream system the pipeline ingests from.

The same date, size and dirt always give the same rows, so lessons and tests are reproducible.
`dirty` is the fraction of rows that carry a realistic defect; `DEFECTS` says which kinds exist
and which stage of the pipeline is meant to catch each.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from lab.contract import (
    CUSTOMER_IDS,
    DEFAULT_ROWS,
    STATUS_WEIGHTS,
    STATUSES,
    as_date,
)
from lab.contract import EPOCH as _EPOCH
from lab.errors import LabError

MAX_ROWS = 99_999

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


def _check_args(rows: int, dirty: float) -> None:
    if not isinstance(rows, int | np.integer) or not 1 <= rows <= MAX_ROWS:
        raise LabError(
            f"rows={rows!r} is out of range. Fix: choose a whole number from 1 to {MAX_ROWS}."
        )
    if not 0.0 <= float(dirty) <= 1.0:
        raise LabError(f"dirty={dirty!r} is out of range. Fix: choose a fraction from 0.0 to 1.0.")


def make_orders(
    batch_date: dt.date | str, rows: int = DEFAULT_ROWS, dirty: float = 0.0, seed: int = 42
) -> pd.DataFrame:
    """One day's orders as the upstream system exports them: every value a string."""
    batch_date = as_date(batch_date)
    _check_args(rows, dirty)
    if batch_date < _EPOCH:
        raise LabError(
            f"{batch_date} is before {_EPOCH}, the first day the generator knows. "
            f"Fix: choose a date from {_EPOCH} on."
        )
    day = (batch_date - _EPOCH).days
    rng = np.random.default_rng([seed, day])
    order_ids = day * 100_000 + np.arange(1, rows + 1)
    frame = pd.DataFrame(
        {
            "order_id": order_ids.astype(str),
            "customer_id": rng.choice(np.array(CUSTOMER_IDS), size=rows).astype(str),
            "order_date": batch_date.isoformat(),
            "status": rng.choice(np.array(STATUSES), size=rows, p=STATUS_WEIGHTS),
            "amount": np.round(rng.gamma(shape=2.0, scale=30.0, size=rows) + 1.0, 2),
        }
    )
    frame["amount"] = frame["amount"].map(lambda x: f"{x:.2f}")
    frame = frame.astype(object)
    n_dirty = int(round(rows * float(dirty)))
    if n_dirty:
        victims = rng.choice(rows, size=n_dirty, replace=False)
        kinds = rng.choice(np.array(list(DEFECTS)), size=n_dirty)
        for idx, kind in zip(victims, kinds, strict=True):
            _inject(frame, int(idx), str(kind), rng)
    return frame


def _inject(frame: pd.DataFrame, idx: int, kind: str, rng: np.random.Generator) -> None:
    if kind == "missing_order_id":
        frame.at[idx, "order_id"] = ""
    elif kind == "duplicate_order_id":
        other = (idx + 1) % len(frame) if len(frame) > 1 else idx
        frame.at[idx, "order_id"] = frame.at[other, "order_id"] or str(frame.index[other])
    elif kind == "missing_customer_id":
        frame.at[idx, "customer_id"] = ""
    elif kind == "bad_date":
        frame.at[idx, "order_date"] = rng.choice(["2026-13-45", "yesterday", "31/02/2026"])
    elif kind == "bad_amount":
        frame.at[idx, "amount"] = rng.choice(["n/a", "12,50", "$-"])
    elif kind == "unknown_status":
        frame.at[idx, "status"] = rng.choice(["lost", "SHIPPED!", "cancelled?"])
    elif kind == "negative_amount":
        frame.at[idx, "amount"] = f"-{frame.at[idx, 'amount']}".replace("--", "-")
    elif kind == "amount_in_cents":
        try:
            frame.at[idx, "amount"] = f"{float(frame.at[idx, 'amount']) * 100:.0f}"
        except ValueError:
            pass


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The CSV bytes the upstream system would send."""
    return frame.to_csv(index=False).encode()
