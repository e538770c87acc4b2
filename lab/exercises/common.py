"""Helpers the exercise checks share: the exercises' own days, the learner's SQL, written files."""

from __future__ import annotations

import datetime as dt
import math
import numbers
import shutil
from pathlib import Path

import pandas as pd

from lab import transform
from lab.config import QUARANTINE_ORDERS, RAW_ORDERS, Settings, get_settings, shown_path
from lab.contract import as_date
from lab.errors import ExerciseError
from lab.ingest import batch_path, load_file
from lab.profiles import get_lake, get_warehouse
from lab.warehouse import DuckDBWarehouse

# The days the exercises work on: none of them is a lesson's day, so an exercise never
# disturbs what the lessons show.
EXERCISE_DATES = {"01": "2026-11-10", "03": "2026-11-11", "05": "2026-11-12", "07": "2026-11-15"}


# Numbers a learner computes match the reference within this relative tolerance: a rounded
# average (round(avg(x), 3)) is a right answer. Whole-number references (counts) match exactly.
RELATIVE_TOLERANCE = 0.005
TOLERANCE_TEXT = f"within {RELATIVE_TOLERANCE:.1%}"


def is_number(value: object) -> bool:
    """Whether a value is a number (Python, NumPy or Decimal), not a bool."""
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def same_number(want: object, have: object, rel: float = RELATIVE_TOLERANCE) -> bool:
    """Whether `have` is the reference number `want`: exactly (to rounding error) for a
    whole-number reference, else within the relative tolerance. A missing or non-numeric
    `have` never matches."""
    try:
        have_f, want_f = float(have), float(want)
    except (TypeError, ValueError):
        return False
    if math.isnan(have_f) or math.isnan(want_f):
        return math.isnan(have_f) and math.isnan(want_f)
    if want_f.is_integer():  # a count: off by one is wrong however large it is
        rel = 1e-9
    return abs(have_f - want_f) <= rel * max(abs(want_f), 1e-9)


def number_rule(want: object) -> str:
    """How `same_number` compares with this reference, for a message: "exactly" or "within 0.5%"."""
    try:
        whole = float(want).is_integer()
    except (TypeError, ValueError):
        whole = False
    return "exactly" if whole else TOLERANCE_TEXT


def day_of(lesson: str) -> dt.date:
    return as_date(EXERCISE_DATES[lesson])


def sql(query: str, params=None) -> pd.DataFrame:
    """Run a query on the warehouse (short-lived connection) and return its rows."""
    return get_warehouse().query(query, params)


def run_learner_sql(query: object, name: str) -> pd.DataFrame:
    """The learner's query as a DataFrame with lower-case column names, or a LabError saying why not."""

    if not isinstance(query, str) or not query.strip():
        raise ExerciseError(
            f'`{name}` is empty: write your query as text, e.g. {name} = "select ...".'
        )
    try:
        frame = sql(query)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExerciseError(f"your query `{name}` does not run: {first}") from None
    frame.columns = [str(c).lower() for c in frame.columns]
    return frame


def write_file(relative: str | Path, text: str, settings: Settings | None = None) -> None:
    """Write a file of the project (a dbt model, an alert rule, a DAG) and say where it went.

    It returns nothing, so a notebook cell that ends with it shows the one line it prints.
    """
    settings = settings or get_settings()
    path = settings.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip("\n") + "\n")
    print(f"wrote {shown_path(path, settings.root)} ({len(text.strip().splitlines())} lines)")


def remove(paths: list[Path], settings: Settings, said: list[str]) -> None:
    """Remove files or folders that exist, saying each."""
    for path in paths:
        if not path.exists():
            continue
        if path.is_relative_to(settings.root):
            shown = path.relative_to(settings.root)
        else:
            shown = f"{path.parent.name}/{path.name}"
        said.append(f"{shown}")
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def delete_day(day: dt.date, settings: Settings, said: list[str]) -> None:
    """Remove one day's batch from the lake, the warehouse and the stored gate results."""

    lake = get_lake(settings)
    path = batch_path(day, settings)
    if lake.exists(path):
        lake.fs.rm(path)
        said.append(f"the landed batch of {day}")
    warehouse = get_warehouse(settings)
    deleted = set()
    for table in (RAW_ORDERS, QUARANTINE_ORDERS):
        if warehouse.table_exists(table):
            n = int(
                warehouse.scalar(f"select count(*) from {table} where batch_date = ?", [day]) or 0
            )
            if n:
                warehouse.execute(f"delete from {table} where batch_date = ?", [day])
                said.append(f"{n} rows of {day} in {table}")
                deleted.add(table)
    if RAW_ORDERS in deleted:
        # an incremental model or a snapshot would keep the day's rows: the next build remakes them
        dropped = transform.drop_kept_relations(settings)
        if dropped:
            said.append(f"{', '.join(dropped)} (the next dbt build makes them again)")
    stored = settings.gx_validations_dir / "orders" / f"orders_{day.isoformat()}"
    remove([stored], settings, said)


def split_rows(frame: pd.DataFrame, day: dt.date) -> tuple[pd.DataFrame, set[int]]:
    """A batch as the loader splits it: the rows it loads, and the line numbers it quarantines.

    The frame is loaded with `lab.ingest.load_file` into a throwaway DuckDB file, so the checks
    judge a file by the loader's own rules, whatever they are.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lab-split-") as tmp:
        csv = Path(tmp) / "batch.csv"
        csv.write_text(frame.to_csv(index=False))
        scratch = DuckDBWarehouse(Path(tmp) / "scratch.duckdb")
        load_file(csv, day, warehouse=scratch)
        good = scratch.query(
            f"select order_id, customer_id, order_date, status, amount from {RAW_ORDERS}"
        )
        lines = scratch.query(f"select line_number from {QUARANTINE_ORDERS}")["line_number"]
    return good, set(lines.astype(int))
