"""Benchmark: `dag.test()` of the notebook pipeline on the `local` profile (never part of `make test`).

Measures, on a fresh sandbox (one day of history) and a fresh SQLite AIRFLOW_HOME:

- the one-off `airflow db migrate` + pool creation,
- the wall time of one `dag.test()` run of `notebook_pipeline` in a new process (imports, DAG
  parsing and the four notebooks included): target under 60 s on 2 cores,
- its peak memory: the largest sum of RSS over the process and its children (the notebook
  kernels) and the largest single process, sampled every 0.1 s with psutil.

Run: `.venv/bin/python bench/airflow_dag_test.py [--repeats N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
TARGET_SECONDS = 60

RUN = """
import datetime as dt
from airflow.dag_processing.dagbag import DagBag

dag = DagBag(dag_folder="{dags}/notebook_pipeline.py").dags["notebook_pipeline"]
run = dag.test(logical_date=dt.datetime(2026, 11, 5, tzinfo=dt.UTC), run_conf={{"rows": 500}})
assert str(run.state) == "success", run.state
"""


def environment(base: Path) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from lab.airflow.local import airflow_env, prepare_airflow_home
    from lab.sandbox.notebooks import fresh_env

    env = {**os.environ, **fresh_env(base)}
    home = base / "airflow"
    prepare_airflow_home(home)
    os.environ.update({k: v for k, v in env.items() if k.startswith("LAB_")})
    env.update(airflow_env(home))
    return env


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall time, peak RSS (bytes) of the process tree, and of its largest process."""
    t0 = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(process.pid)
    peak = largest = 0
    while process.poll() is None:
        try:
            sizes = [_rss(p) for p in (root, *root.children(recursive=True))]
            peak, largest = max(peak, sum(sizes)), max(largest, *sizes)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - t0
    if process.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{process.stderr.read().decode()[-3000:]}")
    return seconds, peak, largest


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lab-bench-airflow-") as tmp:
        env = environment(Path(tmp))
        subprocess.run(
            [BIN / "lab", "setup", "--history-days", "1"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        from lab.airflow.local import setup_metadata

        t0 = time.perf_counter()
        setup_metadata(env)
        migrate = time.perf_counter() - t0
        script = RUN.format(dags=ROOT / "dags")
        results = [measure([str(BIN / "python"), "-c", script], env) for _ in range(args.repeats)]
    seconds = [s for s, _, _ in results]
    peak = max(p for _, p, _ in results)
    largest = max(p for _, _, p in results)
    wall = statistics.median(seconds)
    verdict = "OK" if wall < TARGET_SECONDS else "OVER TARGET"
    print(f"airflow db migrate + pool (SQLite, once): {migrate:.1f} s")
    print(
        f"dag.test() notebook_pipeline (500 rows): median {wall:.1f} s of {len(seconds)} "
        f"({', '.join(f'{s:.1f}' for s in seconds)}); target < {TARGET_SECONDS} s: {verdict}"
    )
    print(
        f"peak memory: {peak / 2**20:.0f} MiB for the process tree (Airflow + notebook kernel); "
        f"largest single process {largest / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    main()
