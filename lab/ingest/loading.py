"""What the two load engines share: the batch, the outcome, the previous state, the quarantine
rows and the load record (lab.ingest.loader chooses the engine; loader_duckdb and loader_postgres
are the engines)."""


from __future__ import annotations

import datetime as dt
from concurrent.futures import Future
from dataclasses import dataclass, field

import pandas as pd

from lab.config import LOAD_BATCHES, QUARANTINE_ORDERS, RAW_ORDERS
from lab.contract import CSV_COLUMNS
from lab.errors import BatchFileError, ReconcileError
from lab.ingest import delivery as files
from lab.ingest import rules
from lab.ingest.schema import QUARANTINE_COLUMNS

REJECTS = "lab_reject_errors"
# What DuckDB's CSV reader says of a record it refuses, in the quarantine's words.
READER_ERRORS = {
    "UNQUOTED VALUE": "line has a stray or unterminated quote",
    "TOO MANY COLUMNS": "line has more fields than the header",
    "MISSING COLUMNS": "line has fewer fields than the header",
    "LINE SIZE OVER MAXIMUM": "line is longer than 16 MB",
    "CAST": "a value cannot be read as its column's type",
}
DUPLICATE = "order_id repeats an earlier row of this file"
CHANGED = (
    "order_id was delivered on another date with another customer_id or order_date "
    "(an update cannot change them)"
)


def checkpoint(name: str) -> None:
    """A named point inside a load's transaction (tests stop a load here to kill it)."""


class Unchanged(Exception):
    """Raised inside a load's transaction to roll it back: the same file is loaded already."""


@dataclass
class Outcome:
    """What a load did, or why it changed nothing."""

    rows_in: int
    loaded: int
    quarantined: int
    sha256: str
    status: str  # loaded | unchanged
    reasons: dict[str, int] = field(default_factory=dict)
    replaced: str | None = None


@dataclass
class Batch:
    """A delivery on its way into the warehouse as the rows of one date."""

    delivery: files.Delivery
    batch_date: dt.date
    source: str
    run_id: str
    allow_empty: bool
    facts: Future
    progress: bool = False

    def show_progress(self, con) -> None:
        """DuckDB's own progress bar (on a terminal) for a load that takes over a second."""
        if self.progress:
            con.execute("set enable_progress_bar = true")
            con.execute("set progress_bar_time = 1000")

    @property
    def date_sql(self) -> str:  # built from a date object: no user text reaches the SQL
        return f"date '{self.batch_date.isoformat()}'"

    def read_csv(self) -> str:
        """DuckDB's read_csv of the file (`$path`), every option spelled out, rejects kept."""
        columns = self.delivery.column_types(rules.READ_TYPES)
        spec = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
        return (
            f"read_csv($path, header = true, columns = {{{spec}}}, delim = ',', quote = '\"', "
            f"escape = '\"', dateformat = '{rules.DATE_FORMAT}', auto_detect = false, null_padding = "
            f"{str(self.delivery.trailing_delimiter).lower()}, max_line_size = 16777216, "
            f"store_rejects = true, rejects_table = '{REJECTS}', rejects_scan = 'lab_reject_scans')"
        )

    def flag_sql(self, relation: str) -> str:
        """Records that break a rule on their own, and repeats of an earlier record."""
        return f"""select rec, 'row' as kind, null::bigint as first from {relation}
where {rules.bad_row(self.date_sql)}
union all
select b.rec, 'duplicate', d.first from {relation} b
join (
    select order_id, min(rec) as first from {relation}
    where order_id is not null group by order_id having count(*) > 1
) d using (order_id)
where b.rec <> d.first"""

    def changed_sql(self, relation: str) -> str:
        """Updates of an order another date delivered that change what an update cannot."""
        return f"""select b.rec, 'changed' as kind, null::bigint as first from {relation} b
where exists (
    select 1 from {RAW_ORDERS} o
    where o.order_id = b.order_id and o.batch_date <> {self.date_sql}
      and (o.customer_id <> b.customer_id or o.order_date <> b.order_date)
)"""


# --- what both engines share ----------------------------------------------------------------


def previous_state(query, batch: Batch) -> tuple[int, dict | None]:
    """The rows the date holds now and its latest load record; stop if this file is loaded."""
    held = int(
        query(
            f"select (select count(*) from {RAW_ORDERS} where batch_date = ?) + "
            f"(select count(*) from {QUARANTINE_ORDERS} where batch_date = ?)",
            [batch.batch_date, batch.batch_date],
        ).iat[0, 0]
    )
    record = query(
        f"select source_file, sha256, rows_in, rows_loaded, rows_quarantined from {LOAD_BATCHES} "
        "where batch_date = ? "
        "order by loaded_at desc limit 1",
        [batch.batch_date],
    )
    previous = None if record.empty else record.iloc[0].to_dict()
    if (
        previous is not None
        and int(previous["rows_in"]) == held
        and previous["sha256"] == batch.facts.result().sha256
    ):  # the same file, and the date still holds what it loaded: nothing to do
        raise Unchanged(
            Outcome(
                held,
                int(previous["rows_loaded"]),
                int(previous["rows_quarantined"]),
                previous["sha256"],
                "unchanged",
            )
        )
    return held, previous


def settle(
    batch: Batch,
    records: int,
    held: int,
    previous: dict | None,
    flagged: pd.DataFrame,
    rejected: pd.DataFrame,
) -> Outcome:
    """The load's counts; refuse an empty delivery over a date that holds rows."""
    rows_in = records + len(rejected)
    if rows_in == 0 and held and not batch.allow_empty:
        raise BatchFileError(
            f"The batch file {batch.delivery.path} has no data rows, and {batch.batch_date} already holds "
            f"{held} loaded or quarantined rows, which stay. Fix: check the export; to empty "
            "the date on purpose, load the file with --allow-empty (allow_empty=True)."
        )
    quarantined = flagged["rec"].nunique() + len(rejected)
    sha256 = batch.facts.result().sha256
    return Outcome(rows_in, rows_in - quarantined, quarantined, sha256, "loaded")


def quarantine_rows(
    batch: Batch, flagged: pd.DataFrame, rejected: pd.DataFrame, records: int
) -> pd.DataFrame:
    """Every refused record with its original text, its line in the file and its reason."""
    simple = batch.facts.result().lines == 1 + records + len(rejected)
    kept, refused = files.locate(
        batch.delivery.path,
        set(flagged["rec"].astype(int)),
        set(rejected["line"].astype(int)),
        simple=simple,
    )
    width = batch.delivery.width
    rows = []
    for rec, group in flagged.groupby("rec", sort=True):
        line, fields = kept[int(rec)]
        values = _by_name(batch.delivery, fields)
        why = rules.reason(values, batch.batch_date, width=width, found=len(fields))
        if not why and "duplicate" in set(group["kind"]):
            why = DUPLICATE
        if not why:
            why = CHANGED
        rows.append(_row(batch, line, values, fields, why))
    for number, error in rejected.itertuples(index=False):
        line, fields = refused[int(number)]
        values = _by_name(batch.delivery, fields)
        if error == "INVALID ENCODING":
            why = "line is not valid UTF-8 text (re-export the file as UTF-8)"
        else:
            why = rules.reason(values, batch.batch_date, width=width, found=len(fields))
            why = why or READER_ERRORS.get(str(error), f"line could not be read ({error})")
        rows.append(_row(batch, line, values, fields, why))
    frame = pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS[:-1]))
    return frame.sort_values("line_number", kind="stable").reset_index(drop=True)


def _by_name(delivery: files.Delivery, fields: list[str]) -> dict[str, str]:
    names = [*delivery.header, *(["_trailing"] if delivery.trailing_delimiter else [])]
    return dict(zip(names, fields, strict=False))


def _row(batch: Batch, line: int, values: dict, fields: list[str], why: str) -> dict:
    def text(value: str | None) -> str | None:  # PostgreSQL text holds no NUL byte
        return None if value is None else value.replace("\x00", "\\x00")

    return {
        "batch_date": batch.batch_date,
        "source_file": batch.source,
        "line_number": line,
        **{c: text(values.get(c)) for c in CSV_COLUMNS},
        "record": text(",".join(fields)),
        "reason": why,
    }


def record_row(batch: Batch, outcome: Outcome, previous: dict | None) -> pd.DataFrame:
    """The load record: which file, its hash, the counts, the run, and what it replaced."""
    if previous is not None:
        outcome.replaced = previous["source_file"]
    return pd.DataFrame(
        [
            {
                "batch_date": batch.batch_date,
                "source_file": batch.source,
                "sha256": outcome.sha256,
                "rows_in": outcome.rows_in,
                "rows_loaded": outcome.loaded,
                "rows_quarantined": outcome.quarantined,
                "run_id": batch.run_id,
                "replaced_file": outcome.replaced,
                "replaced_sha256": previous["sha256"] if previous is not None else None,
            }
        ]
    )


def check_counts(execute, batch: Batch, outcome: Outcome) -> None:
    """rows in = loaded + quarantined, counted in the tables before the commit."""
    loaded, quarantined = execute(
        f"select (select count(*) from {RAW_ORDERS} where batch_date = %(d)s), "
        f"(select count(*) from {QUARANTINE_ORDERS} where batch_date = %(d)s)".replace(
            "%(d)s", batch.date_sql
        )
    ).fetchone()
    if (loaded, quarantined) != (outcome.loaded, outcome.quarantined):
        raise ReconcileError(
            f"The load of {batch.delivery.path} does not reconcile: expected {outcome.loaded} "
            f"loaded + {outcome.quarantined} quarantined, the tables hold {loaded} + "
            f"{quarantined}. Nothing was changed. This is a bug in lab.ingest.loader."
        )
