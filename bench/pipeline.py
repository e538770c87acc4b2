"""Benchmarks for the embedded sandbox (run with `make bench`; never part of `make test`).

1. `make pipeline` on the default data with a warm environment: target under 30 s on 2 cores,
   and within 1.5x of the bare tool calls it wraps (the same `lab.steps` calls, in one process).
2. With --cold only (`make bench COLD=1`): fresh clone to JupyterLab answering, with a cold
   package cache: target under 90 s. It installs the whole environment anew.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"

BARE_CALLS = """
from lab import steps
from lab.observe import metrics, plots
steps.ingestion("2026-11-01", rows=500, run_id="bare")
steps.transformation(run_id="bare")
steps.quality("2026-11-01", run_id="bare")
runs = metrics.step_runs()
for draw in (plots.step_durations, plots.rows_per_run, plots.quality_over_runs):
    draw(runs)
"""


def fresh_env(base: Path) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from lab.sandbox.notebooks import fresh_env as make

    return {**os.environ, **make(base)}


def timed(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench_pipeline(repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        env = fresh_env(Path(tmp))
        subprocess.run(
            [BIN / "lab", "setup", "--history-days", "1"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        pipeline = [timed([BIN / "lab", "pipeline"], env) for _ in range(repeats)]
        bare = [timed([BIN / "python", "-c", BARE_CALLS], env) for _ in range(repeats)]
    p, b = statistics.median(pipeline), statistics.median(bare)
    print(
        f"make pipeline (warm, default data): median {p:.1f} s of {repeats} "
        f"({', '.join(f'{x:.1f}' for x in pipeline)}); target < 30 s"
    )
    print(
        f"bare tool calls (lab.steps in one process): median {b:.1f} s; ratio {p / b:.2f}x "
        "(target <= 1.5x)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_cold_start() -> None:
    with tempfile.TemporaryDirectory(prefix="lab-cold-") as tmp:
        clone, cache = Path(tmp) / "clone", Path(tmp) / "uv-cache"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {**os.environ, "UV_CACHE_DIR": str(cache)}
        env.pop("VIRTUAL_ENV", None)
        port = _free_port()
        t0 = time.perf_counter()
        server = subprocess.Popen(
            ["make", "lab", f"PORT={port}", "JUPYTER_ARGS=--no-browser --ServerApp.token=bench"],
            cwd=clone,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while time.perf_counter() - t0 < 600:
                try:
                    url = f"http://127.0.0.1:{port}/api/status?token=bench"
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    time.sleep(0.5)
            seconds = time.perf_counter() - t0
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
        print(
            f"fresh clone to JupyterLab answering (cold uv cache): {seconds:.1f} s; target < 90 s"
        )
        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--cold",
        action="store_true",
        help="also time a fresh clone to JupyterLab with a cold package cache (minutes)",
    )
    args = parser.parse_args()
    bench_pipeline(args.repeats)
    if args.cold:
        bench_cold_start()


if __name__ == "__main__":
    main()
