"""One settings object, read from the environment and `.env`.

Names and paths live here and nowhere else. Values that differ between machines come from
the environment or from `.env` at the repository root (the environment wins).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from dotenv import dotenv_values

from lab.errors import ConfigError

PROFILES = ("local", "stack")

# Table and bucket names every part of the sandbox agrees on.
RAW_ORDERS = "raw_orders"
QUARANTINE_ORDERS = "quarantine_orders"
RAW_CUSTOMERS = "raw_customers"
OPS_SCHEMA = "ops"
STEP_RUNS = f"{OPS_SCHEMA}.step_runs"
LOAD_BATCHES = f"{OPS_SCHEMA}.load_batches"
CURRENT_LOADS = f"{OPS_SCHEMA}.current_loads"
ORDERS_PREFIX = "orders"

# Defaults of the `lab` command and `make` targets (the CLI imports them; keep this module light).
JUPYTER_PORT = 8888  # `make lab`, `lab jupyter --port`
HISTORY_DAYS = 7  # days of order history `lab setup` loads, so lesson 04 has runs to show


def _find_root() -> Path:
    """The repository root: LAB_ROOT, else the checkout this package lives in, else the cwd."""
    if os.environ.get("LAB_ROOT"):
        return Path(os.environ["LAB_ROOT"]).resolve()
    here = Path(__file__).resolve().parents[1]
    if (here / "dbt" / "dbt_project.yml").exists():
        return here
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "dbt" / "dbt_project.yml").exists():
            return folder
    return Path.cwd()


@dataclass(frozen=True)
class Settings:
    """Everything that says where things are and how to reach them."""

    profile: str
    root: Path
    home: Path
    runs_dir: Path
    gx_root: Path
    raw_bucket: str = "raw"
    artifacts_bucket: str = "artifacts"
    warehouse_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    pushgateway_url: str | None = None
    prometheus_url: str | None = None
    loki_url: str | None = None
    airflow_port: int = 8080
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file of the `local` profile."""
        return self.home / "warehouse.duckdb"

    @property
    def lake_root(self) -> Path:
        """The folder that stands in for the object store on `local` (one subfolder a bucket)."""
        return self.home / "lake"

    @property
    def dbt_dir(self) -> Path:
        return self.root / "dbt"

    @property
    def dbt_target_dir(self) -> Path:
        return self.home / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.home / "dbt" / "logs"

    @property
    def notebooks_dir(self) -> Path:
        return self.root / "notebooks"

    @property
    def exercises_dir(self) -> Path:
        return self.root / "exercises"

    @property
    def metrics_dir(self) -> Path:
        """Prometheus text-format files written by every step (the `local` stand-in for a push)."""
        return self.home / "metrics"

    @property
    def learner_expectations_file(self) -> Path:
        """Expectations a learner added to the suites (exercise 03); lab.quality merges them in."""
        return self.home / "exercises" / "expectations.json"

    @property
    def rewind_dir(self) -> Path:
        """Exercise work kept aside while `lab reset --lesson N` rebuilds the state."""
        return self.home / "rewind"

    @property
    def gx_uncommitted_dir(self) -> Path:
        """What GX writes at run time: validation results and Data Docs (gitignored)."""
        return self.gx_root / "gx" / "uncommitted"

    @property
    def gx_validations_dir(self) -> Path:
        return self.gx_uncommitted_dir / "validations"

    @property
    def data_docs_index(self) -> Path:
        return self.gx_uncommitted_dir / "data_docs" / "local_site" / "index.html"

    def warehouse_dsn(self) -> dict[str, str]:
        """The PostgreSQL warehouse URL split into parts (the `stack` profile)."""
        if not self.warehouse_url:
            raise ConfigError(
                "WAREHOUSE_URL is not set; the `stack` profile needs it. Fix: set "
                "WAREHOUSE_URL=postgresql://user:password@host:5432/warehouse in .env."
            )
        url = urlparse(self.warehouse_url)
        if url.scheme not in ("postgresql", "postgres") or not url.path.strip("/"):
            raise ConfigError(
                f"WAREHOUSE_URL={self.warehouse_url!r} is not a PostgreSQL URL. Fix: use the form "
                "postgresql://user:password@host:5432/warehouse."
            )
        return {
            "host": url.hostname or "127.0.0.1",
            "port": str(url.port or 5432),
            "user": unquote(url.username or ""),
            "password": unquote(url.password or ""),
            "dbname": url.path.strip("/"),
        }


# The profile a process chose for itself (a lesson's `profile` parameter): it wins over
# LAB_PROFILE for the rest of the process, and the process environment stays as it was.
_chosen_profile: str | None = None


def choose_profile(profile: str | None) -> None:
    """Use `profile` for the rest of this process; None goes back to LAB_PROFILE or `.env`."""
    global _chosen_profile
    if profile is not None and profile.strip().lower() not in PROFILES:
        raise ConfigError(
            f"profile={profile!r} is not a profile. Fix: use one of {', '.join(PROFILES)}."
        )
    _chosen_profile = None if profile is None else profile.strip().lower()


def get_settings() -> Settings:
    """Read the settings now (cheap; re-read on every call so tests and notebooks see changes)."""
    root = _find_root()
    file_values = {k: v for k, v in dotenv_values(root / ".env").items() if v is not None}
    env = {**file_values, **os.environ}

    def get(name: str, default: str | None = None) -> str | None:
        value = env.get(name)
        return value if value not in (None, "") else default

    profile = _chosen_profile or get("LAB_PROFILE", "local").strip().lower()
    if profile not in PROFILES:
        raise ConfigError(
            f"LAB_PROFILE={profile!r} is not a profile. Fix: set LAB_PROFILE to one of "
            f"{', '.join(PROFILES)} (in the environment or .env)."
        )
    home = Path(get("LAB_HOME", str(root / ".state"))).expanduser().resolve()
    airflow_port = get("AIRFLOW_PORT", "8080").strip()
    if not airflow_port.isdigit() or not 0 < int(airflow_port) < 65536:
        raise ConfigError(
            f"AIRFLOW_PORT={airflow_port!r} is not a TCP port. Fix: set AIRFLOW_PORT to a number "
            "from 1 to 65535, e.g. 8080 (in the environment or .env)."
        )
    return Settings(
        profile=profile,
        root=root,
        home=home,
        runs_dir=Path(get("LAB_RUNS_DIR", str(root / "runs"))).expanduser().resolve(),
        gx_root=Path(get("LAB_GX_ROOT", str(root / "great_expectations"))).expanduser().resolve(),
        raw_bucket=get("LAB_RAW_BUCKET", "raw"),
        artifacts_bucket=get("LAB_ARTIFACTS_BUCKET", "artifacts"),
        warehouse_url=get("WAREHOUSE_URL"),
        s3_endpoint_url=get("S3_ENDPOINT_URL"),
        s3_access_key=get("S3_ACCESS_KEY"),
        s3_secret_key=get("S3_SECRET_KEY"),
        s3_region=get("S3_REGION", "us-east-1"),
        pushgateway_url=get("PUSHGATEWAY_URL"),
        prometheus_url=get("PROMETHEUS_URL"),
        loki_url=get("LOKI_URL"),
        airflow_port=int(airflow_port),
        env=env,
    )


def shown_path(path: str | Path, root: Path) -> str:
    """A path as output shows it: relative to the project root (or `~`) when inside it."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    if path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    home = Path.home()
    if path.is_relative_to(home):
        return "~/" + path.relative_to(home).as_posix()
    return str(path)


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for a block, then put back what was there before."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
