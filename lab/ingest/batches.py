"""Land a delivery in the lake, load its good rows, quarantine the rest, reconcile the counts.

The rule the learner sees at the end of every load: rows in = rows loaded + rows quarantined.
A load of a date replaces that date's rows in one transaction, so a rerun never duplicates data
and a failed or killed load leaves the date as it was; the same file loaded again changes
nothing. The work itself is in lab.ingest.delivery (the file), lab.ingest.rules and lab.ingest.loader (the engine);
`lab ingest` of a learner's own files is lab.ingest.files.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lab.config import (
    LOAD_BATCHES,
    ORDERS_PREFIX,
    QUARANTINE_ORDERS,
    RAW_ORDERS,
    Settings,
    get_settings,
    shown_path,
)
from lab.contract import DEFAULT_ROWS, DEFAULT_RUN_DATE, UPDATE_MAX_DAYS_BACK, as_date
from lab.datagen import write_orders
from lab.datagen.csvtext import to_csv_bytes
from lab.errors import BatchFileError, ReconcileError
from lab.ingest import delivery, loader
from lab.ingest.loader_duckdb import explain
from lab.ingest.schema import ensure_tables as _ensure_tables
from lab.lake import Lake
from lab.profiles import get_lake, get_warehouse
from lab.warehouse import DuckDBWarehouse, Warehouse


@dataclass
class IngestResult:
    """What one load did, for the learner and for the run metrics."""

    batch_date: dt.date
    source: str
    rows_in: int
    rows_loaded: int
    rows_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    status: str = "loaded"  # loaded | unchanged | refused
    message: str = ""
    sha256: str = ""
    replaced: str | None = None
    file: str = ""

    @property
    def reconciled(self) -> bool:
        return self.rows_in == self.rows_loaded + self.rows_quarantined

    def counts(self) -> dict[str, int]:
        """The run-metric counts of this load."""
        return {
            "landed": self.rows_in,
            "loaded": self.rows_loaded,
            "quarantined": self.rows_quarantined,
        }

    def summary(self) -> pd.DataFrame:
        """The reconciliation as a small table."""
        return pd.DataFrame(
            {"rows": [self.rows_in, self.rows_loaded, self.rows_quarantined]},
            index=pd.Index(["in the file", "loaded", "quarantined"], name=str(self.batch_date)),
        )

    def as_dict(self) -> dict:
        """One file's outcome for `lab ingest --json`."""
        return {
            "file": self.file or self.source,
            "date": self.batch_date.isoformat() if self.batch_date else None,
            "rows_in": self.rows_in,
            "loaded": self.rows_loaded,
            "quarantined": self.rows_quarantined,
            "status": self.status,
            "message": self.message or str(self),
        }

    def __str__(self) -> str:
        if self.status == "refused":
            return self.message
        check = "=" if self.reconciled else "!="
        text = (
            f"{self.batch_date}: {self.rows_in} rows in {check} {self.rows_loaded} loaded + "
            f"{self.rows_quarantined} quarantined"
        )
        if self.status == "unchanged":
            text += " (the same file was loaded before; nothing changed)"
        elif self.replaced and self.replaced != self.source:
            text += f" (replaced {self.replaced})"
        return text


def batch_path(batch_date: dt.date | str, settings: Settings | None = None) -> str:
    """Where a day's delivery lives in the lake: `raw/orders/date=YYYY-MM-DD/orders.csv`."""
    settings = settings or get_settings()
    return (
        f"{settings.raw_bucket}/{ORDERS_PREFIX}/date={as_date(batch_date).isoformat()}/orders.csv"
    )


def missing_path_error(path: str | Path) -> BatchFileError:
    """The one sentence for a delivery path that does not exist: a file, or a folder of them."""
    text = str(path)
    kind = "folder" if text.endswith(("/", "\\")) else "file" if Path(text).suffix else "path"
    where, root = Path(text).resolve(), get_settings().root
    shown = shown_path(where, root) + (" in the project" if where.is_relative_to(root) else "")
    looked = "" if shown == f"{Path(text).as_posix()} in the project" else f" (looked for {shown})"
    return BatchFileError(
        f"The {kind} {text} does not exist{looked}. Fix: check the name and the folder you run "
        "the command from; give a CSV file or a folder of them."
    )


def land_batch(
    batch_date: dt.date | str,
    rows: int | None = None,
    dirty: float = 0.0,
    *,
    updates: float = 0.0,
    reach: int = UPDATE_MAX_DAYS_BACK,
    seed: int = 42,
    frame: pd.DataFrame | None = None,
    source: str | Path | None = None,
    lake: Lake | None = None,
    settings: Settings | None = None,
) -> str:
    """Put a day's delivery in the lake's raw zone exactly as it arrived; return its path.

    The delivery is a file (`source`), a frame of text values, or else a generated batch of
    any size (streamed to the file, never held in memory whole).
    """
    settings = settings or get_settings()
    lake = lake or get_lake(settings)
    lake.ensure_bucket(settings.raw_bucket)
    path = batch_path(batch_date, settings)
    if frame is not None:
        lake.write_bytes(path, to_csv_bytes(frame))
        return path
    if source is not None:
        if not Path(source).exists():
            raise missing_path_error(source)
        lake.put_file(Path(source), path)
        return path
    knobs = {"dirty": dirty, "updates": updates, "reach": reach, "seed": seed}
    knobs["rows"] = DEFAULT_ROWS if rows is None else rows
    local = lake.local_path(path)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        write_orders(local, batch_date, **knobs)
        return path
    with tempfile.TemporaryDirectory(prefix="lab-land-") as folder:
        generated = Path(folder) / "orders.csv"
        write_orders(generated, batch_date, **knobs)
        lake.put_file(generated, path)
    return path


def load_batch(
    batch_date: dt.date | str,
    *,
    lake: Lake | None = None,
    warehouse: Warehouse | None = None,
    settings: Settings | None = None,
    run_id: str = "manual",
    allow_empty: bool = False,
    progress: bool = False,
) -> IngestResult:
    """Load the day's landed delivery into `raw_orders`, quarantining bad rows; safe to rerun."""
    batch_date = as_date(batch_date)
    settings = settings or get_settings()
    lake = lake or get_lake(settings)
    path = batch_path(batch_date, settings)
    with lake.local_copy(path) as local:
        return load_file(
            local,
            batch_date,
            warehouse=warehouse or get_warehouse(settings),
            source=lake.url(path),
            run_id=run_id,
            allow_empty=allow_empty,
            progress=progress,
        )


def load_file(
    path: str | Path,
    batch_date: dt.date | str,
    *,
    warehouse: Warehouse | None = None,
    source: str | None = None,
    run_id: str = "manual",
    allow_empty: bool = False,
    progress: bool = False,
) -> IngestResult:
    """Load one local CSV file as the delivery of `batch_date`, in one transaction.

    `progress`: show DuckDB's progress bar on a terminal when the load takes over a second.
    """
    batch_date = as_date(batch_date)
    checked = delivery.inspect(path)
    source = source or str(path)
    outcome = loader.load(
        warehouse or get_warehouse(),
        checked,
        batch_date,
        source=source,
        run_id=run_id,
        allow_empty=allow_empty,
        progress=progress,
    )
    result = IngestResult(
        batch_date=batch_date,
        source=source,
        rows_in=outcome.rows_in,
        rows_loaded=outcome.loaded,
        rows_quarantined=outcome.quarantined,
        reasons=outcome.reasons,
        status=outcome.status,
        sha256=outcome.sha256,
        replaced=outcome.replaced,
        file=str(path),
    )
    if checked.ignored_columns:
        result.message = f"{result} (ignored column(s): {', '.join(checked.ignored_columns)})"
    if not result.reconciled:  # pragma: no cover - the loader checks before it commits
        raise ReconcileError(
            f"Counts do not reconcile: {result}. This is a bug in lab.ingest.loader."
        )
    return result


# --- looking at what was loaded -------------------------------------------------------------


def ensure_tables(warehouse: Warehouse | None = None) -> None:
    """Create the raw, quarantine and load-record tables if they are missing."""
    _ensure_tables(warehouse or get_warehouse())


def read_batch(path: str, lake: Lake | None = None) -> pd.DataFrame:
    """A landed file's rows as text, to look at (the loader itself never reads it into pandas)."""
    lake = lake or get_lake()
    with lake.local_copy(path) as local:
        checked = delivery.inspect(local)
        frame = pd.read_csv(local, dtype=str, keep_default_na=False, index_col=False)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame[[c for c in checked.header if c in frame.columns]]


def validate_rows(
    frame: pd.DataFrame, batch_date: dt.date | str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split text rows into typed good rows and bad rows with a `reason`, by the loader's rules.

    The rows are loaded into a scratch DuckDB file with the real loader, so what you see here
    is exactly what a load would do. `batch_date` defaults to the rows' latest order date.
    """

    if batch_date is None:
        dates = pd.to_datetime(frame["order_date"], format="%Y-%m-%d", errors="coerce").dropna()
        batch_date = dates.max().date() if not dates.empty else DEFAULT_RUN_DATE

    with tempfile.TemporaryDirectory(prefix="lab-validate-") as folder:
        file = Path(folder) / "sample.csv"
        file.write_bytes(to_csv_bytes(frame))
        scratch = DuckDBWarehouse(Path(folder) / "scratch.duckdb")
        load_file(file, batch_date, warehouse=scratch, source="sample.csv")
        good = scratch.query(
            f"select order_id, customer_id, order_date, status, amount from {RAW_ORDERS} "
            "order by rowid"
        )
        bad = scratch.query(
            f"select line_number, order_id, customer_id, order_date, status, amount, reason "
            f"from {QUARANTINE_ORDERS} order by line_number"
        )
    return good, bad


def load_sql(batch_date: dt.date | str) -> str:
    """The SQL a load of one date runs (DuckDB; on `stack` the good rows then go by COPY)."""

    return explain(as_date(batch_date))


def quarantined_rows(batch_date: dt.date | str, warehouse: Warehouse | None = None) -> pd.DataFrame:
    """The quarantined rows of one day with their reasons, in file order."""
    warehouse = warehouse or get_warehouse()
    return warehouse.query(
        f"select line_number, order_id, customer_id, order_date, status, amount, reason "
        f"from {QUARANTINE_ORDERS} where batch_date = ? order by line_number",
        [as_date(batch_date)],
    )


def loaded_dates(warehouse: Warehouse | None = None) -> list[dt.date]:
    """The batch dates present in `raw_orders`, oldest first."""
    warehouse = warehouse or get_warehouse()
    if not warehouse.table_exists(RAW_ORDERS):
        return []
    frame = warehouse.query(f"select distinct batch_date from {RAW_ORDERS} order by 1")
    return [as_date(d) for d in frame["batch_date"]]


def load_history(warehouse: Warehouse | None = None) -> pd.DataFrame:
    """Every load: date, file, its sha256, the counts, when, by which run, what it replaced."""
    warehouse = warehouse or get_warehouse()
    if not warehouse.table_exists(LOAD_BATCHES):
        return pd.DataFrame()
    return warehouse.query(f"select * from {LOAD_BATCHES} order by loaded_at, batch_date")


def quarantine_summary(warehouse: Warehouse | None = None) -> pd.DataFrame:
    """Quarantined rows per batch date and reason, newest first: where the dirty days were."""
    warehouse = warehouse or get_warehouse()
    if not warehouse.table_exists(QUARANTINE_ORDERS):
        return pd.DataFrame(columns=["batch_date", "reason", "rows"])
    return warehouse.query(
        f"select batch_date, reason, count(*) as rows from {QUARANTINE_ORDERS} "
        "group by batch_date, reason order by batch_date desc, rows desc, reason"
    )
