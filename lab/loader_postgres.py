"""The `stack` half of the loader: DuckDB checks the file, PostgreSQL receives one COPY.

DuckDB reads and checks the delivery in memory; the good rows stream to PostgreSQL as Arrow
record batches written as CSV into one `COPY` of the contract's five columns, while the server
fills batch_date, source_file and loaded_at from column defaults set inside the transaction.
Everything (delete, copy, quarantine, load record) commits together or not at all.
"""

from __future__ import annotations

import io

import pandas as pd

from lab import loader
from lab.config import LOAD_BATCHES, QUARANTINE_ORDERS, RAW_ORDERS
from lab.contract import CSV_COLUMNS
from lab.loader import (
    Batch,
    Outcome,
    check_counts,
    previous_state,
    quarantine_rows,
    record_row,
    rejected_records,
    settle,
)
from lab.rules import typed_columns

COPY_BATCH_ROWS = 100_000


def load_postgres(warehouse, batch: Batch) -> Outcome:
    with warehouse.connect() as con, con.transaction(), con.cursor() as cur:

        def query(text, params=None):
            cur.execute(text.replace("?", "%s"), params)
            return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])

        held, previous = previous_state(query, batch)
        checker = duckdb_checker(batch)
        try:
            return _write(cur, checker, batch, held, previous)
        finally:
            checker.close()


def duckdb_checker(batch: Batch):
    """An in-memory DuckDB that has read the file into `incoming` and flagged its bad rows."""
    import duckdb

    checker = duckdb.connect()
    checker.execute(
        f"create table incoming as select {typed_columns(batch.delivery.trailing_delimiter)} "
        f"from {batch.read_csv()}",
        {"path": str(batch.delivery.path)},
    )
    flagged = checker.execute(
        batch.flag_sql("(select rowid as rec, * from incoming)", others=None)
    ).df()
    checker.register("lab_flagged", flagged)
    return checker


def _write(cur, checker, batch: Batch, held: int, previous: dict | None) -> Outcome:
    import pyarrow.csv as pacsv
    from psycopg import sql

    records = checker.execute("select count(*) from incoming").fetchone()[0]
    flagged = checker.execute("select * from lab_flagged").df()
    rejected = rejected_records(checker)
    for table in (RAW_ORDERS, QUARANTINE_ORDERS):
        cur.execute(f"delete from {table} where batch_date = %s", [batch.batch_date])
    loader.checkpoint("after-delete")
    defaults = {
        "batch_date": sql.Literal(batch.batch_date),
        "source_file": sql.Literal(batch.source),
        "loaded_at": sql.SQL("(now() at time zone 'utc')"),
    }
    _set_defaults(cur, defaults)
    good = checker.sql(
        f"select {', '.join(CSV_COLUMNS)} from incoming "
        "where rowid not in (select rec from lab_flagged)"
    ).to_arrow_reader(COPY_BATCH_ROWS)
    options = pacsv.WriteOptions(include_header=False)
    columns = ", ".join(CSV_COLUMNS)
    with cur.copy(f"copy {RAW_ORDERS} ({columns}) from stdin (format csv)") as copy:
        for chunk in good:
            buffer = io.BytesIO()
            pacsv.write_csv(chunk, buffer, options)
            copy.write(buffer.getbuffer())
    loader.checkpoint("after-insert")
    _set_defaults(cur, dict.fromkeys(defaults))
    changed = _changed(cur, batch)
    if changed:
        extra = checker.execute(
            "select rowid as rec, 'changed' as kind, null::bigint as first from incoming "
            "where list_contains($ids, order_id)",
            {"ids": changed},
        ).df()
        flagged = pd.concat([flagged, extra], ignore_index=True)
        cur.execute(
            f"delete from {RAW_ORDERS} where batch_date = %s and order_id = any(%s)",
            [batch.batch_date, changed],
        )
    outcome = settle(batch, records, held, previous, flagged, rejected)
    quarantine = quarantine_rows(batch, flagged, rejected, records)
    outcome.reasons = quarantine["reason"].value_counts().to_dict()
    _copy_rows(cur, QUARANTINE_ORDERS, quarantine, "quarantined_at")
    _copy_rows(cur, LOAD_BATCHES, record_row(batch, outcome, previous), "loaded_at")
    check_counts(lambda text: _fetch(cur, text), batch, outcome)
    loader.checkpoint("before-commit")
    return outcome


def _set_defaults(cur, defaults: dict) -> None:
    """Column defaults that fill batch_date, source_file and loaded_at server-side during the
    COPY (None drops them); set and dropped inside the load's transaction, so no one else sees
    them."""
    from psycopg import sql

    for column, value in defaults.items():
        action = (
            sql.SQL("drop default") if value is None else sql.SQL("set default {}").format(value)
        )
        cur.execute(
            sql.SQL("alter table {} alter column {} {}").format(
                sql.Identifier(RAW_ORDERS), sql.Identifier(column), action
            )
        )


def _changed(cur, batch: Batch) -> list[int]:
    """Order ids of this batch that another date delivered with another customer or day."""
    cur.execute(
        f"select distinct n.order_id from {RAW_ORDERS} n join {RAW_ORDERS} o "
        "on o.order_id = n.order_id and o.batch_date <> n.batch_date "
        "where n.batch_date = %s "
        "and (o.customer_id <> n.customer_id or o.order_date <> n.order_date)",
        [batch.batch_date],
    )
    return [row[0] for row in cur.fetchall()]


def _copy_rows(cur, table: str, frame: pd.DataFrame, stamp: str) -> None:
    if frame.empty:
        return
    columns = ", ".join([*frame.columns, stamp])
    rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    with cur.copy(f"copy {table} ({columns}) from stdin") as copy:
        for row in rows:
            copy.write_row((*row, pd.Timestamp.now("UTC").tz_localize(None)))


class _Result:
    def __init__(self, row):
        self.row = row

    def fetchone(self):
        return self.row


def _fetch(cur, text: str):
    cur.execute(text)
    return _Result(cur.fetchone())
