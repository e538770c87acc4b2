"""One delivery into the warehouse, in one transaction, with the engine doing the bulk work.

DuckDB reads the file (`read_csv`, strict casts) and the rules run as SQL. On `local` the rows
go straight into `raw_orders` by `INSERT ... SELECT` and the few that break a rule move to the
quarantine before the commit (lab.ingest.loader_duckdb); on `stack` the good rows stream from DuckDB
as Arrow batches into one PostgreSQL `COPY` (lab.ingest.loader_postgres). This module holds what both
share: the batch, the outcome, the previous state, the quarantine rows and the load record. Only the rows a load
quarantines come back to Python, to find their original text and line. A load that fails or is
killed at any point leaves the date as it was; loading the same file again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from lab.ingest import delivery as files
from lab.ingest.loader_duckdb import load_duckdb
from lab.ingest.loader_postgres import load_postgres
from lab.ingest.loading import Batch, Outcome, Unchanged
from lab.ingest.schema import ensure_tables
from lab.warehouse import Warehouse

# The engine of each warehouse, by its dialect (`Warehouse.dialect`).
ENGINES = {"duckdb": load_duckdb, "postgres": load_postgres}


def load(
    warehouse: Warehouse,
    delivery: files.Delivery,
    batch_date: dt.date,
    *,
    source: str,
    run_id: str,
    allow_empty: bool,
    progress: bool = False,
) -> Outcome:
    """Replace `batch_date`'s rows with the delivery's, atomically."""
    ensure_tables(warehouse)
    with ThreadPoolExecutor(max_workers=1) as pool:
        facts = pool.submit(files.scan, delivery.path)
        batch = Batch(delivery, batch_date, source, run_id, allow_empty, facts, progress)
        try:
            return ENGINES[warehouse.dialect](warehouse, batch)
        except Unchanged as same:
            return same.args[0]
