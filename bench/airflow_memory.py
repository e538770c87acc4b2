"""Benchmark: the Airflow services' memory and healthcheck times, the figures behind the
`memory` limits and healthcheck timings in docker-compose.yml (run with
`make bench-airflow-memory`; never part of `make test`).

Each Airflow component the stack runs (api-server, scheduler, dag-processor, triggerer) starts
here as processes with the stack's settings (LocalExecutor, the stack's parallelism, one API
worker, the FAB auth manager, the project's dags folder) on a PostgreSQL metadata database (a
scratch database on 127.0.0.1:5432, dropped afterwards). Once every one is healthy, it waits
SETTLE_SECONDS (the DAGs get parsed again) and runs each component's compose healthcheck
command three times. Measured per service:

- the peak PSS of the component's process tree over the whole run, sampled every 0.5 s,
- the peak PSS of its probe (a container's cgroup holds both), sampled every 20 ms,
- for the scheduler and the triggerer, Airflow's log server, which their containers also start,
- the probe's duration, and the time from start until its first probe passed.

PSS, like the container's cgroup, counts a page shared by several processes once in all; a sum
of RSS would count Airflow's libraries once a process.

The times are wall-clock times scaled by the share of CPU the processes' main threads got while
they were runnable (the kernel's schedstat: time on a CPU / (that + time waiting for one)). On
an idle machine the share is 1; on a busy one, the wait other work causes would otherwise be
measured as the component's own need. The unscaled times are saved beside them.

Writes bench/results/airflow_memory.json, which tests/airflow/test_memory_limits.py compares
with docker-compose.yml on every test run.

Run: `.venv/bin/python bench/airflow_memory.py [--settle SECONDS] [--out FILE]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "airflow_memory.json"
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
# compose service -> the `airflow` subcommand it runs. The log servers are started apart (see
# serve_logs_stand_in): Airflow binds them to every interface, this binds to 127.0.0.1 only.
COMPONENTS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler", "--skip-serve-logs"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer", "--skip-serve-logs"],
}
WITH_LOG_SERVER = {"airflow-scheduler", "airflow-triggerer"}
SETTLE_SECONDS = 75  # more than two dag-processor refresh intervals (30 s): DAGs parsed again
PROBE_RUNS = 3
HEALTHY_TIMEOUT = 300
MIB = 2**20


@dataclass
class Measured:
    tree_peak: int = 0  # bytes, PSS of the component's processes
    probe_peak: int = 0  # bytes, PSS of one healthcheck run at its largest
    log_server: int = 0  # bytes, PSS of the stand-in log server
    probe_seconds: list[float] = field(default_factory=list)  # scaled by cpu_share()
    probe_wall_seconds: list[float] = field(default_factory=list)
    healthy_after: float | None = None  # seconds from start until a probe first passed, scaled
    healthy_after_wall: float | None = None
    sched: dict[int, tuple[int, int]] = field(default_factory=dict)  # see record_sched

    @property
    def total(self) -> int:
        return self.tree_peak + self.probe_peak + self.log_server


def record_sched(process: psutil.Process, sched: dict[int, tuple[int, int]]) -> None:
    """Record, for each process of the tree, its main thread's ns on a CPU and ns runnable but
    waiting for one so far (/proc/<pid>/schedstat); a process that exits keeps its last."""
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in members:
        try:
            ran, waited = map(int, Path(f"/proc/{member.pid}/schedstat").read_text().split()[:2])
        except (OSError, ValueError):
            continue
        sched[member.pid] = max(sched.get(member.pid, (0, 0)), (ran, waited))


def cpu_share(sched: dict[int, tuple[int, int]]) -> float:
    """The share of the CPU the recorded processes got while runnable (1.0 when never waiting)."""
    recorded = list(sched.values())  # the sampler thread may add a process meanwhile
    ran = sum(r for r, _ in recorded)
    waited = sum(w for _, w in recorded)
    return ran / (ran + waited) if ran + waited else 1.0


def tree_pss(process: psutil.Process) -> int:
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        try:
            total += member.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return total


class Sampler(threading.Thread):
    """Samples the PSS of each component's process tree every half second."""

    def __init__(self, processes: dict[str, int], measured: dict[str, Measured]):
        super().__init__(daemon=True)
        self.processes = {name: psutil.Process(pid) for name, pid in processes.items()}
        self.measured = measured
        self.running = True

    def run(self) -> None:
        while self.running:
            for name, process in self.processes.items():
                value = tree_pss(process)
                self.measured[name].tree_peak = max(self.measured[name].tree_peak, value)
                record_sched(process, self.measured[name].sched)
            time.sleep(0.5)


def probe_command(healthcheck: dict, ports: dict[str, int]) -> list[str]:
    """A compose healthcheck's command, pointed at this run's ports."""
    test = healthcheck["test"]
    kind, rest = test[0], test[1:]
    text = rest[0] if kind == "CMD-SHELL" else shlex.join(rest)
    text = text.replace("$$", "$")
    text = text.replace("localhost:8080", f"127.0.0.1:{ports['api']}")
    text = text.replace("localhost:8974", f"127.0.0.1:{ports['scheduler_health']}")
    return ["/bin/sh", "-c", text]


def run_probe(command: list[str], env: dict[str, str]) -> tuple[int, float, float, int]:
    """Exit code, seconds scaled by its processes' cpu_share, wall seconds, and peak memory
    (bytes) of the probe: the largest PSS of its processes together, sampled every 20 ms.

    (wait4's ru_maxrss would not do: it includes this process's RSS, which the child inherits
    at fork.)"""
    start = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = 0
    sched: dict[int, tuple[int, int]] = {}
    root = psutil.Process(process.pid)
    while process.poll() is None:
        peak = max(peak, tree_pss(root))
        record_sched(root, sched)
        time.sleep(0.02)
    wall = time.monotonic() - start
    return process.returncode, wall * cpu_share(sched), wall, peak


def serve_logs_stand_in(env: dict[str, str], port: int) -> subprocess.Popen:
    """Airflow's log server as a process of its own, bound to 127.0.0.1.

    In the container it is a forked child of the scheduler or triggerer, sharing pages with it;
    standing alone it counts every page of its own, so this overstates it a little."""
    code = (
        "import uvicorn, functools; uvicorn.run = functools.partial(uvicorn.run, host='127.0.0.1');"
        "from airflow.utils.serve_logs.core import serve_logs; "
        f"serve_logs(port={port})"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} after {timeout} s")


def airflow_hostname(env: dict[str, str]) -> str:
    """What Airflow's hostname_callable returns: the name the jobs-check probes ask for."""
    return subprocess.run(
        [sys.executable, "-c", "from airflow.utils.net import get_hostname as h; print(h())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def measure(base: Path, metadata_url: str, settle: float) -> dict[str, Measured]:
    """Start the four components in `base`, measure them, stop them."""
    import yaml

    sys.path.insert(0, str(ROOT / "tests" / "airflow"))
    from airflow_cluster import AirflowCluster, cluster_env  # the tests' process handling

    from lab.airflow.local import prepare_airflow_home, setup_metadata
    from lab.sandbox.notebooks import fresh_env
    from tests.helpers import free_port

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    results = {name: Measured() for name in COMPONENTS}
    home = base / "airflow"
    prepare_airflow_home(home)
    ports = {"api": free_port(), "scheduler_health": free_port()}
    dags = base / "project-dags"
    dags.mkdir()
    for source in sorted((ROOT / "dags").glob("*.py")):
        (dags / source.name).write_text(source.read_text())
    stack = services["airflow-apiserver"]["environment"]
    env = cluster_env(
        home,
        metadata_url.replace("postgresql://", "postgresql+psycopg2://"),
        "LocalExecutor",
        ports["api"],
        extra={
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__AUTH_MANAGER": stack["AIRFLOW__CORE__AUTH_MANAGER"],
            "AIRFLOW__CORE__PARALLELISM": stack["AIRFLOW__CORE__PARALLELISM"],
            "AIRFLOW__API__WORKERS": stack["AIRFLOW__API__WORKERS"],
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": stack[
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"
            ],
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(
                ports["scheduler_health"]
            ),
        },
    )
    env.pop("AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL", None)  # the stack's default
    os.environ.update(fresh_env(base / "lab"))  # a sandbox state of its own, for the processes
    setup_metadata(env)
    cluster = AirflowCluster(home=home, env=env, port=ports["api"])
    # The probes name the job's host as $HOSTNAME, which in a container is the name Airflow
    # records; here that is what Airflow's hostname_callable returns.
    full_env = {**os.environ, **env}
    full_env["HOSTNAME"] = airflow_hostname(full_env)
    commands = {name: probe_command(services[name]["healthcheck"], ports) for name in COMPONENTS}
    try:
        started = time.monotonic()
        for name, args in COMPONENTS.items():
            cluster.start(name, *args)
        sampler = Sampler({n: p.pid for n, p in cluster.processes.items()}, results)
        sampler.start()
        pending = set(COMPONENTS)
        while pending and time.monotonic() < started + HEALTHY_TIMEOUT:
            for name in sorted(pending):
                code, _, _, _ = run_probe(commands[name], full_env)
                if code == 0:
                    record_sched(psutil.Process(cluster.processes[name].pid), results[name].sched)
                    wall = time.monotonic() - started
                    results[name].healthy_after_wall = wall
                    results[name].healthy_after = wall * cpu_share(results[name].sched)
                    pending.discard(name)
            dead = {n: p.returncode for n, p in cluster.processes.items() if p.poll()}
            if dead:
                raise SystemExit(f"components exited: {dead}\n{cluster.logs()}")
            time.sleep(1)
        if pending:
            raise SystemExit(f"never healthy: {sorted(pending)}\n{cluster.logs()}")
        print(f"all healthy after {time.monotonic() - started:.0f} s; settling {settle:.0f} s")
        time.sleep(settle)
        for _ in range(PROBE_RUNS):
            for name in COMPONENTS:
                code, seconds, wall, peak = run_probe(commands[name], full_env)
                if code != 0:
                    raise SystemExit(f"{name}: healthcheck failed\n{cluster.logs()}")
                results[name].probe_seconds.append(round(seconds, 2))
                results[name].probe_wall_seconds.append(round(wall, 2))
                results[name].probe_peak = max(results[name].probe_peak, peak)
        sampler.running = False
        sampler.join()
        for name in sorted(WITH_LOG_SERVER):
            port = free_port()
            server = serve_logs_stand_in(full_env, port)
            try:
                wait_for_port(port)
                time.sleep(2)
                results[name].log_server = tree_pss(psutil.Process(server.pid))
            finally:
                server.terminate()
                server.wait(timeout=30)
    finally:
        leftovers = cluster.stop()
    if leftovers:
        print(f"processes were left running and had to be killed: {leftovers}", file=sys.stderr)
    return results


def machine() -> dict:
    """Where the figures were measured (they depend on the CPU and on what else ran)."""
    from importlib.metadata import version

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_mib": round(psutil.virtual_memory().total / MIB),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "airflow": version("apache-airflow"),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def report(results: dict[str, Measured], settle: float, before: dict) -> dict:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {**before, "load_average_1m_after": round(os.getloadavg()[0], 2)},
        "settle_seconds": settle,
        "probe_runs": PROBE_RUNS,
        "services": {
            name: {
                "tree_peak_pss_mib": round(m.tree_peak / MIB),
                "probe_peak_pss_mib": round(m.probe_peak / MIB),
                "log_server_pss_mib": round(m.log_server / MIB),
                "total_mib": round(m.total / MIB),
                "probe_seconds": m.probe_seconds,
                "probe_wall_seconds": m.probe_wall_seconds,
                "healthy_after_seconds": round(m.healthy_after, 1),
                "healthy_after_wall_seconds": round(m.healthy_after_wall, 1),
                "cpu_share": round(cpu_share(m.sched), 3),
            }
            for name, m in results.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS, help="seconds idle")
    parser.add_argument("--out", default=str(RESULTS), help="where to write the JSON results")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.helpers import scratch_database

    before = machine()
    with tempfile.TemporaryDirectory(prefix="lab-bench-airflow-memory-") as tmp:
        with scratch_database(PG_ADMIN, "airflow_memory") as url:
            results = measure(Path(tmp), url, args.settle)
    figures = report(results, args.settle, before)
    print(f"{'service':24} {'total MiB':>9} {'probe s (max)':>13} {'healthy s':>9} {'share':>5}")
    for name, row in figures["services"].items():
        print(
            f"{name:24} {row['total_mib']:9} {max(row['probe_seconds']):13.2f} "
            f"{row['healthy_after_seconds']:9.1f} {row['cpu_share']:5.2f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
