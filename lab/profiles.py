"""The two ways the sandbox runs, as objects: everything that differs between them is here.

`local` (the default) keeps the warehouse in a DuckDB file and the lake in a folder; nothing
else runs. `stack` reaches PostgreSQL, an S3 server, a Pushgateway, Prometheus and Loki, as
configured in `.env`. The rest of `lab` asks `profile_of(settings)` and never branches on the
profile's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from lab.config import Settings, get_settings
from lab.errors import LakeError
from lab.lake import Lake
from lab.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse


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

    def pushgateway(self) -> str | None:
        """Where step metrics are pushed (they are always written to settings.metrics_dir)."""
        return None

    def keep_artifact(self, path: Path, key: str) -> str:
        """Keep a run's file where people look for it; return that place."""
        return str(path)


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

    def warehouse(self) -> Warehouse:
        return DuckDBWarehouse(self.settings.warehouse_path)

    def lake(self) -> Lake:
        from fsspec.implementations.dirfs import DirFileSystem
        from fsspec.implementations.local import LocalFileSystem

        root = self.settings.lake_root
        root.mkdir(parents=True, exist_ok=True)
        fs = DirFileSystem(path=str(root), fs=LocalFileSystem(auto_mkdir=True))
        return Lake(fs=fs, scheme="file", location=str(root))

    def dbt_env(self) -> dict[str, str]:
        self.settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        return {"DBT_TARGET": "duckdb", "LAB_WAREHOUSE_PATH": str(self.settings.warehouse_path)}


class Stack(Profile):
    name = "stack"
    warehouse_kind = "PostgreSQL"
    storage_kind = "S3"
    monitoring = True
    waits_for_lock = False
    airflow_pool_slots = 128  # as many as Airflow's default pool: no limit in practice
    airflow_pool_description = "Tasks that write the PostgreSQL warehouse (no limit in practice)"

    def warehouse(self) -> Warehouse:
        return PostgresWarehouse(self.settings.warehouse_dsn())

    def lake(self) -> Lake:
        import s3fs

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

    def pushgateway(self) -> str | None:
        return self.settings.pushgateway_url

    def keep_artifact(self, path: Path, key: str) -> str:
        """Also copy the file to `<artifacts bucket>/<key>`, so it outlives the container."""
        lake = self.lake()
        lake.ensure_bucket(self.settings.artifacts_bucket)
        target = f"{self.settings.artifacts_bucket}/{key}"
        lake.write_bytes(target, Path(path).read_bytes())
        return lake.url(target)


# Each profile class by its name; the names themselves are lab.config.PROFILES, which the
# settings are checked against (tests/lab/test_profiles.py keeps the two in step).
BY_NAME: dict[str, type[Profile]] = {cls.name: cls for cls in Profile.__subclasses__()}


def profile_of(settings: Settings | None = None) -> Profile:
    """The profile the settings name (the active settings when none are given)."""
    settings = settings or get_settings()
    return BY_NAME[settings.profile](settings)


def get_warehouse(settings: Settings | None = None) -> Warehouse:
    """The warehouse of the active profile."""
    return profile_of(settings).warehouse()


def get_lake(settings: Settings | None = None) -> Lake:
    """The object store of the active profile."""
    return profile_of(settings).lake()


def ensure_buckets(settings: Settings | None = None) -> list[str]:
    """Create the raw and artifacts buckets if missing; return the ones created."""
    settings = settings or get_settings()
    lake = get_lake(settings)
    return [b for b in (settings.raw_bucket, settings.artifacts_bucket) if lake.ensure_bucket(b)]
