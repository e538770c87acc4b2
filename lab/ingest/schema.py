"""The raw zone's tables in the warehouse, and their upgrade from an older sandbox."""

from __future__ import annotations

from lab.config import CURRENT_LOADS, LOAD_BATCHES, OPS_SCHEMA, QUARANTINE_ORDERS, RAW_ORDERS
from lab.contract import AMOUNT_PRECISION, COLUMNS, CSV_COLUMNS
from lab.errors import WarehouseError
from lab.warehouse import Warehouse

# Every delivery of an order is kept: the same order_id arrives again when its status changes,
# so the key is (order_id, batch_date) and stg_orders keeps the latest. The loader enforces the
# rules inside its transaction; the value columns may be NULL only until it commits.
# Which file a row came from, and when, is said once per load in ops.load_batches (the view
# ops.current_loads gives each date's current file): measured at 10M rows, carrying the file's
# path and the load time on every row made PostgreSQL's COPY 42% slower (9.5 s against 6.7 s).
RAW_ORDERS_DDL = (
    f"create table if not exists {RAW_ORDERS} (\n"
    + "".join(f"    {name} {kind},\n" for name, kind in COLUMNS.items())
    + "    batch_date date not null\n)"
)
# Per-row lineage columns of an earlier sandbox: the load records hold the same facts.
DROPPED_COLUMNS = ("source_file", "loaded_at")

QUARANTINE_COLUMNS = (
    "batch_date",
    "source_file",
    "line_number",
    *CSV_COLUMNS,
    "record",
    "reason",
    "quarantined_at",
)
# A quarantined row keeps each field as the text it arrived as (it broke a rule).
QUARANTINE_DDL = (
    f"create table if not exists {QUARANTINE_ORDERS} (\n"
    "    batch_date date not null,\n"
    "    source_file varchar not null,\n"
    "    line_number bigint not null,\n"
    + "".join(f"    {name} varchar,\n" for name in CSV_COLUMNS)
    + "    record varchar,\n"
    "    reason varchar not null,\n"
    "    quarantined_at timestamp not null\n)"
)

LOAD_BATCHES_DDL = f"""
create table if not exists {LOAD_BATCHES} (
    batch_date date not null,
    source_file varchar not null,
    sha256 varchar not null,
    rows_in bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    loaded_at timestamp not null,
    run_id varchar,
    replaced_file varchar,
    replaced_sha256 varchar
)"""


# The load that put each date's rows in raw_orders: the latest record of that date.
CURRENT_LOADS_DDL = f"""
create or replace view {CURRENT_LOADS} as
select batch_date, source_file, sha256, rows_in, rows_loaded, rows_quarantined, loaded_at, run_id
from (
    select *, row_number() over (partition by batch_date order by loaded_at desc) as newest
    from {LOAD_BATCHES}
) as loads
where newest = 1"""


def ensure_tables(warehouse: Warehouse) -> None:
    """Create the raw, quarantine and load-record tables, upgrading an older sandbox's."""
    with warehouse.session():
        _ensure_tables(warehouse)


def _ensure_tables(warehouse: Warehouse) -> None:
    _upgrade(warehouse)
    warehouse.execute(f"create schema if not exists {OPS_SCHEMA}")
    warehouse.execute(RAW_ORDERS_DDL)
    warehouse.execute(QUARANTINE_DDL)
    warehouse.execute(LOAD_BATCHES_DDL)
    warehouse.execute(CURRENT_LOADS_DDL)
    if warehouse.dialect == "postgres":
        # The quarantine is small: an index by date is free. raw_orders gets none: measured at
        # 10M rows, a BRIN index on batch_date made the load's COPY 41% slower (13.1 s against
        # 9.3 s), and a date's rows are found by a scan that is cheap at the sandbox's sizes.
        warehouse.execute(
            f"create index if not exists {QUARANTINE_ORDERS}_batch_date on {QUARANTINE_ORDERS} "
            "(batch_date)"
        )


def _upgrade(warehouse: Warehouse) -> None:
    """Tables made before updates were loadable: a key on order_id, a narrower amount."""
    if not warehouse.table_exists(RAW_ORDERS):
        return
    precision = warehouse.scalar(
        "select numeric_precision from information_schema.columns "
        "where table_name = ? and column_name = 'amount'",
        [RAW_ORDERS],
    )
    if precision is not None and int(precision) != AMOUNT_PRECISION:
        raise WarehouseError(
            f"The warehouse's {RAW_ORDERS} table was made by an older sandbox (one delivery per "
            f"order, amount decimal({precision}, 2)). Fix: start from a fresh sandbox with "
            "`lab reset --yes` and then `lab setup` (your notebooks stay)."
        )
    for column in DROPPED_COLUMNS:  # the load records keep what these said
        if warehouse.scalar(
            "select count(*) from information_schema.columns "
            "where table_name = ? and column_name = ?",
            [RAW_ORDERS, column],
        ):
            # dbt's views over raw_orders go too on PostgreSQL (its next build remakes them)
            cascade = " cascade" if warehouse.dialect == "postgres" else ""
            warehouse.execute(f"alter table {RAW_ORDERS} drop column {column}{cascade}")
    if warehouse.table_exists(QUARANTINE_ORDERS):
        warehouse.execute(
            f"alter table {QUARANTINE_ORDERS} add column if not exists record varchar"
        )
