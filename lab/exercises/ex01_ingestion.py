"""Exercise 01 · a dirty day: land it, load it, reconcile it in SQL, repair and replay a row."""

from __future__ import annotations

import pandas as pd

from lab.config import QUARANTINE_ORDERS, RAW_ORDERS, Settings
from lab.contract import CSV_COLUMNS
from lab.exercises.common import EXERCISE_DATES, day_of, delete_day, run_learner_sql, split_rows
from lab.exercises.core import Exercise, Task, Verdict, forget, register
from lab.profiles import get_warehouse
from lab.datagen import make_orders
from lab.ingest import batch_path, read_batch
from lab.profiles import get_lake

LESSON = "01"
DIRTY = 0.2
ALLOWED_REPAIRS = 5  # rows a learner may have repaired in the landed file (task 4)


def _landed() -> pd.DataFrame | None:

    path = batch_path(day_of(LESSON))
    return read_batch(path) if get_lake().exists(path) else None


def _expected(rows: int) -> pd.DataFrame:

    return make_orders(day_of(LESSON), rows=rows, dirty=DIRTY)


def _keys(frame: pd.DataFrame) -> set[tuple]:
    """Rows as comparable tuples (ids as ints, amounts to the cent)."""
    return {
        (
            int(r.order_id),
            int(r.customer_id),
            str(r.order_date)[:10],
            str(r.status),
            round(float(r.amount), 2),
        )
        for r in frame.itertuples()
    }


def check_landed(answers) -> Verdict:
    day = day_of(LESSON)
    frame = _landed()
    if frame is None:
        return Verdict(False, f"no batch is landed for {day} in the raw zone yet")
    expected = _expected(len(frame))
    differ = int((frame.values != expected[list(CSV_COLUMNS)].values).any(axis=1).sum())
    if differ > ALLOWED_REPAIRS:
        bad = _file_split(frame)[1]
        return Verdict(
            False,
            f"the landed file of {day} is not a dirty={DIRTY} batch: {differ} of its {len(frame)} rows "
            f"differ from one, and {len(bad)} rows ({len(bad) / len(frame):.0%}) fail row "
            f"validation (a dirty={DIRTY} batch of that size has "
            f"{len(_file_split(expected)[1])}). Land it again with dirty={DIRTY}",
        )
    return Verdict(True, f"a dirty={DIRTY} batch of {len(frame)} rows is landed for {day}")


def _file_split(frame: pd.DataFrame) -> tuple[pd.DataFrame, set[int]]:
    """The rows the loader loads from this file, and the line numbers it quarantines."""
    return split_rows(frame, day_of(LESSON))


def check_loaded(answers) -> Verdict:
    day = day_of(LESSON)
    frame = _landed()
    if frame is None:
        return Verdict(False, f"nothing to compare: land the batch of {day} first")
    warehouse = get_warehouse()
    if not warehouse.table_exists(RAW_ORDERS):
        return Verdict(False, f"{RAW_ORDERS} does not exist yet: load the day")
    good, bad_lines = _file_split(frame)
    loaded = warehouse.query(
        f"select order_id, customer_id, order_date, status, amount from {RAW_ORDERS} where batch_date = ?",
        [day],
    )
    lines = (
        set(
            warehouse.query(
                f"select line_number from {QUARANTINE_ORDERS} where batch_date = ?", [day]
            )["line_number"].astype(int)
        )
        if warehouse.table_exists(QUARANTINE_ORDERS)
        else set()
    )
    if loaded.empty and not lines:
        return Verdict(False, f"no rows of {day} are in the warehouse: call ingest.load_batch(day)")
    want, have = _keys(good), _keys(loaded)
    missing, extra = len(want - have), len(have - want)
    if missing or extra or lines != bad_lines:
        return Verdict(
            False,
            f"the warehouse does not match the landed file: the file has {len(want)} valid rows and "
            f"{len(bad_lines)} bad ones; {RAW_ORDERS} holds {len(have)} rows of {day} ({missing} of "
            f"the file's rows missing, {extra} not in the file) and {QUARANTINE_ORDERS} "
            f"{len(lines)}. Load the landed file again with ingest.load_batch",
        )
    return Verdict(
        True,
        f"{len(frame)} rows in the file = {len(have)} loaded + {len(lines)} quarantined, row for row",
    )


RECONCILE_REFERENCE = f"""
with loaded as (select batch_date, count(*) as n from {RAW_ORDERS} group by batch_date),
quarantined as (select batch_date, count(*) as n from {QUARANTINE_ORDERS} group by batch_date)
select coalesce(l.batch_date, q.batch_date) as batch_date,
       coalesce(l.n, 0) as loaded, coalesce(q.n, 0) as quarantined
from loaded l full outer join quarantined q on l.batch_date = q.batch_date
order by 1
"""


def check_reconcile_sql(answers) -> Verdict:
    frame = run_learner_sql(answers.get("reconcile_sql"), "reconcile_sql")
    missing = [c for c in ("batch_date", "loaded", "quarantined") if c not in frame.columns]
    if missing:
        return Verdict(
            False,
            f"your query's result lacks the column(s) {', '.join(missing)} "
            f"(it has: {', '.join(frame.columns) or 'none'})",
        )
    reference = get_warehouse().query(RECONCILE_REFERENCE)
    ref = {
        str(r.batch_date)[:10]: (int(r.loaded), int(r.quarantined)) for r in reference.itertuples()
    }
    got: dict[str, tuple[int, int]] = {}
    for r in frame.itertuples():
        key = str(r.batch_date)[:10]
        if key in got:
            return Verdict(
                False, f"your query returns {key} more than once: one row per batch date"
            )
        got[key] = (int(r.loaded or 0), int(r.quarantined or 0))
    absent = sorted(set(ref) - set(got))
    if absent:
        return Verdict(
            False,
            f"your query returns {len(got)} of the {len(ref)} batch dates in the tables; "
            f"missing: {', '.join(absent[:3])}{' ...' if len(absent) > 3 else ''}",
        )
    for key, (loaded, quarantined) in ref.items():
        if got[key] != (loaded, quarantined):
            return Verdict(
                False,
                f"for {key} your query says loaded={got[key][0]}, quarantined={got[key][1]}; the "
                f"tables hold {loaded} and {quarantined} (a join of the two tables multiplies rows: "
                "count each table on its own)",
            )
    return Verdict(True, f"your query reconciles all {len(ref)} batch dates from the tables")


def check_replay(answers) -> Verdict:
    day = day_of(LESSON)
    frame = _landed()
    warehouse = get_warehouse()
    if frame is None or not warehouse.table_exists(RAW_ORDERS):
        return Verdict(False, f"land and load the batch of {day} first")
    original = _expected(len(frame))
    good0, bad_lines0 = _file_split(original)
    at_bad_lines = original.iloc[[line - 2 for line in sorted(bad_lines0)]]  # line 1: header
    ids0 = pd.to_numeric(at_bad_lines["order_id"], errors="coerce").dropna().astype("int64")
    repairable = set(ids0) - set(good0["order_id"].astype("int64"))
    loaded = set(
        warehouse.query(f"select order_id from {RAW_ORDERS} where batch_date = ?", [day])[
            "order_id"
        ]
    )
    good_now, _ = _file_split(frame)
    in_file = repairable & set(good_now["order_id"].astype("int64"))
    in_warehouse = repairable & loaded
    if not in_file and not in_warehouse:
        return Verdict(
            False,
            f"no quarantined row of {day} is repaired yet: fix one in the landed file (keep its "
            "order_id), land the file again and load it",
        )
    if in_warehouse - in_file:
        order = sorted(in_warehouse - in_file)[0]
        return Verdict(
            False,
            f"order {order} is in {RAW_ORDERS} but the landed file still has it broken: repair the "
            "file itself and load it again (a replay goes through the file, so a rerun keeps it)",
        )
    if in_file - in_warehouse:
        order = sorted(in_file - in_warehouse)[0]
        return Verdict(
            False,
            f"the landed file has a repaired row for order {order}, but it is not in {RAW_ORDERS}: "
            "load the day again",
        )
    if not check_loaded(answers).done:
        return Verdict(
            False,
            "the repaired row is loaded, but the warehouse no longer matches the file (task 2)",
        )
    return Verdict(
        True,
        f"{len(in_warehouse)} repaired row(s) replayed and loaded: order(s) {sorted(in_warehouse)[:3]}",
    )


def start(settings: Settings) -> list[str]:
    said: list[str] = []
    delete_day(day_of(LESSON), settings, said)
    forget(LESSON, settings)
    return said


DAY = EXERCISE_DATES["01"]
EXERCISE = register(
    Exercise(
        lesson=LESSON,
        title="a dirty day",
        notebook="01_ingestion.ipynb",
        answers=("reconcile_sql",),
        start=start,
        work=f"the batch of {DAY} (landed file, loaded and quarantined rows, gate results)",
        tasks=[
            Task(
                "1",
                f"land a dirty batch (dirty={DIRTY}) for {DAY}",
                check_landed,
                [
                    "ingest.land_batch(day, dirty=...) writes a generated batch to the raw zone.",
                    f"The fraction of broken rows is the `dirty` argument: the task asks for {DIRTY}.",
                ],
                f'ingest.land_batch("{DAY}", dirty={DIRTY})',
            ),
            Task(
                "2",
                "load it and account for every row of the file",
                check_loaded,
                [
                    "ingest.load_batch(day) reads the landed file and splits it into loaded and quarantined rows.",
                    "Whenever the landed file changes, load it again: the warehouse must match the file row for row.",
                ],
                f'ingest.load_batch("{DAY}")',
            ),
            Task(
                "3",
                "write the SQL that reconciles every batch date from the tables",
                check_reconcile_sql,
                [
                    f"Count {RAW_ORDERS} and {QUARANTINE_ORDERS} per batch_date, each on its own.",
                    "Join the two counts on batch_date with a full outer join, so a day with rows in only one table still shows.",
                    "Name the columns batch_date, loaded, quarantined; coalesce a missing count to 0.",
                ],
                'reconcile_sql = """' + RECONCILE_REFERENCE.strip() + '\n"""',
            ),
            Task(
                "4",
                "repair one quarantined row and replay it so it loads",
                check_replay,
                [
                    "ingest.quarantined_rows(day) lists the bad rows with their line numbers and reasons.",
                    "Read the landed file with ingest.read_batch(ingest.batch_path(day)); row i of the frame is line i + 2.",
                    "Fix a status or an amount (keep the order_id), then ingest.land_batch(day, frame=fixed) and ingest.load_batch(day).",
                ],
                "batch = ingest.read_batch(ingest.batch_path(day))\n"
                "bad = ingest.quarantined_rows(day)\n"
                "row = bad[bad.reason.str.startswith('status')].iloc[0]\n"
                "batch.loc[row.line_number - 2, 'status'] = 'placed'\n"
                "ingest.land_batch(day, frame=batch)\n"
                "ingest.load_batch(day)",
            ),
        ],
    )
)
