"""The data contract of the orders feed: one place for its columns, types, values and limits.

The generator, the loader, the quality suites, the DAG parameters, the CLI defaults and the
tests read these names; a renamed column or a new status breaks a test here, not production.
"""

from __future__ import annotations

import datetime as dt
import re

from lab.errors import ContractError

# The columns of a delivery, in the order the upstream system writes them, with their
# warehouse types (DuckDB and PostgreSQL spell them the same way).
COLUMNS: dict[str, str] = {
    "order_id": "bigint",
    "customer_id": "bigint",
    "order_date": "date",
    "status": "varchar",
    "amount": "decimal(12, 2)",
}
CSV_COLUMNS: tuple[str, ...] = tuple(COLUMNS)
# What an update of an earlier order may not change.
IMMUTABLE_COLUMNS: tuple[str, ...] = ("customer_id", "order_date")

STATUSES: tuple[str, ...] = ("placed", "shipped", "completed", "returned", "return_pending")
STATUS_WEIGHTS: tuple[float, ...] = (0.15, 0.2, 0.5, 0.1, 0.05)
# The statuses that count as revenue: a returned order never does; one whose return is still
# pending does until the return completes. dbt reads both lists as project variables.
REVENUE_STATUSES: tuple[str, ...] = tuple(s for s in STATUSES if s != "returned")
# How an order's status may move on: a later delivery of an order carries one of the statuses
# its current one leads to. `returned` is final.
STATUS_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "placed": ("shipped",),
    "shipped": ("completed", "return_pending"),
    "completed": ("return_pending",),
    "return_pending": ("returned",),
    "returned": (),
}

AMOUNT_PRECISION, AMOUNT_SCALE = 12, 2
# An order date more than this many days before its batch date is refused (a typo, not history).
MAX_ORDER_AGE_DAYS = 365
MAX_AMOUNT = 10 ** (AMOUNT_PRECISION - AMOUNT_SCALE)  # exclusive: decimal(12, 2) holds less
# Keys are whole numbers from 1 to MAX_KEY (16 digits: above 2**53, so a key that a float64
# would round is still kept exactly). Any spelling of a whole number is read as that number
# (`7`, `007`, `+7`, `7.0`, `7e0`); a fraction (`7.5`) is refused, never rounded. (The reader
# keeps two decimals, so a fraction under half a cent, `7.004`, reads as 7.)
MAX_KEY = 10**16 - 1

# The generator: order ids are `day * ORDER_ID_DAY_STRIDE + n`, so no two days collide at any
# size up to the stride. Customer ids are those of dbt/seeds/raw_customers.csv.
ORDER_ID_DAY_STRIDE = 1_000_000_000
MAX_ROWS = 100_000_000
DEFAULT_ROWS = 500
# The largest batch the notebook pipeline DAG offers (its `rows` param): lesson 01 reads its
# batch whole into pandas (`ingest.read_batch`), so a notebook run stays small; `lab datagen`
# and `lab ingest` go up to MAX_ROWS.
MAX_NOTEBOOK_ROWS = 99_999
CUSTOMER_IDS = range(1, 101)
# Status updates (datagen's `updates` and `reach`): an update needs an earlier order to refer to,
# and an order is updated at most once: a day's candidates are about one day's new orders (those
# whose update day it is, over the reach), of which nine in ten can still move on. Up to 0.4 of
# the rows they outnumber the updates. An update refers to an order at most this many days back.
MAX_UPDATES = 0.4
UPDATE_MAX_DAYS_BACK = 7
EPOCH = dt.date(2020, 1, 1)

DEFAULT_RUN_DATE = "2026-11-01"

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def as_date(value: dt.date | str) -> dt.date:
    """A date, or exactly an ISO date string (`2026-11-01`); anything else is refused."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if _ISO_DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise ContractError(
        f"{value!r} is not a date. Fix: use the ISO form YYYY-MM-DD, e.g. {DEFAULT_RUN_DATE}."
    )
