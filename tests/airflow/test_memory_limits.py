"""The Airflow services' memory limits and healthcheck timings in docker-compose.yml, measured.

Each Airflow component the stack runs (api-server, scheduler, dag-processor, triggerer) starts
here as processes with the stack's settings (LocalExecutor, two task slots, one API worker, the
FAB auth manager, the project's dags folder) on a PostgreSQL metadata database. Once every one
is healthy and the DAGs have been parsed twice, each component's compose healthcheck command runs
three times. Measured: the peak PSS of each component's process tree over the whole run, the
peak PSS of its probe (a container's cgroup holds both), the log server the scheduler and the
triggerer start in their container, the probe's duration and the time until the first probe
passed. Asserted: measured memory plus a margin stays under the compose limit, and the compose
timeout and start period leave a margin over the measured times.

The times are wall-clock times scaled by the share of CPU the processes' main threads got
while they were runnable (the kernel's schedstat: time on a CPU / (that + time waiting for
one)). On an idle machine the share is 1; on a busy one, the wait other work causes would
otherwise be measured as the component's own need, and the test would fail whenever the
machine is busy.

Set AIRFLOW_MEMORY_REPORT=<file> to save the figures as JSON.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import yaml
from airflow_cluster import REPO_ROOT, AirflowCluster, cluster_env

from lab.airflow_local import prepare_airflow_home, setup_metadata
from tests.helpers import free_port, scratch_database

pytestmark = pytest.mark.slow

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# compose service -> the `airflow` subcommand it runs. The log servers are started apart (see
# serve_logs_stand_in): Airflow binds them to every interface, tests bind to 127.0.0.1 only.
COMPONENTS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler", "--skip-serve-logs"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer", "--skip-serve-logs"],
}
WITH_LOG_SERVER = {"airflow-scheduler", "airflow-triggerer"}
MEMORY_MARGIN = 1.25  # the image holds ~30 more providers than this venv; allocator noise
TIME_MARGIN = 1.5
SETTLE_SECONDS = 75  # more than two dag-processor refresh intervals (30 s): DAGs parsed again
PROBE_RUNS = 3
MIB = 2**20


def compose_limit_mib(service: str) -> float:
    value = str(SERVICES[service]["deploy"]["resources"]["limits"]["memory"])
    number, unit = re.fullmatch(r"(\d+)([MG])", value).groups()
    return int(number) * (1024 if unit == "G" else 1)


def compose_seconds(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(value))
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def compose_healthcheck(service: str) -> dict:
    return SERVICES[service]["healthcheck"]


@dataclass
class Measured:
    tree_peak: int = 0  # bytes, PSS of the component's processes
    probe_peak: int = 0  # bytes, PSS of one healthcheck run at its largest
    log_server: int = 0  # bytes, PSS of the stand-in log server
    probe_seconds: list[float] = field(default_factory=list)  # scaled by cpu_share()
    healthy_after: float | None = None  # seconds from start until a probe first passed, same
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


def probe_command(service: str, ports: dict[str, int]) -> list[str]:
    """The compose healthcheck of `service`, pointed at this run's ports."""
    test = compose_healthcheck(service)["test"]
    kind, rest = test[0], test[1:]
    text = rest[0] if kind == "CMD-SHELL" else shlex.join(rest)
    text = text.replace("$$", "$")
    text = text.replace("localhost:8080", f"127.0.0.1:{ports['api']}")
    text = text.replace("localhost:8974", f"127.0.0.1:{ports['scheduler_health']}")
    return ["/bin/sh", "-c", text]


def run_probe(command: list[str], env: dict[str, str]) -> tuple[int, float, int]:
    """Exit code, seconds (scaled by its processes' cpu_share) and peak memory (bytes) of the
    probe: the largest PSS of its processes together, sampled every 20 ms while it runs.

    PSS, like the container's cgroup, counts a page shared by several processes once in all;
    a sum of RSS would count Airflow's libraries once a process. (wait4's ru_maxrss would not
    do either: it includes the test process's RSS, which the child inherits at fork.)"""
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
    return process.returncode, (time.monotonic() - start) * cpu_share(sched), peak


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


@pytest.fixture(scope="module")
def measured(_postgres_server, tmp_path_factory, prepared_state, use_state) -> dict[str, Measured]:
    results = {name: Measured() for name in COMPONENTS}
    home = tmp_path_factory.mktemp("airflow-memory")
    prepare_airflow_home(home)
    ports = {"api": free_port(), "scheduler_health": free_port()}
    dags = home / "project-dags"
    dags.mkdir()
    for source in sorted((REPO_ROOT / "dags").glob("*.py")):
        (dags / source.name).write_text(source.read_text())
    with scratch_database(_postgres_server, "airflow_memory") as url:
        stack = SERVICES["airflow-apiserver"]["environment"]
        env = cluster_env(
            home,
            url.replace("postgresql://", "postgresql+psycopg2://"),
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
        for key in ("AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL",):
            env.pop(key, None)  # the stack keeps Airflow's default
        with use_state(prepared_state):
            setup_metadata(env)
            cluster = AirflowCluster(home=home, env=env, port=ports["api"])
            # The probes name the job's host as $HOSTNAME, which in a container is the name
            # Airflow records; here that is what Airflow's hostname_callable returns.
            hostname = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from airflow.utils.net import get_hostname as h; print(h())",
                ],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            full_env = {**os.environ, **env, "HOSTNAME": hostname}
            try:
                started = time.monotonic()
                for name, args in COMPONENTS.items():
                    cluster.start(name, *args)
                sampler = Sampler({n: p.pid for n, p in cluster.processes.items()}, results)
                sampler.start()
                commands = {name: probe_command(name, ports) for name in COMPONENTS}
                pending = set(COMPONENTS)
                deadline = started + 300
                while pending and time.monotonic() < deadline:
                    for name in sorted(pending):
                        code, _, _ = run_probe(commands[name], full_env)
                        if code == 0:
                            component = psutil.Process(cluster.processes[name].pid)
                            record_sched(component, results[name].sched)
                            share = cpu_share(results[name].sched)
                            results[name].healthy_after = (time.monotonic() - started) * share
                            pending.discard(name)
                    dead = {n: p.returncode for n, p in cluster.processes.items() if p.poll()}
                    assert not dead, f"components exited: {dead}\n{cluster.logs()}"
                    time.sleep(1)
                assert not pending, f"never healthy: {sorted(pending)}\n{cluster.logs()}"
                time.sleep(SETTLE_SECONDS)
                for _ in range(PROBE_RUNS):
                    for name in COMPONENTS:
                        code, seconds, peak = run_probe(commands[name], full_env)
                        assert code == 0, f"{name}: healthcheck failed\n{cluster.logs()}"
                        results[name].probe_seconds.append(round(seconds, 2))
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
    assert not leftovers, f"processes were left running: {leftovers}"
    report = {
        name: {
            "tree_peak_mib": round(m.tree_peak / MIB),
            "probe_peak_pss_mib": round(m.probe_peak / MIB),
            "log_server_mib": round(m.log_server / MIB),
            "total_mib": round(m.total / MIB),
            "limit_mib": compose_limit_mib(name),
            "probe_seconds": m.probe_seconds,
            "healthy_after_seconds": round(m.healthy_after or -1, 1),
        }
        for name, m in results.items()
    }
    print(json.dumps(report, indent=2))
    if os.environ.get("AIRFLOW_MEMORY_REPORT"):
        Path(os.environ["AIRFLOW_MEMORY_REPORT"]).write_text(json.dumps(report, indent=2) + "\n")
    return results


@pytest.mark.parametrize("service", sorted(COMPONENTS))
def test_component_and_its_probe_fit_the_memory_limit(measured, service):
    m = measured[service]
    needed = m.total * MEMORY_MARGIN / MIB
    limit = compose_limit_mib(service)
    assert needed <= limit, (
        f"{service}: measured {m.tree_peak / MIB:.0f} MiB (processes) + {m.probe_peak / MIB:.0f} "
        f"MiB (healthcheck) + {m.log_server / MIB:.0f} MiB (log server) = {m.total / MIB:.0f} MiB; "
        f"with a {MEMORY_MARGIN:.0%} margin that is {needed:.0f} MiB, over the limit {limit:.0f} MiB"
    )


@pytest.mark.parametrize("service", sorted(COMPONENTS))
def test_healthcheck_timeout_and_start_period_leave_a_margin(measured, service):
    m = measured[service]
    check = compose_healthcheck(service)
    timeout = compose_seconds(check["timeout"])
    slowest = max(m.probe_seconds)
    assert slowest * TIME_MARGIN <= timeout, (
        f"{service}: the healthcheck took up to {slowest:.1f} s; the timeout {timeout:.0f} s "
        f"leaves less than {TIME_MARGIN}x"
    )
    start_period = compose_seconds(check["start_period"])
    assert m.healthy_after * TIME_MARGIN <= start_period, (
        f"{service}: first healthy after {m.healthy_after:.0f} s; start_period {start_period:.0f} s "
        f"leaves less than {TIME_MARGIN}x"
    )


def test_cpu_share_discounts_the_wait_for_a_cpu_another_process_keeps_busy():
    """One CPU second of work beside a busy loop on the same CPU: half the wall time is wait."""
    pin = ["taskset", "-c", "0", sys.executable, "-c"]
    hog = subprocess.Popen([*pin, "while True: pass"])
    work = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1: pass"
    try:
        start = time.monotonic()
        worker = subprocess.Popen([*pin, work])
        sched: dict[int, tuple[int, int]] = {}
        while worker.poll() is None:
            record_sched(psutil.Process(worker.pid), sched)
            time.sleep(0.02)
        wall = time.monotonic() - start
    finally:
        hog.kill()
        hog.wait()
    share = cpu_share(sched)
    assert wall > 1.6, f"expected the busy loop to slow the work down, it took {wall:.1f} s"
    assert share < 0.7, f"expected under 70 % of the CPU beside a busy loop, got {share:.0%}"
    assert 0.8 < wall * share < 1.5, f"{wall:.1f} s x {share:.2f}: expected about 1 CPU second"
