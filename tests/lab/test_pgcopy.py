"""lab.ingest.pgcopy against PostgreSQL itself: binary rows must read back as the same values the
server makes of their text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import psycopg
import pytest

from lab.contract import MAX_KEY, STATUSES
from lab.ingest import pgcopy

AMOUNTS = [
    "0.00",
    "0.01",
    "0.10",
    "1.00",
    "99.99",
    "10000.00",
    "123456789.01",
    "9999999999.99",
    "-0.01",
    "-12.34",
    "-9999999999.99",
    "100000000.00",
]
DAYS = [
    dt.date(1970, 1, 1),
    dt.date(1999, 12, 31),
    dt.date(2000, 1, 1),
    dt.date(2026, 11, 1),
    dt.date(2024, 2, 29),
    dt.date(9999, 12, 31),
]
TABLE = (
    "create table {} (order_id bigint, customer_id bigint, order_date date, "
    "status varchar, amount decimal(12, 2))"
)


@pytest.fixture
def con(postgres_dsn):
    with psycopg.connect(postgres_dsn) as con:
        for name in ("binary_rows", "text_rows"):
            con.execute(TABLE.format(name))
        yield con


def orders(n: int) -> dict[str, list]:
    return {
        "order_id": [MAX_KEY - i if i % 2 else i + 1 for i in range(n)],
        "customer_id": [i * 7919 + 1 for i in range(n)],
        "order_date": [DAYS[i % len(DAYS)] for i in range(n)],
        "amount": [AMOUNTS[i % len(AMOUNTS)] for i in range(n)],
        "status": [STATUSES[i % len(STATUSES)] for i in range(n)],
    }


def copy_binary(con, rows: dict[str, list]) -> None:
    cents = [int(Decimal(a) * 100) for a in rows["amount"]]
    codes = [STATUSES.index(s) for s in rows["status"]]
    data = pgcopy.encode(
        np.array(rows["order_id"], dtype=np.int64),
        np.array(rows["customer_id"], dtype=np.int64),
        np.array(rows["order_date"], dtype="datetime64[D]"),
        np.array(cents, dtype=np.int64),
        np.array(codes, dtype=np.uint8),
    )
    columns = ", ".join(pgcopy.COLUMNS)
    with con.cursor().copy(f"copy binary_rows ({columns}) from stdin (format binary)") as copy:
        copy.write(pgcopy.HEADER)
        copy.write(data)
        copy.write(pgcopy.TRAILER)


def test_binary_rows_read_back_as_the_server_reads_their_text(con):
    rows = orders(60)  # every amount with every day and status at least once
    copy_binary(con, rows)
    with con.cursor().copy(f"copy text_rows ({', '.join(rows)}) from stdin") as copy:
        for values in zip(*rows.values(), strict=True):
            copy.write_row(values)
    differ = con.execute(
        "select count(*) from ((select * from binary_rows except all select * from text_rows) "
        "union all (select * from text_rows except all select * from binary_rows)) d"
    ).fetchone()[0]
    assert differ == 0, con.execute("select * from binary_rows limit 12").fetchall()
    got = con.execute("select amount::text from binary_rows order by amount").fetchall()
    assert sorted(Decimal(a) for (a,) in got) == sorted(Decimal(a) for a in rows["amount"])
    assert con.execute("select count(*) from binary_rows").fetchone()[0] == 60


def test_an_empty_batch_encodes_to_nothing(con):
    copy_binary(con, {name: [] for name in orders(0)})
    assert con.execute("select count(*) from binary_rows").fetchone()[0] == 0
