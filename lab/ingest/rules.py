"""The row rules of the orders feed, in the two forms the loader needs.

The engine applies them in bulk (`TYPED_COLUMNS` casts strictly, `BAD_ROW` flags what a row
breaks on its own); for the few rows it flags, `reason` reads the original text again and says
which rule the row broke first, in the words the learner sees in the quarantine.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation

from lab.contract import (
    AMOUNT_PRECISION,
    AMOUNT_SCALE,
    CSV_COLUMNS,
    MAX_AMOUNT,
    MAX_KEY,
    MAX_ORDER_AGE_DAYS,
    STATUSES,
)

_MAX_AMOUNT = Decimal(MAX_AMOUNT)

# How read_csv types each column. DuckDB's CSV reader casts while it parses (the fast path) and
# rejects a value it cannot read, with its line. Keys are read as DECIMAL(18, 2), not BIGINT:
# BIGINT would round `7.5` to 8, a decimal keeps the fraction for the rule to refuse; 18 digits
# with 2 decimals hold every key up to contract.MAX_KEY. A date is `%Y-%m-%d`. Status is text:
# an enum column makes an invalid UTF-8 byte abort the whole read instead of rejecting its line.
KEY_TYPE = "DECIMAL(18, 2)"
READ_TYPES = {
    "order_id": KEY_TYPE,
    "customer_id": KEY_TYPE,
    "order_date": "DATE",
    "status": "VARCHAR",
    "amount": f"DECIMAL({AMOUNT_PRECISION}, {AMOUNT_SCALE})",
}
DATE_FORMAT = "%Y-%m-%d"


def _key(column: str) -> str:
    return (
        f"case when {column} = trunc({column}) and {column} between 1 and {MAX_KEY} "
        f"then cast({column} as bigint) end"
    )


def typed_columns(trailing: bool) -> str:
    """The SELECT list that turns a read_csv row into the raw table's five typed columns.

    A value that breaks a rule comes out NULL, so the row is flagged by `bad_row`.
    """
    order_id = _key("order_id")
    if trailing:
        order_id = f"case when coalesce(_trailing, '') = '' then {order_id} end"
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    return ",\n".join(
        [
            f"{order_id} as order_id",
            f"{_key('customer_id')} as customer_id",
            "order_date",
            f"case when status in ({statuses}) then status end as status",
            "amount",
        ]
    )


def bad_row(batch_date_param: str = "?") -> str:
    """A condition true for a typed row that breaks a rule on its own."""
    nulls = " or ".join(f"{c} is null" for c in CSV_COLUMNS)
    return (
        f"{nulls}\n   or order_date > {batch_date_param}"
        f"\n   or order_date < {batch_date_param} - interval {MAX_ORDER_AGE_DAYS} day"
    )


def reason(values: dict[str, str], batch_date: dt.date, *, width: int, found: int) -> str:
    """The first rule a row breaks, from its original text (fields by column name)."""
    if found != width:
        return (
            f"line has more fields than the header's {width}"
            if found > width
            else f"line has fewer fields than the header's {width}"
        )
    for column in CSV_COLUMNS:
        if "\x00" in values.get(column, ""):
            return f"{column} contains a NUL byte"
    for column in ("order_id", "customer_id"):
        problem = _key_problem(column, values.get(column, ""))
        if problem:
            return problem
    problem = _date_problem(values.get("order_date", ""), batch_date)
    if problem:
        return problem
    problem = _amount_problem(values.get("amount", ""))
    if problem:
        return problem
    if values.get("status", "") not in STATUSES:
        return f"status is not one of {', '.join(STATUSES)}"
    if values.get("_trailing"):
        return "line has a value after the last column"
    return ""


def _key_problem(column: str, text: str) -> str:
    value = _whole_number(text)
    if value is None:
        return f"{column} is empty or not a whole number"
    if value > MAX_KEY:
        return f"{column} is beyond the largest key the warehouse holds ({MAX_KEY})"
    if value <= 0:
        return f"{column} is not a positive number (keys start at 1)"
    return ""


def _whole_number(text: str) -> int | None:
    """The whole number a text spells, read as the loader reads it (two decimals), else None."""
    try:
        value = Decimal(text.strip()).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return int(value) if value == value.to_integral_value() else None


def _date_problem(text: str, batch_date: dt.date) -> str:
    try:
        day = dt.datetime.strptime(text.strip(), DATE_FORMAT).date()
    except ValueError:
        return "order_date is not a date (YYYY-MM-DD)"
    if day > batch_date:
        return "order_date is after the batch date"
    if (batch_date - day).days > MAX_ORDER_AGE_DAYS:
        return f"order_date is more than {MAX_ORDER_AGE_DAYS} days before the batch date"
    return ""


def _amount_problem(text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return "amount is not a number"
    if not math.isfinite(number):
        return "amount is not a finite number"
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return "amount is not a number"
    if abs(value.quantize(Decimal(1).scaleb(-AMOUNT_SCALE))) >= _MAX_AMOUNT:
        return (
            f"amount does not fit decimal({AMOUNT_PRECISION}, {AMOUNT_SCALE}) "
            f"(at most {_MAX_AMOUNT - Decimal('0.01')})"
        )
    return ""
