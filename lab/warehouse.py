"""The warehouse: DuckDB on `local`, PostgreSQL on `stack`, behind one small interface.

Connections are short-lived: every call opens, works and closes, so no notebook cell, Airflow
task or dbt run is ever locked out by a connection somebody forgot to close. A few quick
statements in a row share one connection inside `with warehouse.session():` (opening DuckDB's
file is the costly part of a small statement). SQL written for the warehouse uses `?`
placeholders; the PostgreSQL side translates them.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from lab.errors import WarehouseError, WarehouseLockedError

# How long a writer waits for DuckDB's file lock before it gives up. Four `lab pipeline` runs
# started at once queue for the file; the slowest step that holds it, a dbt build, took up to
# 25 s on a busy 2-core machine, so the last of four waits about 75 s.
LOCK_WAIT_SECONDS = 120.0
_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>\S+) \(PID (?P<pid>\d+)\)")


# The DuckDB connections `DuckDBWarehouse.session()` holds, by file, in this thread.
_SESSIONS = threading.local()


def lock_holder(message: str) -> str:
    """Who holds a DuckDB file's lock, from DuckDB's own message: `PID 1234 (lab pipeline ...)`."""
    found = _HOLDER.search(message)
    if not found:
        return "another process"
    pid = found["pid"]
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        command = found["exe"]
    return f"PID {pid} ({command[:120]})"


def locked_error(path, waited: float, message: str) -> WarehouseLockedError:
    """The sentence for a warehouse file that stayed locked."""
    return WarehouseLockedError(
        f"The warehouse file {path} is locked by {lock_holder(message)} (waited {waited:.0f} s). "
        "Fix: let that pipeline run, Airflow task or notebook finish, or stop it; a notebook "
        "kernel that holds a connection open releases it when you restart the kernel."
    )


def wait_note(path, message: str) -> None:
    """Say once, on stderr, that a step is waiting for the file, and for whom."""
    print(
        f"waiting for the warehouse file {Path(path).name}: it is locked by {lock_holder(message)}",
        file=sys.stderr,
        flush=True,
    )


class Warehouse:
    """What every part of the sandbox needs from a warehouse."""

    dialect: str = ""
    # Great Expectations validates its tables over SQL (else as pandas frames: lab.quality.sources)
    gx_reads_sql: bool = False
    default_schema: str = ""

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run a query and return its rows as a DataFrame."""
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one or more statements that return nothing."""
        raise NotImplementedError

    def insert_dataframe(self, table: str, frame: pd.DataFrame) -> int:
        """Bulk-append a DataFrame to an existing table (columns matched by name)."""
        raise NotImplementedError

    @contextmanager
    def session(self) -> Iterator[Warehouse]:
        """The calls inside the block may share one connection (DuckDB: see its `session`)."""
        yield self

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        frame = self.query(sql, params)
        return None if frame.empty else frame.iat[0, 0]

    def table_exists(self, name: str) -> bool:
        schema, _, table = name.rpartition(".")
        return bool(
            self.scalar(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [schema or self.default_schema, table],
            )
        )

    def tables(self) -> pd.DataFrame:
        """Every table and view, with its kind and row count, for a quick look around."""
        frame = self.query(
            "select table_schema as schema, table_name as name, table_type as kind "
            "from information_schema.tables "
            "where table_schema not in ('information_schema', 'pg_catalog') "
            "order by 1, 2"
        )
        frame["kind"] = frame["kind"].map({"BASE TABLE": "table", "VIEW": "view"}).fillna("table")
        with self.session():
            frame["rows"] = [
                int(self.scalar(f'select count(*) from "{s}"."{n}"'))
                for s, n in zip(frame["schema"], frame["name"], strict=True)
            ]
        return frame

    def describe(self) -> str:
        raise NotImplementedError


class DuckDBWarehouse(Warehouse):
    """A DuckDB file. One writer at a time: a busy file is waited for, then reported."""

    dialect = "duckdb"
    default_schema = "main"

    def __init__(self, path, lock_wait: float = LOCK_WAIT_SECONDS):
        self.path = Path(path)
        self.lock_wait = lock_wait

    def describe(self) -> str:
        return f"DuckDB file {self.path}"

    @contextmanager
    def session(self) -> Iterator[DuckDBWarehouse]:
        """Inside the block every call on this file (from any DuckDBWarehouse of it, in this
        thread) uses one connection, and holds the file's lock, until the block ends.

        Opening the file costs ~20 ms of CPU (DuckDB builds a database instance each time, even
        for `:memory:`), a small statement 0.3 ms: ensuring the tables of a load opened it 11
        times. Hold a session for a few quick statements only, never across a dbt call (dbt
        opens the file itself) or a wait: other processes are locked out meanwhile.
        """
        held = _held_connections()
        if self.path in held:
            yield self
            return
        with self.connect() as con:
            held[self.path] = con
            try:
                yield self
            finally:
                del held[self.path]

    @contextmanager
    def connect(self) -> Iterator[Any]:
        held = _held_connections().get(self.path)
        if held is not None:  # inside a session: its connection
            yield held
            return
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        deadline = started + self.lock_wait
        delay, told = 0.05, False
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise WarehouseError(
                        f"Cannot open the warehouse file {self.path}: {exc}. Fix: check the path "
                        "and its permissions, or run `lab reset` to start from a fresh file."
                    ) from exc
                if time.monotonic() >= deadline:
                    raise locked_error(self.path, self.lock_wait, str(exc)) from exc
                if not told and time.monotonic() - started > 2:
                    wait_note(self.path, str(exc))
                    told = True
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            yield con
        finally:
            con.close()

    def query(self, sql, params=None):
        with self.connect() as con:
            return con.execute(sql, params or []).df()

    def execute(self, sql, params=None):
        with self.connect() as con:
            con.execute(sql, params or [])

    def insert_dataframe(self, table, frame):
        if frame.empty:
            return 0
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        with self.connect() as con:
            con.register("incoming_frame", frame)
            con.execute(f"insert into {table} ({columns}) select {columns} from incoming_frame")
            con.unregister("incoming_frame")
        return len(frame)


def _held_connections() -> dict[Path, Any]:
    if not hasattr(_SESSIONS, "held"):
        _SESSIONS.held = {}
    return _SESSIONS.held


class PostgresWarehouse(Warehouse):
    """A PostgreSQL database; bulk loads go through COPY."""

    dialect = "postgres"
    gx_reads_sql = True
    default_schema = "public"

    def __init__(self, dsn: dict[str, str]):
        self.dsn = dsn

    def describe(self) -> str:
        d = self.dsn
        return f"PostgreSQL {d['dbname']} at {d['host']}:{d['port']} as {d['user']}"

    @contextmanager
    def connect(self) -> Iterator[Any]:
        import psycopg

        try:
            con = psycopg.connect(**self.dsn, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise WarehouseError(
                f"Cannot reach the warehouse ({self.describe()}): {str(exc).strip()}. Fix: start "
                "the stack with `make up`, or correct WAREHOUSE_URL in .env."
            ) from exc
        try:
            with con:
                yield con
        finally:
            con.close()

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def query(self, sql, params=None):
        with self.connect() as con, con.cursor() as cur:
            cur.execute(self._sql(sql), params or None)
            if cur.description is None:
                return pd.DataFrame()
            return _typed_frame(cur.description, cur.fetchall())

    def execute(self, sql, params=None):
        with self.connect() as con, con.cursor() as cur:
            if params:
                cur.execute(self._sql(sql), params)
            else:
                cur.execute(sql)

    def insert_dataframe(self, table, frame):
        if frame.empty:
            return 0
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        with self.connect() as con, con.cursor() as cur:
            with cur.copy(f"copy {table} ({columns}) from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
        return len(frame)


_PG_INTEGERS = {"int2", "int4", "int8"}


def _typed_frame(description, rows) -> pd.DataFrame:
    """Rows to a DataFrame with DuckDB's types: integer columns stay integers even with NULLs."""
    from psycopg.postgres import types

    frame = pd.DataFrame(rows, columns=[c.name for c in description], dtype=object)
    for column in description:
        info = types.get(column.type_code)
        if info is not None and info.name in _PG_INTEGERS:
            series = frame[column.name]
            frame[column.name] = (
                series.astype("Int64") if series.isna().any() else series.astype("int64")
            )
    return frame.infer_objects()
