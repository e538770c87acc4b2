"""Dirt: the defects a delivery's rows can carry in transport, and how each is put into a row.

`DEFECTS` names the eight kinds and which stage of the pipeline is meant to catch each;
`apply_defects` writes them into Arrow text columns (lab.datagen's dirty rows), `_inject` into one
row of a DataFrame (the tests' single defects).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lab.contract import CSV_COLUMNS

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
KINDS = tuple(DEFECTS)
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


def apply_defects(
    columns: dict[str, pa.Array], victims: np.ndarray, kinds: np.ndarray, picks: np.ndarray
) -> dict[str, pa.Array]:
    """Put defect `KINDS[kinds[i]]` into row `victims[i]` (distinct rows), one column at a time.

    Every replacement is computed from the columns as given, so the victims' order is irrelevant.
    """
    m = len(columns["order_id"])
    out = dict(columns)
    for name in CSV_COLUMNS:
        rows, values = [], []
        for k, kind in enumerate(KINDS):
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


def _inject(frame: pd.DataFrame, idx: int, kind: str, rng: np.random.Generator) -> None:
    """Put one defect of `kind` into row `idx` of a `make_orders` frame, in place."""
    columns = {
        name: pa.array(frame[name].astype(str).tolist(), pa.string()) for name in CSV_COLUMNS
    }
    columns = apply_defects(
        columns,
        np.array([idx]),
        np.array([KINDS.index(kind)]),
        rng.integers(3, size=1),
    )
    for name in CSV_COLUMNS:
        frame[name] = np.asarray(columns[name].to_pylist(), dtype=object)
