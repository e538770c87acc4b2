"""The raw zone's tables: their shape, the lineage view, and the upgrade of an older sandbox."""

from __future__ import annotations

import datetime as dt

from lab.config import CURRENT_LOADS, RAW_ORDERS
from lab.contract import CSV_COLUMNS
from lab.ingest import load_file, schema

DAY = dt.date(2026, 11, 1)
HEADER = ",".join(CSV_COLUMNS)


def columns(warehouse, table: str) -> list[str]:
    frame = warehouse.query(
        "select column_name from information_schema.columns where table_name = ? "
        "order by ordinal_position",
        [table],
    )
    return frame["column_name"].tolist()


def test_raw_orders_holds_the_contract_and_the_batch_date_only(warehouse):
    schema.ensure_tables(warehouse)
    assert columns(warehouse, RAW_ORDERS) == [*CSV_COLUMNS, "batch_date"]


def test_current_loads_names_the_file_each_date_was_loaded_from(warehouse, tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(f"{HEADER}\n1,10,2026-11-01,placed,1.00\n")
    second.write_text(f"{HEADER}\n1,10,2026-11-01,placed,1.00\n2,11,2026-11-01,placed,2.00\n")
    load_file(first, DAY, warehouse=warehouse)
    load_file(second, DAY, warehouse=warehouse)
    loads = warehouse.query(f"select batch_date, source_file, rows_loaded from {CURRENT_LOADS}")
    assert len(loads) == 1, loads
    assert loads["source_file"].iloc[0] == str(second), loads
    assert int(loads["rows_loaded"].iloc[0]) == 2, loads


def test_an_older_sandbox_loses_the_per_row_lineage_columns_and_keeps_its_rows(warehouse):
    warehouse.execute(
        f"create table {RAW_ORDERS} (order_id bigint, customer_id bigint, order_date date, "
        "status varchar, amount decimal(12, 2), batch_date date not null, "
        "source_file varchar not null, loaded_at timestamp not null)"
    )
    warehouse.execute(
        f"insert into {RAW_ORDERS} values "
        "(1, 10, '2026-11-01', 'placed', 1.50, '2026-11-01', 'a.csv', '2026-11-01 06:00:00')"
    )
    # an older stg_orders read loaded_at: PostgreSQL would refuse to drop a column a view uses
    warehouse.execute(f"create view old_stg as select order_id, loaded_at from {RAW_ORDERS}")
    schema.ensure_tables(warehouse)
    assert columns(warehouse, RAW_ORDERS) == [*CSV_COLUMNS, "batch_date"]
    rows = warehouse.query(f"select order_id, amount from {RAW_ORDERS}")
    assert rows["order_id"].tolist() == [1], rows
    assert float(rows["amount"].iloc[0]) == 1.5, rows
