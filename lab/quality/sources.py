"""Where Great Expectations reads a table: pandas frames on DuckDB, SQL tables on PostgreSQL.

GX has no DuckDB support (through duckdb-engine every metric comes back empty), so on a DuckDB
warehouse each table is read into a pandas frame and validated as one; on PostgreSQL, GX reads
the tables itself through a SQL data source whose connection string GX substitutes from the
environment at run time (never written to its files). The warehouse says which applies
(`Warehouse.gx_reads_sql`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from urllib.parse import quote

from lab.config import RAW_ORDERS, Settings
from lab.errors import QualityGateError
from lab.profiles import get_warehouse

if TYPE_CHECKING:
    import pandas as pd


def gx_lookup(owner, name: str, getter: str = "get"):
    """`owner.<getter>(name)`, or None when GX says there is no such object.

    GX says "not found" with KeyError (data sources, batch definitions), LookupError (assets)
    and DataContextError (suites, validation definitions, checkpoints); anything else, such as
    a broken configuration file, propagates.
    """
    from great_expectations.exceptions import DataContextError

    try:
        return getattr(owner, getter)(name)
    except (LookupError, DataContextError):
        return None


class FrameSource:
    """Tables read into pandas frames, validated as whole frames (a DuckDB warehouse)."""

    name = "warehouse_frames"

    def __init__(self, settings: Settings):
        self.settings = settings

    def env(self) -> dict[str, str]:
        """The environment the GX project's configuration reads at run time."""
        return {}

    def source(self, context):
        return gx_lookup(context.data_sources, self.name) or context.data_sources.add_pandas(
            self.name
        )

    def asset(self, source, table: str):
        return gx_lookup(source, table, "get_asset") or source.add_dataframe_asset(table)

    def batch_definition(self, asset, table: str):
        found = gx_lookup(asset, "whole_frame", "get_batch_definition")
        return found or asset.add_batch_definition_whole_dataframe("whole_frame")

    def batch_parameters(self, table: str, batch_date: dt.date | None) -> dict:
        return {"dataframe": self.frame(table, batch_date)}

    def frame(self, table: str, batch_date: dt.date | None) -> pd.DataFrame:
        """The table (orders: one day's batch) as the pandas frame GX validates."""
        warehouse = get_warehouse(self.settings)
        if table == RAW_ORDERS and batch_date is not None:
            frame = warehouse.query(
                f"select * from {RAW_ORDERS} where batch_date = ?", [batch_date]
            )
        else:
            frame = warehouse.query(f"select * from {table}")
        for column in frame.columns:  # DuckDB decimals arrive as objects; GX wants numbers
            if (
                frame[column].dtype == object
                and frame[column].map(type).astype(str).str.contains("Decimal").any()
            ):
                frame[column] = frame[column].astype(float)
        return frame


class SqlSource:
    """Tables GX reads itself over SQL (PostgreSQL); orders in daily batches on `batch_date`."""

    name = "warehouse_sql"
    # substituted by GX from the environment at run time (env()), never written to its files
    CONNECTION = "${GX_WAREHOUSE_URL}"

    def __init__(self, settings: Settings):
        self.settings = settings

    def env(self) -> dict[str, str]:
        d = self.settings.warehouse_dsn()
        auth = quote(d["user"]) + (f":{quote(d['password'])}" if d["password"] else "")
        return {
            "GX_WAREHOUSE_URL": (
                f"postgresql+psycopg://{auth}@{d['host']}:{d['port']}/{d['dbname']}"
            )
        }

    def source(self, context):
        get_warehouse(self.settings).scalar("select 1")  # unreachable: one error with the fix
        return gx_lookup(context.data_sources, self.name) or context.data_sources.add_postgres(
            self.name, connection_string=self.CONNECTION
        )

    def asset(self, source, table: str):
        found = gx_lookup(source, table, "get_asset")
        return found or source.add_table_asset(table, table_name=table)

    def batch_definition(self, asset, table: str):
        if table == RAW_ORDERS:
            found = gx_lookup(asset, "daily_batch", "get_batch_definition")
            return found or _add_daily(asset, "daily_batch")
        found = gx_lookup(asset, "whole_table", "get_batch_definition")
        return found or asset.add_batch_definition_whole_table("whole_table")

    def batch_parameters(self, table: str, batch_date: dt.date | None) -> dict:
        if table == RAW_ORDERS and batch_date is not None:
            return {"year": batch_date.year, "month": batch_date.month, "day": batch_date.day}
        return {}


def source_for(settings: Settings) -> FrameSource | SqlSource:
    """How GX reads the warehouse the settings name."""
    reads_sql = get_warehouse(settings).gx_reads_sql
    return SqlSource(settings) if reads_sql else FrameSource(settings)


def _add_daily(asset, name: str):
    """The daily batch definition on `batch_date`; GX reads one row to check the column is a date."""
    from great_expectations.exceptions.exceptions import SqlAddBatchDefinitionError

    try:
        return asset.add_batch_definition_daily(name, column="batch_date")
    except SqlAddBatchDefinitionError as exc:
        raise QualityGateError(
            f"Cannot create the daily batch definition on {RAW_ORDERS}.batch_date: {exc}. GX "
            f"checks the column's type on a stored row, and {RAW_ORDERS} has none. Fix: load a "
            "batch first (notebook 01 or `lab pipeline`), or restore the committed "
            "great_expectations/gx/great_expectations.yml, which already defines it."
        ) from None
