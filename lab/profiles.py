"""The two ways the sandbox runs, as objects: everything that differs between them is here.

`local` (the default) keeps the warehouse in a DuckDB file and the lake in a folder; nothing
else runs. `stack` reaches PostgreSQL, an S3 server, a Pushgateway, Prometheus and Loki, as
configured in `.env`. The rest of `lab` asks `profile_of(settings)` and never branches on the
profile's name.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from lab.config import RAW_ORDERS, Settings, get_settings
from lab.errors import LakeError, QualityGateError

if TYPE_CHECKING:
    import pandas as pd

    from lab.lake import Lake
    from lab.warehouse import Warehouse


class Profile:
    """What a profile owns; `Local` and `Stack` fill it in."""

    name: ClassVar[str]
    warehouse_kind: ClassVar[str]
    storage_kind: ClassVar[str]
    # Prometheus and Loki to ask, a Pushgateway to push step metrics to
    monitoring: ClassVar[bool]
    # a writer waits while another process holds the warehouse (DuckDB's file lock)
    waits_for_lock: ClassVar[bool]
    # the slots of the Airflow pool of the tasks that write the warehouse (dag_support.WAREHOUSE_POOL)
    airflow_pool_slots: ClassVar[int]
    airflow_pool_description: ClassVar[str]

    def __init__(self, settings: Settings):
        self.settings = settings

    def describe(self) -> str:
        return (
            f"Profile: {self.name} — warehouse: {self.warehouse_kind}, "
            f"object storage: {self.storage_kind}"
        )

    def warehouse(self) -> Warehouse:
        raise NotImplementedError

    def lake(self) -> Lake:
        raise NotImplementedError

    def dbt_env(self) -> dict[str, str]:
        """The environment `dbt/profiles.yml` reads."""
        raise NotImplementedError

    def gx_env(self) -> dict[str, str]:
        """The environment the GX project's configuration reads at run time."""
        return {}

    def pushgateway(self) -> str | None:
        """Where step metrics are pushed (they are always written to settings.metrics_dir)."""
        return None

    def keep_artifact(self, path: Path, key: str) -> str:
        """Keep a run's file where people look for it; return that place."""
        return str(path)

    # --- Great Expectations: the data source, its assets, and what a batch is --------------

    gx_source_name: ClassVar[str]

    def gx_source(self, context):
        raise NotImplementedError

    def gx_asset(self, source, table: str):
        raise NotImplementedError

    def gx_batch_definition(self, asset, table: str):
        raise NotImplementedError

    def gx_batch_parameters(self, table: str, batch_date: dt.date | None) -> dict:
        raise NotImplementedError


class Local(Profile):
    name = "local"
    warehouse_kind = "DuckDB"
    storage_kind = "a local folder"
    monitoring = False
    waits_for_lock = True
    # one slot: a DuckDB file has one writer process and a reader is refused while a writer
    # holds it, so two runs take turns instead of failing on the lock
    airflow_pool_slots = 1
    airflow_pool_description = (
        "One task at a time on the local DuckDB warehouse (one writer process)"
    )
    gx_source_name = "warehouse_frames"

    def warehouse(self) -> Warehouse:
        from lab.warehouse import DuckDBWarehouse

        return DuckDBWarehouse(self.settings.warehouse_path)

    def lake(self) -> Lake:
        from fsspec.implementations.dirfs import DirFileSystem
        from fsspec.implementations.local import LocalFileSystem

        from lab.lake import Lake

        root = self.settings.lake_root
        root.mkdir(parents=True, exist_ok=True)
        fs = DirFileSystem(path=str(root), fs=LocalFileSystem(auto_mkdir=True))
        return Lake(fs=fs, scheme="file", location=str(root))

    def dbt_env(self) -> dict[str, str]:
        self.settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        return {"DBT_TARGET": "duckdb", "LAB_WAREHOUSE_PATH": str(self.settings.warehouse_path)}

    def gx_source(self, context):
        return gx_lookup(context.data_sources, self.gx_source_name) or (
            context.data_sources.add_pandas(self.gx_source_name)
        )

    def gx_asset(self, source, table: str):
        return gx_lookup(source, table, "get_asset") or source.add_dataframe_asset(table)

    def gx_batch_definition(self, asset, table: str):
        name = "whole_frame"
        found = gx_lookup(asset, name, "get_batch_definition")
        return found or asset.add_batch_definition_whole_dataframe(name)

    def gx_batch_parameters(self, table: str, batch_date: dt.date | None) -> dict:
        return {"dataframe": self._frame(table, batch_date)}

    def _frame(self, table: str, batch_date: dt.date | None) -> pd.DataFrame:
        """The table (orders: one day's batch) as the pandas frame GX validates."""
        warehouse = self.warehouse()
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


class Stack(Profile):
    name = "stack"
    warehouse_kind = "PostgreSQL"
    storage_kind = "S3"
    monitoring = True
    waits_for_lock = False
    airflow_pool_slots = 128  # as many as Airflow's default pool: no limit in practice
    airflow_pool_description = "Tasks that write the PostgreSQL warehouse (no limit in practice)"
    gx_source_name = "warehouse_sql"
    # substituted by GX from the environment at run time (gx_env), never written to its files
    GX_CONNECTION = "${GX_WAREHOUSE_URL}"

    def warehouse(self) -> Warehouse:
        from lab.warehouse import PostgresWarehouse

        return PostgresWarehouse(self.settings.warehouse_dsn())

    def lake(self) -> Lake:
        import s3fs

        from lab.lake import Lake

        settings = self.settings
        if not settings.s3_endpoint_url and not settings.s3_access_key:
            raise LakeError(
                "The `stack` profile needs an object store. Fix: set S3_ENDPOINT_URL, "
                "S3_ACCESS_KEY and S3_SECRET_KEY in .env (see .env.example)."
            )
        fs = s3fs.S3FileSystem(
            key=settings.s3_access_key,
            secret=settings.s3_secret_key,
            endpoint_url=settings.s3_endpoint_url,
            # us-east-1 is S3's default: naming it makes bucket creation send a location
            # constraint that S3 (and moto) refuse.
            client_kwargs={}
            if settings.s3_region == "us-east-1"
            else {"region_name": settings.s3_region},
            # an unreachable store is said within seconds, not after botocore's minute of retries
            config_kwargs={"retries": {"max_attempts": 2}, "connect_timeout": 5},
            skip_instance_cache=True,
        )
        return Lake(fs=fs, scheme="s3", location=settings.s3_endpoint_url or "AWS S3")

    def dbt_env(self) -> dict[str, str]:
        dsn = self.settings.warehouse_dsn()
        return {
            "DBT_TARGET": "postgres",
            "WAREHOUSE_HOST": dsn["host"],
            "WAREHOUSE_PORT": dsn["port"],
            "WAREHOUSE_USER": dsn["user"],
            "WAREHOUSE_PASSWORD": dsn["password"],
            "WAREHOUSE_DB": dsn["dbname"],
        }

    def gx_env(self) -> dict[str, str]:
        from urllib.parse import quote

        d = self.settings.warehouse_dsn()
        auth = quote(d["user"]) + (f":{quote(d['password'])}" if d["password"] else "")
        return {
            "GX_WAREHOUSE_URL": (
                f"postgresql+psycopg://{auth}@{d['host']}:{d['port']}/{d['dbname']}"
            )
        }

    def pushgateway(self) -> str | None:
        return self.settings.pushgateway_url

    def keep_artifact(self, path: Path, key: str) -> str:
        """Also copy the file to `<artifacts bucket>/<key>`, so it outlives the container."""
        lake = self.lake()
        lake.ensure_bucket(self.settings.artifacts_bucket)
        target = f"{self.settings.artifacts_bucket}/{key}"
        lake.write_bytes(target, Path(path).read_bytes())
        return lake.url(target)

    def gx_source(self, context):
        self.warehouse().scalar("select 1")  # unreachable: one WarehouseError with the fix
        return gx_lookup(context.data_sources, self.gx_source_name) or (
            context.data_sources.add_postgres(
                self.gx_source_name, connection_string=self.GX_CONNECTION
            )
        )

    def gx_asset(self, source, table: str):
        found = gx_lookup(source, table, "get_asset")
        return found or source.add_table_asset(table, table_name=table)

    def gx_batch_definition(self, asset, table: str):
        if table == RAW_ORDERS:
            found = gx_lookup(asset, "daily_batch", "get_batch_definition")
            return found or _add_daily(asset, "daily_batch")
        found = gx_lookup(asset, "whole_table", "get_batch_definition")
        return found or asset.add_batch_definition_whole_table("whole_table")

    def gx_batch_parameters(self, table: str, batch_date: dt.date | None) -> dict:
        if table == RAW_ORDERS and batch_date is not None:
            return {"year": batch_date.year, "month": batch_date.month, "day": batch_date.day}
        return {}


PROFILES: dict[str, type[Profile]] = {"local": Local, "stack": Stack}


def profile_of(settings: Settings | None = None) -> Profile:
    """The profile the settings name (the active settings when none are given)."""
    settings = settings or get_settings()
    return PROFILES[settings.profile](settings)


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
