"""Land a batch in the lake, validate its rows, load the good ones, quarantine the rest.

The rule the learner sees at the end of every load: rows in = rows loaded + rows quarantined.
Loading a date again replaces that date's rows, so a rerun never duplicates data.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import pandas as pd

from lab.config import ORDERS_PREFIX, QUARANTINE_ORDERS, RAW_ORDERS, Settings, get_settings
from lab.contract import CSV_COLUMNS, STATUSES, as_date
from lab.datagen import make_orders, to_csv_bytes
from lab.errors import BatchFileError, LabError, LakeError
from lab.lake import Lake, get_lake
from lab.warehouse import Warehouse, get_warehouse

RAW_ORDERS_DDL = f"""
create table if not exists {RAW_ORDERS} (
    order_id bigint primary key,
    customer_id bigint not null,
    order_date date not null,
    status varchar not null,
    amount decimal(10, 2) not null,
    batch_date date not null,
    source_file varchar not null,
    loaded_at timestamp not null
)"""

QUARANTINE_DDL = f"""
create table if not exists {QUARANTINE_ORDERS} (
    batch_date date not null,
    source_file varchar not null,
    line_number integer not null,
    order_id varchar,
    customer_id varchar,
    order_date varchar,
    status varchar,
    amount varchar,
    reason varchar not null,
    quarantined_at timestamp not null
)"""


@dataclass
class IngestResult:
    """What one load did, for the learner and for the run metrics."""

    batch_date: dt.date
    source: str
    rows_in: int
    rows_loaded: int
    rows_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)

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
            {
                "rows": [self.rows_in, self.rows_loaded, self.rows_quarantined],
            },
            index=pd.Index(["in the file", "loaded", "quarantined"], name=str(self.batch_date)),
        )

    def __str__(self) -> str:
        check = "=" if self.reconciled else "!="
        return (
            f"{self.batch_date}: {self.rows_in} rows in {check} {self.rows_loaded} loaded + "
            f"{self.rows_quarantined} quarantined"
        )


def batch_path(batch_date: dt.date | str, settings: Settings | None = None) -> str:
    """Where a day's batch lives in the lake: `raw/orders/date=YYYY-MM-DD/orders.csv`."""
    settings = settings or get_settings()
    return (
        f"{settings.raw_bucket}/{ORDERS_PREFIX}/date={as_date(batch_date).isoformat()}/orders.csv"
    )


def land_batch(
    batch_date: dt.date | str,
    rows: int | None = None,
    dirty: float = 0.0,
    *,
    frame: pd.DataFrame | None = None,
    lake: Lake | None = None,
) -> str:
    """Write a day's batch (generated, or the frame given) to the lake's raw zone; return its path."""
    settings = get_settings()
    lake = lake or get_lake(settings)
    lake.ensure_bucket(settings.raw_bucket)
    if frame is None:
        frame = make_orders(batch_date, **({"rows": rows} if rows is not None else {}), dirty=dirty)
    path = batch_path(batch_date, settings)
    lake.write_bytes(path, to_csv_bytes(frame))
    return path


def read_batch(path: str, lake: Lake | None = None) -> pd.DataFrame:
    """Read a landed CSV with every value as text; a broken file gets one clear sentence."""
    lake = lake or get_lake()
    try:
        data = lake.read_bytes(path)
    except LakeError as exc:
        raise BatchFileError(
            f"The batch file {lake.url(path)} is missing. Fix: land it first with "
            "lab.ingest.land_batch(date) or `lab pipeline --date ...`."
        ) from exc
    if not data.strip():
        raise BatchFileError(
            f"The batch file {lake.url(path)} is empty (0 bytes of data). Fix: land the batch "
            "again; an upstream export that produced nothing must not be loaded."
        )
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise BatchFileError(
            f"The batch file {lake.url(path)} is not readable CSV ({str(exc).strip()}). Fix: "
            "re-export it as UTF-8 CSV with a header line."
        ) from exc
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise BatchFileError(
            f"The batch file {lake.url(path)} lacks the column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, frame.columns)) or 'none'}). Fix: the header must be "
            f"{','.join(CSV_COLUMNS)}."
        )
    return frame[list(CSV_COLUMNS)]


def validate_rows(
    frame: pd.DataFrame, already_loaded: set[int] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split text rows into typed good rows and bad rows with a `reason` column.

    Each bad row gets the first rule it breaks. `already_loaded` holds order ids that other
    batches loaded before; a repeat of one of them is a duplicate too.
    """
    already_loaded = already_loaded or set()
    work = frame.copy()
    work["line_number"] = range(2, len(work) + 2)  # line 1 is the header
    order_id = pd.to_numeric(work["order_id"].str.strip(), errors="coerce")
    customer_id = pd.to_numeric(work["customer_id"].str.strip(), errors="coerce")
    order_date = pd.to_datetime(work["order_date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    amount = pd.to_numeric(work["amount"].str.strip(), errors="coerce")
    status = work["status"].str.strip()
    first_seen = ~order_id.duplicated(keep="first") | order_id.isna()

    rules = [
        ("order_id is empty or not a whole number", order_id.isna() | (order_id % 1 != 0)),
        ("order_id repeats an earlier row of this file", ~first_seen),
        ("order_id was already loaded by another batch", order_id.isin(already_loaded)),
        ("customer_id is empty or not a whole number", customer_id.isna() | (customer_id % 1 != 0)),
        ("order_date is not a date (YYYY-MM-DD)", order_date.isna()),
        ("amount is not a number", amount.isna()),
        (f"status is not one of {', '.join(STATUSES)}", ~status.isin(STATUSES)),
    ]
    reason = pd.Series(pd.NA, index=work.index, dtype="object")
    for text, broken in rules:
        reason = reason.mask(reason.isna() & broken.fillna(True), text)
    bad_mask = reason.notna()
    bad = work[bad_mask].assign(reason=reason[bad_mask])
    good = pd.DataFrame(
        {
            "order_id": order_id[~bad_mask].astype("int64"),
            "customer_id": customer_id[~bad_mask].astype("int64"),
            "order_date": order_date[~bad_mask].dt.date,
            "status": status[~bad_mask],
            "amount": amount[~bad_mask].round(2),
        }
    )
    return good.reset_index(drop=True), bad.reset_index(drop=True)


def ensure_tables(warehouse: Warehouse | None = None) -> None:
    """Create the raw and quarantine tables if they are missing."""
    warehouse = warehouse or get_warehouse()
    warehouse.execute(RAW_ORDERS_DDL)
    warehouse.execute(QUARANTINE_DDL)


def load_batch(
    batch_date: dt.date | str, *, lake: Lake | None = None, warehouse: Warehouse | None = None
) -> IngestResult:
    """Load a landed day into `raw_orders`, quarantining bad rows; safe to run again."""
    batch_date = as_date(batch_date)
    settings = get_settings()
    lake = lake or get_lake(settings)
    warehouse = warehouse or get_warehouse(settings)
    path = batch_path(batch_date, settings)
    frame = read_batch(path, lake)
    ensure_tables(warehouse)
    ids = pd.to_numeric(frame["order_id"], errors="coerce").dropna()
    already: set[int] = set()
    if not ids.empty:
        already = set(
            warehouse.query(
                f"select order_id from {RAW_ORDERS} "
                "where order_id between ? and ? and batch_date <> ?",
                [int(ids.min()), int(ids.max()), batch_date],
            )["order_id"].astype("int64")
        )
    good, bad = validate_rows(frame, already)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    source = lake.url(path)
    good = good.assign(batch_date=batch_date, source_file=source, loaded_at=now)
    bad = bad.assign(batch_date=batch_date, source_file=source, quarantined_at=now)
    quarantine_columns = [
        "batch_date",
        "source_file",
        "line_number",
        *CSV_COLUMNS,
        "reason",
        "quarantined_at",
    ]
    warehouse.execute(f"delete from {RAW_ORDERS} where batch_date = ?", [batch_date])
    warehouse.execute(f"delete from {QUARANTINE_ORDERS} where batch_date = ?", [batch_date])
    loaded = warehouse.insert_dataframe(RAW_ORDERS, good)
    quarantined = warehouse.insert_dataframe(QUARANTINE_ORDERS, bad[quarantine_columns])
    result = IngestResult(
        batch_date=batch_date,
        source=source,
        rows_in=len(frame),
        rows_loaded=loaded,
        rows_quarantined=quarantined,
        reasons=bad["reason"].value_counts().to_dict() if not bad.empty else {},
    )
    if not result.reconciled:  # pragma: no cover - a bug in the rules above, never bad data
        raise LabError(f"Counts do not reconcile: {result}. This is a bug in lab.ingest.")
    return result


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


def quarantine_summary(warehouse: Warehouse | None = None) -> pd.DataFrame:
    """Quarantined rows per batch date and reason, newest first: where the dirty days were."""
    warehouse = warehouse or get_warehouse()
    if not warehouse.table_exists(QUARANTINE_ORDERS):
        return pd.DataFrame(columns=["batch_date", "reason", "rows"])
    return warehouse.query(
        f"select batch_date, reason, count(*) as rows from {QUARANTINE_ORDERS} "
        "group by batch_date, reason order by batch_date desc, rows desc, reason"
    )


def load_file(
    path,
    batch_date: dt.date | str,
    *,
    warehouse: Warehouse | None = None,
    source: str | None = None,
    run_id: str | None = None,
    allow_empty: bool = False,
) -> IngestResult:
    """Load one local CSV file as the delivery of `batch_date` into the warehouse."""
    from pathlib import Path

    batch_date = as_date(batch_date)
    path = Path(path)
    warehouse = warehouse or get_warehouse()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)[list(CSV_COLUMNS)]
    ensure_tables(warehouse)
    good, bad = validate_rows(frame)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    source = source or str(path)
    good = good.assign(batch_date=batch_date, source_file=source, loaded_at=now)
    bad = bad.assign(batch_date=batch_date, source_file=source, quarantined_at=now)
    columns = ["batch_date", "source_file", "line_number", *CSV_COLUMNS, "reason", "quarantined_at"]
    warehouse.execute(f"delete from {RAW_ORDERS} where batch_date = ?", [batch_date])
    warehouse.execute(f"delete from {QUARANTINE_ORDERS} where batch_date = ?", [batch_date])
    loaded = warehouse.insert_dataframe(RAW_ORDERS, good)
    quarantined = warehouse.insert_dataframe(QUARANTINE_ORDERS, bad[columns])
    return IngestResult(batch_date, source, len(frame), loaded, quarantined)
