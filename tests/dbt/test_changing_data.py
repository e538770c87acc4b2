"""The orders' history in dbt: the incremental `orders` model and the `orders_snapshot` snapshot,
on both warehouses (DuckDB on `local`, PostgreSQL on `stack`).

Each test starts from an empty warehouse, loads deliveries with the
loader the pipeline uses (`lab.ingest.load_file`), and runs dbt through lab.transform on a
scratch copy of the dbt project (LAB_ROOT), so a variant model written by a test never lands
in this checkout. The copy and the warehouse are made again for each test in the same folder
and database, so dbt parses the project once a process, not once a test.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pandas as pd
import pytest

from lab import transform
from lab.contract import UPDATE_MAX_DAYS_BACK
from lab.datagen import write_orders
from lab.ingest import ensure_tables, load_file
from lab.profiles import get_warehouse
from lab.steps import HISTORY_UPDATES
from tests.helpers import DBT_PARSE_CACHE, copy_in_place, scratch_database

ROOT = Path(__file__).resolve().parents[2]
FIRST_DAY = dt.date(2026, 10, 1)
ROWS_A_DAY = 200
UPDATES = HISTORY_UPDATES  # the share `lab setup`'s history has
MODEL = "orders"
SNAPSHOT = "orders_snapshot"
VARIANTS = Path("models") / "marts" / "variants"


@pytest.fixture(scope="module")
def empty_sandbox(tmp_path_factory) -> Path:
    """An empty state and a copy of the dbt project, to copy for each test."""
    template = tmp_path_factory.mktemp("changing-data")
    shutil.copytree(
        ROOT / "dbt",
        template / "project" / "dbt",
        ignore=shutil.ignore_patterns("target", "logs", "exercises", VARIANTS.name),
    )
    (template / "home").mkdir()
    return template


# The PostgreSQL warehouse of this process's tests, made again for each under the same name.
POSTGRES_DB = f"lab_changing_{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_sandbox(request, empty_sandbox, tmp_path_factory, monkeypatch):
    """An empty sandbox on either warehouse, with its own copy of the dbt project: made again
    for each test in the same folder and database, so dbt keeps its parse of the project
    (tests/helpers.py's `copy_in_place`)."""
    base = tmp_path_factory.getbasetemp() / f"changing-data-{request.param}"
    copy_in_place(empty_sandbox, base, Path("home") / DBT_PARSE_CACHE)
    monkeypatch.setenv("LAB_ROOT", str(base / "project"))
    monkeypatch.setenv("LAB_HOME", str(base / "home"))
    with ExitStack() as stack:
        if request.param == "postgres":
            server = request.getfixturevalue("_postgres_server")
            url = stack.enter_context(scratch_database(server, "lab_changing", POSTGRES_DB))
            monkeypatch.setenv("LAB_PROFILE", "stack")
            monkeypatch.setenv("WAREHOUSE_URL", url)
        warehouse = get_warehouse()
        ensure_tables(warehouse)  # the orders model and the snapshot read raw_orders only
        yield warehouse


def deliver(day: dt.date, tmp: Path, rows: int = ROWS_A_DAY, updates: float = UPDATES) -> None:
    """Load the generated delivery of `day` (status updates reach back to FIRST_DAY at most)."""
    reach = min(max((day - FIRST_DAY).days, 1), UPDATE_MAX_DAYS_BACK)
    path = tmp / f"orders_{day.isoformat()}.csv"
    write_orders(path, day, rows=rows, updates=updates if day > FIRST_DAY else 0.0, reach=reach)
    load_file(path, day)


def deliver_rows(day: dt.date, rows: list[tuple], tmp: Path) -> None:
    """Load a hand-written delivery: (order_id, customer_id, order_date, status, amount) rows."""
    path = tmp / f"orders_{day.isoformat()}.csv"
    lines = ["order_id,customer_id,order_date,status,amount"]
    lines += [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    load_file(path, day)


def run(*args: str) -> transform.DbtRun:
    return transform.dbt(*args).raise_on_failure()


def text(value) -> str | None:
    """A value as text, the same on both warehouses: None for null, a date without a time."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    return str(value)


def rows_of(warehouse, relation: str, columns: str = "*") -> list[list[str | None]]:
    """The relation's rows as text, ordered by its first two columns."""
    frame = warehouse.query(f"select {columns} from {relation} order by 1, 2")
    return [[text(v) for v in row] for row in frame.astype(object).itertuples(index=False)]


@contextmanager
def variant_model(name: str, sql: str) -> Iterator[str]:
    """A model written from SQL text into the active project (`lab.config` root), for a block.

    An exercise check can build a learner's version of a model the same way: write it, run
    `transform.dbt("run", "--select", name)`, look at what it built.
    """
    from lab.config import get_settings

    folder = get_settings().dbt_dir / VARIANTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.sql"
    path.write_text(sql)
    try:
        yield name
    finally:
        path.unlink()


def without_unique_key(sql: str) -> str:
    """The orders model's SQL with its unique_key (and so its replace strategy) taken out."""
    cut = sql.replace("        unique_key='order_id',\n", "").replace(
        "        incremental_strategy='delete+insert',\n", ""
    )
    assert "unique_key=" not in cut and "incremental_strategy=" not in cut, (
        "the model's config moved"
    )
    return cut


# --- the incremental model ------------------------------------------------------------------


def test_incremental_runs_give_the_rows_a_full_refresh_gives(warehouse_sandbox, tmp_path):
    warehouse = warehouse_sandbox
    days = [FIRST_DAY + dt.timedelta(days=n) for n in range(5)]
    for day in days[:3]:
        deliver(day, tmp_path)
    first = run("run", "--select", MODEL)
    assert first.count("model", "success") == 1, first.table()
    for day in days[3:]:  # one run a day, as the pipeline does
        deliver(day, tmp_path)
        run("run", "--select", MODEL)
    executed = transform.executed_sql(MODEL)
    incremental = rows_of(warehouse, MODEL)
    run("run", "--select", MODEL, "--full-refresh")
    full = rows_of(warehouse, MODEL)
    delivered = warehouse.scalar("select count(distinct order_id) from raw_orders")
    updated = warehouse.scalar(
        f"select count(*) from {MODEL} where batch_date > order_date"
    )  # orders whose current row is a status update delivered on a later day
    assert len(full) == len({row[0] for row in full}) == delivered and updated > 0, (
        f"expected one row per order, some updated: {len(full)} rows, {delivered} orders "
        f"delivered, {updated} updated"
    )
    assert incremental == full, "the incremental runs and the full refresh differ"
    assert "delete from" in executed.lower(), f"expected an incremental run:\n{executed}"


def test_a_rerun_without_a_new_delivery_changes_no_row(warehouse_sandbox, tmp_path):
    warehouse = warehouse_sandbox
    for n in range(4):
        deliver(FIRST_DAY + dt.timedelta(days=n), tmp_path)
    run("run", "--select", MODEL)
    before = rows_of(warehouse, MODEL)
    again = run("run", "--select", MODEL)
    assert again.count("model", "success") == 1, again.table()
    assert rows_of(warehouse, MODEL) == before
    assert "delete from" in transform.executed_sql(MODEL).lower(), "expected an incremental run"


def test_a_late_status_update_replaces_the_orders_row(warehouse_sandbox, tmp_path):
    warehouse = warehouse_sandbox
    day1, day2 = FIRST_DAY, FIRST_DAY + dt.timedelta(days=1)
    deliver_rows(day1, [(1, 1, day1, "placed", "10.00"), (2, 2, day1, "placed", "20.00")], tmp_path)
    run("run", "--select", MODEL)
    deliver_rows(day2, [(1, 1, day1, "shipped", "10.00"), (3, 3, day2, "placed", "5.00")], tmp_path)
    run("run", "--select", MODEL)
    got = rows_of(warehouse, MODEL, "order_id, status, batch_date")
    assert got == [
        ["1", "shipped", str(day2)],
        ["2", "placed", str(day1)],
        ["3", "placed", str(day2)],
    ], got


def test_a_late_batch_is_read_within_the_look_back_and_not_before(warehouse_sandbox, tmp_path):
    """A batch delivered again (corrected) is read if it is at most update_max_days_back days
    older than the newest batch the model holds; an older one needs a full refresh."""
    warehouse = warehouse_sandbox
    days = [FIRST_DAY + dt.timedelta(days=n) for n in range(UPDATE_MAX_DAYS_BACK + 2)]
    for n, day in enumerate(days):
        deliver_rows(day, [(n + 1, n + 1, day, "placed", "1.00")], tmp_path)
    run("run", "--select", MODEL)
    newest, oldest = days[-1], days[0]
    in_window = newest - dt.timedelta(days=UPDATE_MAX_DAYS_BACK)
    for day in (in_window, oldest):  # each corrected: its order was shipped the same day
        n = days.index(day)
        deliver_rows(day, [(n + 1, n + 1, day, "shipped", "1.00")], tmp_path)
    run("run", "--select", MODEL)
    statuses = dict(rows_of(warehouse, MODEL, "batch_date, status"))
    got = (statuses[str(in_window)], statuses[str(oldest)])
    assert got == ("shipped", "placed"), (
        f"expected the batch of {in_window} read again and that of {oldest} not: {got}"
    )
    transform.run(MODEL, full_refresh=True).raise_on_failure()  # reads every delivery again
    assert (
        warehouse.scalar(f"select count(*) from {MODEL} where status = 'placed'") == len(days) - 2
    )


def test_without_a_unique_key_a_rerun_duplicates_the_recent_orders(warehouse_sandbox, tmp_path):
    """Why unique_key matters: without it an incremental run appends whatever it reads."""
    warehouse = warehouse_sandbox
    for n in range(3):
        deliver(FIRST_DAY + dt.timedelta(days=n), tmp_path)
    sql = without_unique_key((ROOT / "dbt" / "models" / "marts" / f"{MODEL}.sql").read_text())
    with variant_model("orders_appended", sql) as name:
        run("run", "--select", name)
        orders = warehouse.scalar(f"select count(*) from {name}")
        run("run", "--select", name)  # the same deliveries again: nothing new arrived
        rows, ids = warehouse.query(
            f"select count(*) as n, count(distinct order_id) as ids from {name}"
        ).iloc[0]
    assert int(ids) == orders and int(rows) == 2 * orders, (
        f"expected the rerun to append every order again: {orders} orders, then {int(rows)} "
        f"rows for {int(ids)} ids"
    )
    run("run", "--select", MODEL)
    run("run", "--select", MODEL)
    assert warehouse.scalar(f"select count(*) from {MODEL}") == orders, "with unique_key: no copy"


# --- the snapshot ---------------------------------------------------------------------------


def take_snapshot() -> transform.DbtRun:
    """stg_orders (a view: created once, it reads raw_orders as it is), then `dbt snapshot`."""
    run("run", "--select", "stg_orders")
    return transform.snapshot().raise_on_failure()


def history(warehouse) -> list[list[str | None]]:
    return rows_of(warehouse, SNAPSHOT, "order_id, status, dbt_valid_from, dbt_valid_to")


def test_a_late_status_update_closes_the_old_version_and_opens_a_new_one(
    warehouse_sandbox, tmp_path
):
    warehouse = warehouse_sandbox
    day1, day2, day3 = (FIRST_DAY + dt.timedelta(days=n) for n in range(3))
    deliver_rows(day1, [(1, 1, day1, "placed", "10.00"), (2, 2, day1, "placed", "20.00")], tmp_path)
    take_snapshot()
    deliver_rows(day2, [(3, 3, day2, "placed", "5.00")], tmp_path)
    take_snapshot()
    # day 3 delivers order 1 again, two days after it was placed: its status changed
    deliver_rows(day3, [(1, 1, day1, "shipped", "10.00"), (4, 4, day3, "placed", "7.00")], tmp_path)
    snapshot = take_snapshot()
    assert snapshot.count("snapshot", "success") == 1, snapshot.table()
    assert history(warehouse) == [
        ["1", "placed", str(day1), str(day3)],
        ["1", "shipped", str(day3), None],
        ["2", "placed", str(day1), None],
        ["3", "placed", str(day2), None],
        ["4", "placed", str(day3), None],
    ], history(warehouse)


def test_a_delivery_sent_again_unchanged_adds_no_version(warehouse_sandbox, tmp_path):
    warehouse = warehouse_sandbox
    for n in range(3):  # a snapshot a day, as the pipeline's build takes
        deliver(FIRST_DAY + dt.timedelta(days=n), tmp_path)
        take_snapshot()
    before = history(warehouse)
    closed = [row for row in before if row[-1] is not None]
    assert closed, "expected versions closed by the status updates of the second and third day"
    last = FIRST_DAY + dt.timedelta(days=2)
    load_file(tmp_path / f"orders_{last.isoformat()}.csv", last)  # the same file, delivered again
    take_snapshot()
    assert history(warehouse) == before


def test_build_makes_the_model_and_the_snapshot_with_the_rest(warehouse_sandbox, tmp_path):
    for n in range(2):
        deliver(FIRST_DAY + dt.timedelta(days=n), tmp_path)
    built = transform.build().raise_on_failure()
    assert built.count("model", "success") == 5 and built.count("snapshot", "success") == 1, (
        built.table()
    )
    orders = warehouse_sandbox.scalar("select count(*) from stg_orders")
    assert warehouse_sandbox.scalar(f"select count(*) from {MODEL}") == orders
    assert warehouse_sandbox.scalar(f"select count(*) from {SNAPSHOT}") == orders


def test_dropping_the_kept_relations_lets_a_rebuild_forget_removed_deliveries(
    warehouse_sandbox, tmp_path
):
    """A delivery taken out of raw_orders (as `lab reset --lesson` does) stays in the model and
    the snapshot; `transform.drop_kept_relations()` lets the next build start afresh."""
    warehouse = warehouse_sandbox
    days = [FIRST_DAY + dt.timedelta(days=n) for n in range(3)]
    for day in days:
        deliver(day, tmp_path)
    take_snapshot()
    run("run", "--select", MODEL)
    warehouse.execute("delete from raw_orders where batch_date = ?", [days[-1]])
    take_snapshot()
    run("run", "--select", MODEL)
    stale = f"select count(*) from {{}} where batch_date = '{days[-1]}'"
    assert warehouse.scalar(stale.format(MODEL)) > 0, "expected the removed day still held"
    assert transform.drop_kept_relations() == [MODEL, SNAPSHOT]
    assert not warehouse.table_exists(MODEL) and not warehouse.table_exists(SNAPSHOT)
    take_snapshot()
    run("run", "--select", MODEL)
    assert warehouse.scalar(stale.format(MODEL)) == 0
    assert warehouse.scalar(stale.format(SNAPSHOT)) == 0
    assert rows_of(warehouse, MODEL, "order_id, status, batch_date") == rows_of(
        warehouse, "stg_orders", "order_id, status, batch_date"
    )


# delete_day also removes the day's landed file: the postgres variant here has no object store
@pytest.mark.parametrize("warehouse_sandbox", ["duckdb"], indirect=True)
def test_an_exercise_day_taken_away_takes_the_kept_relations_with_it(warehouse_sandbox, tmp_path):
    """Exercises reset their own day (`lab.exercises.common.delete_day`); the incremental model
    and the snapshot would keep that day's rows, so they go too and the next build remakes them."""
    from lab.config import get_settings
    from lab.exercises.common import delete_day

    warehouse = warehouse_sandbox
    days = [FIRST_DAY + dt.timedelta(days=n) for n in range(2)]
    for day in days:
        deliver(day, tmp_path)
    take_snapshot()
    run("run", "--select", MODEL)
    said: list[str] = []
    delete_day(days[-1], get_settings(), said)
    assert not warehouse.table_exists(MODEL) and not warehouse.table_exists(SNAPSHOT), said
    assert any(MODEL in line and "next dbt build" in line for line in said), said
