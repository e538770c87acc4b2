"""Ingestion at scale: our load against the path tutorials teach, timed on this machine.

`compare` generates batches of growing size and loads each three ways into a fresh DuckDB file:
the sandbox's loader (DuckDB reads and checks the file, one transaction), the tutorials' path
(pandas reads the whole file, `DataFrame.to_sql` inserts it through SQLAlchemy), and DuckDB's
bare `CREATE TABLE AS SELECT * FROM read_csv(...)` (no checks at all) as the floor.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd

from lab import datagen, ingest
from lab.contract import DEFAULT_RUN_DATE
from lab.warehouse import DuckDBWarehouse

OURS = "lab ingest (checked, one transaction)"
NAIVE = "pandas.read_csv + to_sql (naive)"
RAW = "read_csv into a table (no checks)"


def _ours(csv: Path, db: Path) -> None:
    ingest.load_file(csv, DEFAULT_RUN_DATE, warehouse=DuckDBWarehouse(db))


def _naive(csv: Path, db: Path) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(f"duckdb:///{db}")
    try:
        pd.read_csv(csv).to_sql("raw_orders", engine, index=False, chunksize=10_000)
    finally:
        engine.dispose()


def _raw(csv: Path, db: Path) -> None:
    import duckdb

    with duckdb.connect(str(db)) as con:
        con.execute("create table raw_orders as select * from read_csv(?)", [str(csv)])


def compare(sizes=(10_000, 100_000), naive_max: int = 100_000) -> pd.DataFrame:
    """Seconds and rows per second of each way to load, for each size (naive up to `naive_max`)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="lab-scale-") as folder:
        _warm_up(Path(folder))
        for size in sizes:
            csv = Path(folder) / f"orders_{size}.csv"
            datagen.write_orders(csv, DEFAULT_RUN_DATE, rows=size)
            ways = [(OURS, _ours), (RAW, _raw)] + ([(NAIVE, _naive)] if size <= naive_max else [])
            for name, load in ways:
                db = Path(folder) / f"{name[:4]}_{size}.duckdb"
                started = time.perf_counter()
                load(csv, db)
                seconds = time.perf_counter() - started
                rows.append({"rows": size, "way": name, "seconds": seconds})
                db.unlink()
    frame = pd.DataFrame(rows)
    frame["rows_per_second"] = (frame["rows"] / frame["seconds"]).round(-2)
    return frame


def _warm_up(folder: Path) -> None:
    """Load a tiny file every way once, so imports and first connections are not timed."""
    csv = folder / "warm.csv"
    datagen.write_orders(csv, DEFAULT_RUN_DATE, rows=100)
    for n, load in enumerate((_ours, _raw, _naive)):
        load(csv, folder / f"warm{n}.duckdb")


def plot(frame: pd.DataFrame):
    """Seconds against rows, one line per way, both axes logarithmic."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for way, group in frame.groupby("way", sort=False):
        ax.plot(group["rows"], group["seconds"], marker="o", label=way)
    ax.set(xscale="log", yscale="log", xlabel="rows in the file", ylabel="seconds to load")
    ax.set_title("Loading one day's orders into DuckDB")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
