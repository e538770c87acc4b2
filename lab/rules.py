"""The row rules of the orders feed, in the two forms the loader needs.

The engine applies them in bulk (`TYPED_COLUMNS` casts strictly, `BAD_ROW` flags what a row
breaks on its own); for the few rows it flags, `reason` reads the original text again and says
which rule the row broke first, in the words the learner sees in the quarantine.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation

from lab.contract import AMOUNT_PRECISION, AMOUNT_SCALE, CSV_COLUMNS, MAX_ORDER_AGE_DAYS, STATUSES

MAX_KEY = 2**63 - 1
_DIGITS = re.compile(r"[0-9]+")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_AMOUNT = Decimal(10) ** (AMOUNT_PRECISION - AMOUNT_SCALE)

# How read_csv types each column: keys and dates as text (the engine's own casts accept `0x10`,
# `1e3` and `2026-1-1`), so the strict casts below decide. Status is text too: an enum column
# makes an invalid UTF-8 byte abort the whole read instead of rejecting its line.
READ_TYPES = {
    "order_id": "VARCHAR",
    "customer_id": "VARCHAR",
    "order_date": "VARCHAR",
    "status": "VARCHAR",
    "amount": f"DECIMAL({AMOUNT_PRECISION}, {AMOUNT_SCALE})",
}


def _strict_key(column: str) -> str:
    # a key is plain digits: `trim(x) = cast(try_cast(x as bigint) as varchar)` refuses signs,
    # leading zeros, decimals, exponents and hex, and a NUL byte anywhere
    return (
        f"case when trim({column}) = cast(try_cast({column} as bigint) as varchar) "
        f"and try_cast({column} as bigint) > 0 then try_cast({column} as bigint) end"
    )


def typed_columns(trailing: bool) -> str:
    """The SELECT list that turns a read_csv row into the raw table's five typed columns.

    A value that breaks a rule comes out NULL, so the row is flagged by `BAD_ROW`.
    """
    order_id = _strict_key("order_id")
    if trailing:
        order_id = f"case when coalesce(_trailing, '') = '' then {order_id} end"
    return ",\n".join(
        [
            f"{order_id} as order_id",
            f"{_strict_key('customer_id')} as customer_id",
            "case when length(trim(order_date)) = 10 then try_cast(order_date as date) end"
            " as order_date",
            f"case when status in ({', '.join(repr(s) for s in STATUSES)}) then status end"
            " as status",
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
    value = text.strip()
    if not _DIGITS.fullmatch(value):
        return f"{column} is empty or not a whole number"
    if int(value) > MAX_KEY:
        return f"{column} is beyond the largest key the warehouse holds ({MAX_KEY})"
    if int(value) == 0:
        return f"{column} is 0 (keys start at 1)"
    if value.startswith("0"):
        return f"{column} has leading zeros (keys are plain digits)"
    return ""


def _date_problem(text: str, batch_date: dt.date) -> str:
    value = text.strip()
    try:
        day = dt.date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:
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
