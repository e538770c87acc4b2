"""Ingestion: a delivery checked, landed in the lake, loaded in one transaction, its bad rows quarantined.

    batches        land, load and reconcile a day's delivery (what the notebooks call)
    delivery       a delivered file, looked at before anything is loaded
    rules          the row rules of the orders feed, as SQL
    schema         the raw zone's tables
    loading        what the two load engines share
    loader         one delivery into the warehouse, in one transaction
    loader_duckdb  the `local` engine; loader_postgres the `stack` engine (pgcopy: binary COPY)
    files          `lab ingest`: a learner's own files
    scale          our load against the path tutorials teach, timed
"""

from lab.ingest.batches import (
    IngestResult,
    batch_path,
    ensure_tables,
    land_batch,
    load_batch,
    load_file,
    load_history,
    load_sql,
    loaded_dates,
    missing_path_error,
    quarantine_summary,
    quarantined_rows,
    read_batch,
    validate_rows,
)

__all__ = [
    "IngestResult",
    "batch_path",
    "ensure_tables",
    "land_batch",
    "load_batch",
    "load_file",
    "load_history",
    "load_sql",
    "loaded_dates",
    "missing_path_error",
    "quarantine_summary",
    "quarantined_rows",
    "read_batch",
    "validate_rows",
]
