"""The `local` half of the loader: one DuckDB transaction does the whole load.

`INSERT ... SELECT` from `read_csv` puts the file's rows into `raw_orders` on DuckDB's fast
path; the rules run as SQL on the inserted rows, and the few flagged rows move to the
quarantine before the commit. `explain()` prints the statements for lesson 01.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future

import pandas as pd

from lab.config import LOAD_BATCHES, QUARANTINE_ORDERS, RAW_ORDERS
from lab.contract import CSV_COLUMNS
from lab.ingest import delivery as files
from lab.ingest import loading, rules
from lab.ingest.loading import (
    REJECTS,
    Batch,
    Outcome,
    check_counts,
    previous_state,
    quarantine_rows,
    record_row,
    settle,
)
from lab.warehouse import DuckDBWarehouse


def explain(batch_date: dt.date, trailing_delimiter: bool = False) -> str:
    """The SQL a load of `batch_date` runs on DuckDB (`$path` is the landed file)."""
    from pathlib import Path

    checked = files.Delivery(Path("orders.csv"), 0, CSV_COLUMNS, trailing_delimiter)
    batch = Batch(checked, batch_date, "$source", "$run_id", False, Future())
    relation = "batch"
    cte = (
        f"with batch as (\n    select rowid - $first_rowid as rec, * from {RAW_ORDERS}\n"
        f"    where batch_date = {batch.date_sql}\n)\n"
    )
    return "\n".join(
        [
            "-- 1. replace the date's rows, in one transaction",
            "begin transaction;",
            f"delete from {RAW_ORDERS} where batch_date = {batch.date_sql};",
            f"delete from {QUARANTINE_ORDERS} where batch_date = {batch.date_sql};",
            f"insert into {RAW_ORDERS} select",
            "    " + _typed(checked).replace("\n", "\n    ") + ",",
            f"    {batch.date_sql}",
            f"from {batch.read_csv()};",
            "-- 2. the rows that break a rule (they move to the quarantine)",
            cte + batch.flag_sql(relation) + ";",
            "-- and, when other dates are loaded, updates that change the customer or the day",
            cte + batch.changed_sql(relation) + ";",
            "-- 3. quarantine them, delete them from raw_orders, record the load, then",
            "commit;",
        ]
    )


def _typed(checked: files.Delivery) -> str:
    return rules.typed_columns(checked.trailing_delimiter)


def load_duckdb(warehouse: DuckDBWarehouse, batch: Batch) -> Outcome:
    path = str(batch.delivery.path)
    with warehouse.connect() as con:
        batch.show_progress(con)
        con.execute("begin transaction")
        try:
            query = _querier(con)
            held, previous = previous_state(query, batch)
            for table in (RAW_ORDERS, QUARANTINE_ORDERS):
                con.execute(f"delete from {table} where batch_date = ?", [batch.batch_date])
            loading.checkpoint("after-delete")
            con.execute(
                f"insert into {RAW_ORDERS} select {rules.typed_columns(batch.delivery.trailing_delimiter)}, "
                f"$date from {batch.read_csv()}",
                {"path": path, "date": batch.batch_date},
            )
            loading.checkpoint("after-insert")
            base, records = con.execute(
                f"select min(rowid), count(*) from {RAW_ORDERS} where batch_date = ?",
                [batch.batch_date],
            ).fetchone()
            batch_rows = (
                f"(select rowid - {int(base or 0)} as rec, * from {RAW_ORDERS} "
                f"where batch_date = {batch.date_sql})"
            )
            flagged = con.execute(batch.flag_sql(batch_rows)).df()
            if others_loaded(con, batch):
                changed = con.execute(batch.changed_sql(batch_rows)).df()
                flagged = pd.concat([flagged, changed], ignore_index=True)
            rejected = rejected_records(con)
            outcome = settle(batch, records, held, previous, flagged, rejected)
            quarantine = quarantine_rows(batch, flagged, rejected, records)
            outcome.reasons = quarantine["reason"].value_counts().to_dict()
            if not flagged.empty:
                con.register("lab_flagged", flagged[["rec"]].drop_duplicates())
                con.execute(
                    f"delete from {RAW_ORDERS} where batch_date = ? and rowid - {int(base)} in "
                    "(select rec from lab_flagged)",
                    [batch.batch_date],
                )
            _append(con, QUARANTINE_ORDERS, quarantine, "quarantined_at")
            _append(con, LOAD_BATCHES, record_row(batch, outcome, previous), "loaded_at")
            check_counts(con.execute, batch, outcome)
            loading.checkpoint("before-commit")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return outcome


def others_loaded(con, batch: Batch) -> bool:
    """Whether another date is loaded at all (else no update can contradict one)."""
    return con.execute(
        f"select exists (select 1 from {RAW_ORDERS} where batch_date <> {batch.date_sql})"
    ).fetchone()[0]


def _querier(con):
    return lambda sql, params=None: con.execute(sql, params or []).df()


def _append(con, table: str, frame: pd.DataFrame, stamp: str) -> None:
    if frame.empty:
        return
    con.register("lab_incoming", frame)
    columns = ", ".join(frame.columns)
    con.execute(
        f"insert into {table} ({columns}, {stamp}) select {columns}, now()::timestamp "
        "from lab_incoming"
    )
    con.unregister("lab_incoming")


def rejected_records(con) -> pd.DataFrame:
    """Records the CSV reader refused, one row each: its number and why."""
    return con.execute(
        f"select line, arg_min(error_type, column_idx) as error from {REJECTS} group by line"
    ).df()
