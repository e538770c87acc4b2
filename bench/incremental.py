"""The incremental `orders` model against a full refresh, on DuckDB (never part of `make test`).

Run it with `.venv/bin/python bench/incremental.py` (`--quick`: 100k orders). It measures:

1. **orders at scale.** A scratch `local` sandbox gets `--days` days of generated deliveries
   (with the status updates `lab setup`'s history has) holding about `--orders` orders (1M),
   loaded with `lab.ingest.load_file`, and the `orders` model built on them. Then one more day's
   delivery is loaded, and from a copy of that state (the warehouse file, copied before each
   measurement) the model is rebuilt, in turn:
   - full     `dbt run --select orders --full-refresh`: every delivery, ranked again
   - incremental  `dbt run --select orders`: the deliveries of the window
     (`update_max_days_back` days before the newest batch held, and newer), merged by order_id
   Each is timed as dbt's own execution time of the model (run_results.json) and as the whole
   dbt command (parsing and connecting included), median of `--repeats` (3), interleaved.
2. **the pipeline's build.** `lab.transform.build()` on a sandbox prepared as `lab setup` does
   (7 days of 500 rows), with and without the new nodes (`--exclude orders+ orders_snapshot+`,
   the project as it was before them), median of `--repeats`, interleaved.

Prints the figures and writes bench/results/incremental.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "incremental.json"
FIRST_DAY = dt.date(2026, 9, 1)
MODEL = "orders"
NEW_NODES = "orders+ orders_snapshot+"  # the model, the snapshot and their tests


def timed_dbt(*args: str) -> tuple[float, float]:
    """Run a dbt command on the active sandbox; (the model's execution seconds, wall seconds)."""
    from lab import transform
    from lab.config import get_settings

    t0 = time.perf_counter()
    transform.dbt(*args).raise_on_failure()
    wall = time.perf_counter() - t0
    results = json.loads((get_settings().dbt_target_dir / "run_results.json").read_text())
    node = sum(r["execution_time"] for r in results["results"] if r["unique_id"].endswith(MODEL))
    return node, wall


def at_scale(args, tmp: Path) -> dict:
    """Full refresh against an incremental run adding one day, on about `args.orders` orders."""
    from lab import transform
    from lab.config import environ, get_settings
    from lab.contract import UPDATE_MAX_DAYS_BACK
    from lab.datagen import write_orders
    from lab.ingest import ensure_tables, load_file
    from lab.profiles import get_warehouse
    from lab.sandbox.notebooks import fresh_env
    from lab.steps import HISTORY_UPDATES

    rows = round(args.orders / (args.days * (1 - HISTORY_UPDATES) + HISTORY_UPDATES))
    with environ(fresh_env(tmp / "scale")):
        settings = get_settings()
        warehouse = get_warehouse()
        ensure_tables(warehouse)
        transform.seed().raise_on_failure()
        days = [FIRST_DAY + dt.timedelta(days=n) for n in range(args.days + 1)]
        for n, day in enumerate(days):
            path = tmp / "delivery.csv"
            reach = min(max(n, 1), UPDATE_MAX_DAYS_BACK)
            write_orders(path, day, rows=rows, updates=HISTORY_UPDATES if n else 0.0, reach=reach)
            if day == days[-1]:
                transform.dbt("run", "--select", f"stg_orders {MODEL}").raise_on_failure()
                orders_before = int(warehouse.scalar(f"select count(*) from {MODEL}"))
            load_file(path, day)
        deliveries = int(warehouse.scalar("select count(*) from raw_orders"))
        cutoff = days[-2] - dt.timedelta(days=UPDATE_MAX_DAYS_BACK)
        window = int(
            warehouse.scalar("select count(*) from raw_orders where batch_date >= ?", [cutoff])
        )
        state = tmp / "state.duckdb"
        shutil.copy(settings.warehouse_path, state)
        times: dict[str, list[tuple[float, float]]] = {"full": [], "incremental": []}
        results: dict[str, int] = {}
        for rep in range(args.repeats):
            kinds = ["full", "incremental"] if rep % 2 == 0 else ["incremental", "full"]
            for kind in kinds:
                shutil.copy(state, settings.warehouse_path)
                extra = ["--full-refresh"] if kind == "full" else []
                times[kind].append(timed_dbt("run", "--select", MODEL, *extra))
                results[kind] = int(warehouse.scalar(f"select count(*) from {MODEL}"))
                print(f"  {kind:<12} repetition {rep + 1}: model {times[kind][-1][0]:.2f} s, "
                      f"dbt command {times[kind][-1][1]:.2f} s", flush=True)  # fmt: skip
    assert results["full"] == results["incremental"], results
    return {
        "days": args.days + 1,
        "rows_a_day": rows,
        "deliveries": deliveries,
        "orders_before": orders_before,
        "orders_after": results["full"],
        "window_deliveries": window,
        "runs": {
            kind: {
                "model_s": statistics.median(t[0] for t in runs),
                "command_s": statistics.median(t[1] for t in runs),
                "model_runs_s": [t[0] for t in runs],
                "command_runs_s": [t[1] for t in runs],
            }
            for kind, runs in times.items()
        },
    }


def pipeline_build(args, tmp: Path) -> dict:
    """lab.transform.build() on a `lab setup` sandbox, with and without the new nodes."""
    from lab import sandbox, transform
    from lab.config import environ
    from lab.sandbox.notebooks import fresh_env

    times: dict[str, list[float]] = {"without": [], "with": []}
    nodes: dict[str, int] = {}
    with environ(fresh_env(tmp / "setup")):
        sandbox.prepare(say=lambda _: None)
        for rep in range(args.repeats):
            kinds = ["without", "with"] if rep % 2 == 0 else ["with", "without"]
            for kind in kinds:
                t0 = time.perf_counter()
                if kind == "with":
                    run = transform.build()
                else:
                    run = transform.dbt("build", "--exclude", *NEW_NODES.split())
                times[kind].append(time.perf_counter() - t0)
                run.raise_on_failure()
                nodes[kind] = len(run.rows)
                print(f"  build {kind:<8} the new nodes, repetition {rep + 1}: "
                      f"{times[kind][-1]:.2f} s ({nodes[kind]} nodes)", flush=True)  # fmt: skip
    return {
        kind: {"median_s": statistics.median(runs), "runs_s": runs, "nodes": nodes[kind]}
        for kind, runs in times.items()
    }


def print_report(report: dict) -> None:
    scale = report["scale"]
    print(
        f"\norders at scale: {scale['deliveries']:,} deliveries over {scale['days']} days, "
        f"{scale['orders_before']:,} orders, then {scale['orders_after']:,} after one more day "
        f"({scale['window_deliveries']:,} deliveries in the incremental window)"
    )
    head = f"{'run':<12} {'model s':>8} {'dbt command s':>14}"
    print(head + "\n" + "-" * len(head))
    for kind, r in scale["runs"].items():
        print(f"{kind:<12} {r['model_s']:>8.2f} {r['command_s']:>14.2f}")
    full, incremental = scale["runs"]["full"], scale["runs"]["incremental"]
    print(f"incremental / full: model {incremental['model_s'] / full['model_s']:.2f}x, "
          f"command {incremental['command_s'] / full['command_s']:.2f}x")  # fmt: skip
    build = report["build"]
    print("\nlab.transform.build() on a `lab setup` sandbox:")
    for kind, r in build.items():
        print(f"  {kind:<8} orders and orders_snapshot: {r['median_s']:.2f} s ({r['nodes']} nodes)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders before the new day")
    parser.add_argument("--days", type=int, default=30, help="days of deliveries before it")
    parser.add_argument("--quick", action="store_true", help="100k orders")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (median taken)")
    parser.add_argument("--tmp", help="folder for the scratch sandboxes (default: the system's)")
    parser.add_argument("--out", default=str(RESULTS), help="where to write the JSON results")
    args = parser.parse_args()
    if args.quick:
        args.orders = 100_000
    sys.path.insert(0, str(ROOT))
    started = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix="lab-bench-incremental-", dir=args.tmp) as tmp:
        print(f"orders at scale ({args.orders:,} orders over {args.days} days):", flush=True)
        report = {"scale": at_scale(args, Path(tmp))}
        print("the pipeline's build:", flush=True)
        report["build"] = pipeline_build(args, Path(tmp))
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
        "orders": args.orders,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
