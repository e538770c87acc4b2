"""lab.warehouse: DuckDB on `local`, PostgreSQL on `stack`, behind one small interface."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from decimal import Decimal

import pandas as pd
import pytest

from lab import datagen, ingest
from lab.config import QUARANTINE_ORDERS, RAW_ORDERS
from lab.errors import WarehouseError, WarehouseLockedError
from lab.profiles import get_warehouse
from lab.warehouse import DuckDBWarehouse, PostgresWarehouse

AWKWARD_TEXT = "tab\there, newline\nthere, \"double\" and 'single' quotes, back\\slash, 100%, ?"

TYPES_DDL = """
create table typed (
    i bigint,
    d date,
    n decimal(10, 2),
    f double precision,
    s varchar,
    ts timestamp
)"""


def typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": pd.array([1, None, 9_007_199_254_740_993], dtype="Int64"),
            "d": [dt.date(2026, 11, 1), None, dt.date(1999, 12, 31)],
            "n": [Decimal("12.34"), None, Decimal("-0.05")],
            "f": [1.5, None, -2.25],
            "s": [AWKWARD_TEXT, None, ""],
            "ts": [dt.datetime(2026, 11, 1, 6, 30, 15), None, dt.datetime(2000, 1, 1)],
        }
    )


def assert_typed_round_trip(back: pd.DataFrame) -> None:
    back = back.sort_values("i", na_position="last").reset_index(drop=True)
    rows = back.astype(object).where(back.notna(), None).values.tolist()
    expected = [
        [
            1,
            dt.date(2026, 11, 1),
            Decimal("12.34"),
            1.5,
            AWKWARD_TEXT,
            dt.datetime(2026, 11, 1, 6, 30, 15),
        ],
        [
            9_007_199_254_740_993,
            dt.date(1999, 12, 31),
            Decimal("-0.05"),
            -2.25,
            "",
            dt.datetime(2000, 1, 1),
        ],
        [None, None, None, None, None, None],
    ]
    normalised = [
        [
            int(r[0]) if r[0] is not None else None,
            pd.Timestamp(r[1]).date() if r[1] is not None else None,
            Decimal(str(r[2])) if r[2] is not None else None,
            float(r[3]) if r[3] is not None else None,
            r[4],
            pd.Timestamp(r[5]).to_pydatetime() if r[5] is not None else None,
        ]
        for r in rows
    ]
    assert normalised == expected, f"expected {expected}, got {normalised}"


# --- DuckDB ---------------------------------------------------------------------------------


@pytest.fixture
def duck(lab_env) -> DuckDBWarehouse:
    return DuckDBWarehouse(lab_env.home / "test.duckdb", lock_wait=5)


def test_get_warehouse_on_local_is_the_duckdb_file_in_lab_home(lab_env):
    warehouse = get_warehouse()
    assert isinstance(warehouse, DuckDBWarehouse), f"got {type(warehouse).__name__}"
    assert warehouse.path == lab_env.home / "warehouse.duckdb", f"got {warehouse.path}"
    assert warehouse.describe() == f"DuckDB file {lab_env.home / 'warehouse.duckdb'}"


def test_duckdb_query_returns_a_dataframe_with_placeholders(duck):
    frame = duck.query("select ? as a, ? as b", [1, "x"])
    assert frame.to_dict("records") == [{"a": 1, "b": "x"}], frame.to_dict("records")
    assert duck.scalar("select 42") == 42
    assert duck.scalar("select 1 where false") is None


def test_duckdb_execute_persists_between_short_lived_connections(duck):
    duck.execute("create table t (id integer, name varchar)")
    duck.execute("insert into t values (?, ?)", [7, "seven"])
    assert duck.query("select * from t").to_dict("records") == [{"id": 7, "name": "seven"}]


def test_duckdb_insert_dataframe_matches_columns_by_name(duck):
    duck.execute("create table t (id integer, name varchar, extra varchar)")
    inserted = duck.insert_dataframe("t", pd.DataFrame({"name": ["a", "b"], "id": [1, 2]}))
    assert inserted == 2, f"expected 2 rows inserted, got {inserted}"
    rows = duck.query("select id, name, extra from t order by id").values.tolist()
    assert rows == [[1, "a", None], [2, "b", None]], rows


def test_duckdb_insert_of_an_empty_frame_inserts_nothing(duck):
    duck.execute("create table t (id integer)")
    assert duck.insert_dataframe("t", pd.DataFrame({"id": []})) == 0
    assert duck.scalar("select count(*) from t") == 0


def test_duckdb_insert_dataframe_round_trips_types(duck):
    duck.execute(TYPES_DDL)
    assert duck.insert_dataframe("typed", typed_frame()) == 3
    assert_typed_round_trip(duck.query("select * from typed"))


def test_duckdb_table_exists_with_and_without_schema(duck):
    duck.execute(
        "create schema ops; create table ops.runs (id integer); create table t (id integer)"
    )
    found = {name: duck.table_exists(name) for name in ["t", "main.t", "ops.runs", "runs", "nope"]}
    expected = {"t": True, "main.t": True, "ops.runs": True, "runs": False, "nope": False}
    assert found == expected, f"expected {expected}, got {found}"


def test_duckdb_tables_lists_kind_and_rows(duck):
    duck.execute(
        "create table t as select * from range(3) r(id); create view v as select * from t; "
        "create schema ops; create table ops.runs (id integer)"
    )
    tables = duck.tables().to_dict("records")
    expected = [
        {"schema": "main", "name": "t", "kind": "table", "rows": 3},
        {"schema": "main", "name": "v", "kind": "view", "rows": 3},
        {"schema": "ops", "name": "runs", "kind": "table", "rows": 0},
    ]
    assert tables == expected, f"expected {expected}, got {tables}"


def test_duckdb_bad_sql_raises_the_duckdb_error(duck):
    import duckdb

    with pytest.raises(duckdb.Error, match="nope"):
        duck.query("select * from nope")


def test_duckdb_unopenable_file_is_a_warehouse_error_with_the_fix(lab_env):
    not_a_db = lab_env.home / "not_a_database.duckdb"
    not_a_db.write_bytes(b"this is not a duckdb file" * 200)
    with pytest.raises(WarehouseError) as info:
        DuckDBWarehouse(not_a_db, lock_wait=1).query("select 1")
    message = str(info.value)
    assert f"Cannot open the warehouse file {not_a_db}" in message, message
    assert "Fix:" in message and "lab reset" in message, message


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("create table if not exists held (id integer)")
    print("locked", flush=True)
    time.sleep(120)
    """
)


def test_duckdb_locked_by_another_process_raises_warehouse_locked_error(duck):
    duck.execute("create table t (id integer)")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(duck.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = holder.stdout.readline().strip()
        assert line == "locked", f"expected the holder to print 'locked', got {line!r} " + (
            holder.stderr.read() if holder.poll() is not None else ""
        )
        short = DuckDBWarehouse(duck.path, lock_wait=0.3)
        with pytest.raises(WarehouseLockedError) as info:
            short.query("select count(*) from t")
    finally:
        holder.kill()
        holder.wait(timeout=10)
    message = str(info.value)
    assert f"The warehouse file {duck.path} is locked by PID {holder.pid} (" in message, message
    assert "Fix: let that pipeline run, Airflow task or notebook finish" in message, message
    assert short.scalar("select count(*) from t") == 0, (
        "expected the file usable after the holder died"
    )


@pytest.fixture
def openings(monkeypatch) -> list[str]:
    """The DuckDB files opened from here on (duckdb.connect, counted, then called)."""
    import duckdb

    opened, real = [], duckdb.connect
    monkeypatch.setattr(
        duckdb,
        "connect",
        lambda *args, **kwargs: opened.append(str(args[0])) or real(*args, **kwargs),
    )
    return opened


def file_is_free(path) -> bool:
    """Another process can open the file for writing (DuckDB's lock is not held)."""
    probe = f"import duckdb; duckdb.connect({str(path)!r}).execute('select 1')"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def test_duckdb_calls_in_a_session_share_one_opening_and_free_the_file_after(duck, openings):
    duck.execute("create table t (id integer)")
    openings.clear()
    with duck.session():
        other = DuckDBWarehouse(duck.path)  # another object for the same file shares it too
        duck.execute("insert into t values (?)", [1])
        other.insert_dataframe("t", pd.DataFrame({"id": [2, 3]}))
        with duck.session():  # nested: still the one connection
            assert duck.scalar("select count(*) from t") == 3
        assert other.tables()["rows"].tolist() == [3]
        assert not file_is_free(duck.path), "a session holds the file until it ends"
    assert openings == [str(duck.path)], f"expected one opening, got {openings}"
    assert file_is_free(duck.path), "the file must be free once the session ends"
    duck.scalar("select 1")
    assert len(openings) == 2, "outside a session each call opens the file again"


def test_a_duckdb_session_that_fails_frees_the_file_and_keeps_what_ran(duck):
    duck.execute("create table t (id integer)")
    with pytest.raises(duckdb_error()), duck.session():
        duck.execute("insert into t values (1)")
        duck.execute("insert into no_such_table values (2)")
    assert file_is_free(duck.path), "a failed session must close its connection"
    assert duck.scalar("select count(*) from t") == 1, "each statement commits as before"


def duckdb_error() -> type[Exception]:
    import duckdb

    return duckdb.Error


def test_ensuring_the_tables_of_an_existing_warehouse_opens_the_file_once(duck, openings):
    """`lab.ingest` ensures its tables before every load (11 statements on a sandbox that has
    them): one opening of the file, not one a statement (~20 ms of CPU each)."""
    ingest.ensure_tables(duck)
    openings.clear()
    ingest.ensure_tables(duck)
    assert openings == [str(duck.path)], f"expected one opening, got {len(openings)}"
    assert duck.table_exists(RAW_ORDERS) and duck.table_exists(QUARANTINE_ORDERS)


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture
def pg(postgres_dsn, monkeypatch) -> PostgresWarehouse:
    monkeypatch.setenv("LAB_PROFILE", "stack")
    monkeypatch.setenv("WAREHOUSE_URL", postgres_dsn)
    warehouse = get_warehouse()
    assert isinstance(warehouse, PostgresWarehouse), f"got {type(warehouse).__name__}"
    return warehouse


@pytest.mark.postgres
def test_postgres_describe_names_database_host_and_user(pg, postgres_dsn):
    dbname = postgres_dsn.rsplit("/", 1)[1]
    assert pg.describe() == f"PostgreSQL {dbname} at 127.0.0.1:5432 as postgres", pg.describe()


@pytest.mark.postgres
def test_postgres_query_and_execute_use_question_mark_placeholders(pg):
    pg.execute("create table t (id integer, name text)")
    pg.execute("insert into t values (?, ?)", [7, "100% sure?"])
    frame = pg.query("select * from t where id = ? and name like '100%'", [7])
    assert frame.to_dict("records") == [{"id": 7, "name": "100% sure?"}], frame.to_dict("records")
    assert pg.scalar("select count(*) from t") == 1
    assert pg.query("select * from t where id = ?", [8]).empty


@pytest.mark.postgres
def test_postgres_execute_runs_several_statements(pg):
    pg.execute("create schema ops; create table ops.runs (id integer); create table t (id integer)")
    assert pg.table_exists("ops.runs") and pg.table_exists("t") and not pg.table_exists("runs")


@pytest.mark.postgres
def test_postgres_insert_dataframe_via_copy_round_trips_types(pg, postgres_dsn):
    import psycopg

    pg.execute(TYPES_DDL)
    assert pg.insert_dataframe("typed", typed_frame()) == 3
    # Read back with plain psycopg, so this test is about COPY only.
    with psycopg.connect(postgres_dsn) as con:
        rows = con.execute("select * from typed").fetchall()
    assert_typed_round_trip(pd.DataFrame(rows, columns=list(typed_frame().columns), dtype=object))


@pytest.mark.postgres
def test_postgres_query_returns_the_same_types_as_duckdb(pg, duck):
    """A nullable bigint must come back exact, as on DuckDB (Int64), not as float64.

    (Found failing: PostgresWarehouse.query builds the frame from tuples, so pandas turns
    an integer column with a NULL into float64: 3 becomes 3.0 and ids above 2**53 change.)
    """
    for warehouse in (duck, pg):
        warehouse.execute(TYPES_DDL)
        warehouse.insert_dataframe("typed", typed_frame())
    duck_back, pg_back = duck.query("select * from typed"), pg.query("select * from typed")
    assert_typed_round_trip(duck_back)
    pg_type, duck_type = str(pg_back["i"].dtype), str(duck_back["i"].dtype)
    assert pg_type == duck_type, (
        f"expected the bigint column as {duck_type} (as on DuckDB), got {pg_type}"
    )
    assert_typed_round_trip(pg_back)


@pytest.mark.postgres
def test_postgres_tables_lists_kind_and_rows(pg):
    pg.execute(
        "create table t as select generate_series(1, 3) as id; create view v as select * from t"
    )
    tables = pg.tables().to_dict("records")
    expected = [
        {"schema": "public", "name": "t", "kind": "table", "rows": 3},
        {"schema": "public", "name": "v", "kind": "view", "rows": 3},
    ]
    assert tables == expected, f"expected {expected}, got {tables}"


@pytest.mark.postgres
def test_postgres_unreachable_is_a_warehouse_error_with_the_fix(monkeypatch, free_port):
    monkeypatch.setenv("LAB_PROFILE", "stack")
    monkeypatch.setenv("WAREHOUSE_URL", f"postgresql://postgres@127.0.0.1:{free_port}/warehouse")
    with pytest.raises(WarehouseError) as info:
        get_warehouse().query("select 1")
    message = str(info.value)
    assert "Cannot reach the warehouse (PostgreSQL warehouse at 127.0.0.1:" in message, message
    assert "Fix: start the stack with `make up`, or correct WAREHOUSE_URL" in message, message


@pytest.mark.postgres
def test_load_batch_works_unchanged_on_the_stack_profile(pg, stack_lake, create_bucket):
    # The bucket is made outside buckets: its creation on moto is covered in test_lake.py.
    create_bucket("raw")
    day = dt.date(2026, 11, 1)
    path = ingest.land_batch(day, rows=300, dirty=0.1)
    first = ingest.load_batch(day)
    again = ingest.load_batch(day)
    assert first.source == f"s3://{path}", f"expected s3://{path}, got {first.source}"
    assert first.reconciled and first.rows_quarantined > 0, str(first)
    assert (again.rows_loaded, again.rows_quarantined) == (
        first.rows_loaded,
        first.rows_quarantined,
    )
    in_raw = pg.scalar(f"select count(*) from {RAW_ORDERS}")
    in_quarantine = pg.scalar(f"select count(*) from {QUARANTINE_ORDERS}")
    assert (in_raw, in_quarantine) == (first.rows_loaded, first.rows_quarantined), (
        f"expected {first.rows_loaded} + {first.rows_quarantined} after a reload, "
        f"got {in_raw} + {in_quarantine}"
    )
    expected = datagen.make_orders(day, rows=300, dirty=0.1)
    loaded = pg.query(f"select order_id, amount from {RAW_ORDERS} order by order_id limit 1")
    first_row = expected[expected["order_id"] == str(loaded.iat[0, 0])]
    assert Decimal(first_row["amount"].iat[0]) == loaded.iat[0, 1], (
        f"expected amount {first_row['amount'].iat[0]}, got {loaded.iat[0, 1]}"
    )
    assert ingest.loaded_dates() == [day]
