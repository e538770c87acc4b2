"""Ingestion benchmark (run with `make bench-ingest`; never part of `make test`).

Measures, in one run, interleaved (every repetition runs each candidate once, in turn, the order
reversed every other repetition), the median of 3 on generated files of 1M and 10M rows
(`--sizes`; `--quick` for 100k only):

- duckdb/ours    `lab.ingest.load_file(path, date, warehouse=DuckDBWarehouse(db))`, fresh file
- duckdb/raw     `CREATE TABLE t AS SELECT * FROM read_csv('file')` in a fresh DuckDB file
- duckdb/naive   `pandas.read_csv` + `DataFrame.to_sql` through SQLAlchemy (duckdb-engine) into a
                 fresh DuckDB file, the path tutorials teach: run at `--naive-rows` (100k) only and
                 extrapolated linearly to each size
- postgres/ours  `lab.ingest.load_file(path, date, warehouse=PostgresWarehouse(dsn))`
- postgres/raw   psycopg `COPY t FROM STDIN (FORMAT csv, HEADER)` of the same file into a table
                 with the same five columns; both in a scratch database made for the measurement
                 on 127.0.0.1:5432 and dropped after it
- datagen/ours   `lab.datagen.write_orders(path, date, rows=n)`
- datagen/arrow  pyarrow's CSV writer writing the same five columns from a table in memory

Each measurement runs in a fresh Python process: the time is the operation alone (imports and
setup excluded), the peak is that process's maximum RSS (PostgreSQL's own server memory is not
counted). Prints a table with the issue's targets marked pass/fail and writes
bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ingest.json"
BATCH_DATE = "2026-11-01"
PG_ADMIN = {"host": "127.0.0.1", "port": "5432", "user": "postgres", "dbname": "postgres"}
COLUMNS_DDL = (
    "order_id bigint, customer_id bigint, order_date date, status varchar, amount decimal(12, 2)"
)
# candidate -> the candidate it is compared with ("ratio vs raw": time / that one's time)
BASELINE = {
    "duckdb/ours": "duckdb/raw",
    "duckdb/naive": "duckdb/raw",
    "postgres/ours": "postgres/raw",
    "datagen/ours": "datagen/arrow",
}
ORDER = [
    "duckdb/ours",
    "duckdb/raw",
    "duckdb/naive",
    "postgres/ours",
    "postgres/raw",
    "datagen/ours",
    "datagen/arrow",
]


# ---- one measurement, in its own process -------------------------------------------------------


def _timed(setup, run) -> float:
    state = setup()
    t0 = time.perf_counter()
    run(state)
    return time.perf_counter() - t0


def measure(spec: dict) -> dict:
    """Run one candidate as `spec` says; return its seconds and this process's peak RSS."""
    name, work = spec["candidate"], Path(spec["work"])
    csv, rows = spec.get("csv"), spec["rows"]
    if name == "duckdb/ours":
        from lab.ingest import load_file
        from lab.warehouse import DuckDBWarehouse

        seconds = _timed(
            lambda: DuckDBWarehouse(work / "ours.duckdb"),
            lambda wh: load_file(csv, BATCH_DATE, warehouse=wh),
        )
    elif name == "duckdb/raw":
        import duckdb

        def run(con):
            con.execute(f"create table t as select * from read_csv('{csv}')")
            con.close()

        seconds = _timed(lambda: duckdb.connect(str(work / "raw.duckdb")), run)
    elif name == "duckdb/naive":
        import pandas as pd
        import sqlalchemy

        def run(engine):
            pd.read_csv(csv).to_sql("orders", engine, index=False)
            engine.dispose()

        seconds = _timed(
            lambda: sqlalchemy.create_engine(f"duckdb:///{work / 'naive.duckdb'}"), run
        )
    elif name == "postgres/ours":
        from lab.ingest import load_file
        from lab.warehouse import PostgresWarehouse

        seconds = _timed(
            lambda: PostgresWarehouse(spec["dsn"]),
            lambda wh: load_file(csv, BATCH_DATE, warehouse=wh),
        )
    elif name == "postgres/raw":
        import psycopg

        def setup():
            con = psycopg.connect(**spec["dsn"])
            con.execute(f"create table t ({COLUMNS_DDL})")
            con.commit()
            return con

        def run(con):
            with open(csv, "rb") as fh, con.cursor() as cur:
                with cur.copy("copy t from stdin (format csv, header true)") as copy:
                    while block := fh.read(1 << 20):
                        copy.write(block)
            con.commit()
            con.close()

        seconds = _timed(setup, run)
    elif name == "datagen/ours":
        from lab.datagen import write_orders

        seconds = _timed(
            lambda: work / "datagen.csv",
            lambda path: write_orders(path, BATCH_DATE, rows=rows),
        )
    elif name == "datagen/arrow":
        import pyarrow.csv as pacsv

        seconds = _timed(
            lambda: arrow_table(rows), lambda table: pacsv.write_csv(table, work / "arrow.csv")
        )
    else:
        raise SystemExit(f"unknown candidate {name!r}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb}


def arrow_table(rows: int):
    """The five columns, typed as the warehouse types them, built with numpy (not timed)."""
    import numpy as np
    import pyarrow as pa

    from lab.contract import ORDER_ID_DAY_STRIDE, STATUS_WEIGHTS, STATUSES

    rng = np.random.default_rng(0)
    day = (dt.date.fromisoformat(BATCH_DATE) - dt.date(1970, 1, 1)).days
    status = rng.choice(len(STATUSES), size=rows, p=STATUS_WEIGHTS)
    cents = np.rint((1 + rng.gamma(2.0, 30.0, size=rows)) * 100).astype(np.int64)
    return pa.table(
        {
            "order_id": pa.array(2496 * ORDER_ID_DAY_STRIDE + np.arange(1, rows + 1)),
            "customer_id": pa.array(rng.integers(1, 101, size=rows)),
            "order_date": pa.array(np.full(rows, day, dtype=np.int32), pa.date32()),
            "status": pa.array(STATUSES).take(pa.array(status)),
            "amount": pa.array(cents / 100).cast(pa.decimal128(12, 2)),
        }
    )


# ---- the run -----------------------------------------------------------------------------------


def run_child(spec: dict, env: dict[str, str], timeout: float) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


class Scratch:
    """A PostgreSQL database made for one measurement and dropped after it."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> dict[str, str]:
        self._admin(f'create database "{self.name}"')
        return {**PG_ADMIN, "dbname": self.name, "password": ""}

    def __exit__(self, *exc) -> None:
        self._admin(f'drop database if exists "{self.name}" with (force)')

    @staticmethod
    def _admin(sql: str) -> None:
        import psycopg

        with psycopg.connect(**PG_ADMIN, autocommit=True, connect_timeout=5) as con:
            con.execute(sql)


def postgres_reachable() -> str | None:
    try:
        Scratch._admin("select 1")
    except Exception as exc:  # noqa: BLE001 - any failure means: skip PostgreSQL, say why
        return str(exc).strip().splitlines()[0]
    return None


def generate(path: Path, rows: int, env: dict[str, str]) -> None:
    code = (
        "import sys; from lab.datagen import write_orders; "
        f"write_orders(sys.argv[1], {BATCH_DATE!r}, rows={rows})"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], env=env, cwd=ROOT, check=True)


def bench(args) -> dict:
    sys.path.insert(0, str(ROOT))
    from lab.sandbox.notebooks import fresh_env

    pg_problem = None if args.no_postgres else postgres_reachable()
    if pg_problem:
        print(f"PostgreSQL on 127.0.0.1:5432 unreachable ({pg_problem}): its rows are skipped.")
    wanted = [c for c in ORDER if not args.only or c in args.only]
    if args.no_postgres or pg_problem:
        wanted = [c for c in wanted if not c.startswith("postgres/")]
    times: dict[tuple[str, int], list[float]] = {}
    peaks: dict[tuple[str, int], list[float]] = {}
    errors: dict[tuple[str, int], str] = {}
    with tempfile.TemporaryDirectory(prefix="lab-bench-ingest-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        env = {**os.environ, **fresh_env(tmp / "sandbox")}
        files = {}
        for rows in sorted({*args.sizes, args.naive_rows}):
            files[rows] = tmp / f"orders-{rows}.csv"
            generate(files[rows], rows, env)
        for size in args.sizes:
            for rep in range(args.repeats):
                # every other repetition runs the candidates in reverse, so none always follows
                # the same neighbour (whose disk writes may still be flushing)
                for candidate in wanted if rep % 2 == 0 else wanted[::-1]:
                    rows = args.naive_rows if candidate == "duckdb/naive" else size
                    if candidate == "duckdb/naive" and size != args.sizes[0]:
                        continue  # measured at its own size with the first size's repetitions
                    key = (candidate, size)
                    work = tmp / f"work-{len(times.get(key, []))}-{candidate.replace('/', '-')}"
                    work.mkdir()
                    spec = {"candidate": candidate, "rows": rows, "csv": str(files[rows])}
                    spec["work"] = str(work)
                    os.sync()  # the previous measurement's dirty pages are not this one's cost
                    label = f"  {candidate:<14} {rows:>11,} rows, repetition {rep + 1}"
                    print(label, end=" ... ", flush=True)
                    if candidate.startswith("postgres/"):
                        with Scratch(f"lab_bench_{os.getpid()}_{rep}") as dsn:
                            result = run_child({**spec, "dsn": dsn}, env, args.timeout)
                    else:
                        result = run_child(spec, env, args.timeout)
                    subprocess.run(["rm", "-rf", str(work)], check=True)
                    if "error" in result:
                        errors[key] = result["error"]
                        print(f"failed: {result['error']}")
                        continue
                    times.setdefault(key, []).append(result["seconds"])
                    peaks.setdefault(key, []).append(result["peak_mb"])
                    print(f"{result['seconds']:.2f} s, {result['peak_mb']:.0f} MB")
    return summarise(args, wanted, times, peaks, errors)


def summarise(args, wanted, times, peaks, errors) -> dict:
    rows_out = []
    medians: dict[tuple[str, int], float] = {}
    naive_key = ("duckdb/naive", args.sizes[0])
    for size in args.sizes:
        for candidate in wanted:
            key = (candidate, size)
            if candidate == "duckdb/naive":
                if naive_key not in times:
                    continue
                measured = statistics.median(times[naive_key])
                median = measured * size / args.naive_rows
                peak = max(peaks[naive_key])
                note = f"{args.naive_rows:,} rows measured ({measured:.2f} s), extrapolated"
            elif key in times:
                median, peak, note = statistics.median(times[key]), max(peaks[key]), ""
            else:
                continue
            medians[key] = median
            rows_out.append(
                {
                    "candidate": candidate,
                    "size": size,
                    "median_s": median,
                    "runs_s": times.get(key, times.get(naive_key)),
                    "rows_per_s": size / median,
                    "peak_mb": peak,
                    "note": note,
                }
            )
    for row in rows_out:
        base = medians.get((BASELINE.get(row["candidate"], ""), row["size"]))
        row["ratio_vs_raw"] = row["median_s"] / base if base else None
    return {
        "rows": rows_out,
        "targets": targets(medians, rows_out, max(args.sizes)),
        "errors": [{"candidate": c, "size": s, "error": e} for (c, s), e in errors.items()],
    }


def targets(medians, rows_out, size) -> list[dict]:
    """The issue's targets, judged at the largest size measured."""
    peak = {(r["candidate"], r["size"]): r["peak_mb"] for r in rows_out}
    m = lambda c: medians.get((c, size))  # noqa: E731

    def check(text, value, ok):
        return {"target": text, "value": value, "pass": None if value is None else ok(value)}

    def ratio(a, b):
        return None if m(a) is None or m(b) is None else m(a) / m(b)

    at = f"at {size:,} rows"
    return [
        check(f"DuckDB ingest within 2.5x of raw read_csv {at}", ratio("duckdb/ours", "duckdb/raw"),
              lambda v: v <= 2.5),
        check(f"DuckDB ingest >= 50x faster than the naive path {at}",
              ratio("duckdb/naive", "duckdb/ours"), lambda v: v >= 50),
        check(f"PostgreSQL load >= 0.8x raw COPY throughput {at}",
              ratio("postgres/raw", "postgres/ours"), lambda v: v >= 0.8),
        check(f"DuckDB ingest peak memory < 1.5 GB {at}", peak.get(("duckdb/ours", size)),
              lambda v: v < 1536),
        check(f"PostgreSQL load peak memory < 1.5 GB {at}", peak.get(("postgres/ours", size)),
              lambda v: v < 1536),
        check(f"datagen within 2x of pyarrow's CSV writer {at}",
              ratio("datagen/ours", "datagen/arrow"), lambda v: v <= 2),
        check(f"datagen peak memory < 1 GB {at}", peak.get(("datagen/ours", size)),
              lambda v: v < 1024),
    ]  # fmt: skip


def print_report(report: dict) -> None:
    head = f"{'candidate':<14} {'size':>11} {'median s':>9} {'rows/s':>12} {'vs raw':>7} {'peak MB':>8}"
    print("\n" + head + "\n" + "-" * len(head))
    for r in report["rows"]:
        ratio = f"{r['ratio_vs_raw']:.2f}x" if r["ratio_vs_raw"] else "-"
        print(
            f"{r['candidate']:<14} {r['size']:>11,} {r['median_s']:>9.2f} "
            f"{r['rows_per_s']:>12,.0f} {ratio:>7} {r['peak_mb']:>8.0f}"
            + (f"  ({r['note']})" if r["note"] else "")
        )
    print("\nTargets:")
    for t in report["targets"]:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[t["pass"]]
        value = "not measured" if t["value"] is None else f"{t['value']:.2f}"
        print(f"  {mark}  {t['target']}: {value}")
    for e in report["errors"]:
        print(f"  error: {e['candidate']} at {e['size']:,} rows: {e['error']}")


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        print(json.dumps(measure(json.loads(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1M,10M", help="comma-separated rows, e.g. 1M,10M")
    parser.add_argument("--quick", action="store_true", help="100k rows only")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (median taken)")
    parser.add_argument("--naive-rows", type=parse_size, default=100_000, help="naive path size")
    parser.add_argument(
        "--only", help="comma-separated candidates, e.g. datagen/ours,datagen/arrow"
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL rows")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per measurement")
    parser.add_argument("--tmp", help="folder for the generated files (default: the system's)")
    parser.add_argument("--out", default=str(RESULTS), help="where to write the JSON results")
    args = parser.parse_args()
    args.sizes = [100_000] if args.quick else [parse_size(s) for s in args.sizes.split(",")]
    args.only = set(args.only.split(",")) if args.only else None
    # stopped with SIGTERM: unwind, so the scratch database and the temporary files go too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = dt.datetime.now(dt.UTC)
    report = bench(args)
    print_report(report)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    report["meta"] = {
        "started": started.isoformat(timespec="seconds"),
        "commit": commit,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "repeats": args.repeats,
        "sizes": args.sizes,
        "naive_rows": args.naive_rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
