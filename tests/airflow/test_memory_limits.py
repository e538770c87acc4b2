"""The Airflow services' memory limits and healthcheck timings in docker-compose.yml stay tied to
a measurement: bench/results/airflow_memory.json, written by `make bench-airflow-memory`
(bench/airflow_memory.py starts the components with the stack's settings and measures them).

Asserted: measured memory (processes + probe + log server) x MEMORY_MARGIN stays under each
`memory` limit, and each healthcheck's timeout and start period leave TIME_MARGIN over the
measured probe time and time to first healthy. Lowering a limit below the measurement, or
raising the measurement without raising the limit, fails here; the fix is to re-run the
benchmark and set the limit from its figures.

No Airflow starts here; the schedstat CPU-share scaling the benchmark uses has its own test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import psutil
import pytest
import yaml
from airflow_cluster import REPO_ROOT

from bench.airflow_memory import COMPONENTS, cpu_share, record_sched

MEASUREMENT = REPO_ROOT / "bench" / "results" / "airflow_memory.json"
MEMORY_MARGIN = 1.25  # the image holds ~30 more providers than this venv; allocator noise
TIME_MARGIN = 1.5
RERUN = "re-run `make bench-airflow-memory` and commit bench/results/airflow_memory.json"


def compose_limit_mib(service: dict) -> float:
    value = str(service["deploy"]["resources"]["limits"]["memory"])
    number, unit = re.fullmatch(r"(\d+)([MG])", value).groups()
    return int(number) * (1024 if unit == "G" else 1)


def compose_seconds(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(value))
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def memory_problem(name: str, service: dict, measured: dict) -> str | None:
    """Why the compose `memory` limit does not leave MEMORY_MARGIN over the measurement."""
    needed = measured["total_mib"] * MEMORY_MARGIN
    limit = compose_limit_mib(service)
    if needed <= limit:
        return None
    return (
        f"{name}: measured {measured['tree_peak_pss_mib']} MiB (processes) + "
        f"{measured['probe_peak_pss_mib']} MiB (healthcheck) + {measured['log_server_pss_mib']} "
        f"MiB (log server) = {measured['total_mib']} MiB; with a {MEMORY_MARGIN - 1:.0%} margin "
        f"that is {needed:.0f} MiB, over the limit {limit:.0f} MiB in docker-compose.yml. "
        f"Fix: raise the limit to at least {needed:.0f} MiB"
    )


def timing_problems(name: str, service: dict, measured: dict) -> list[str]:
    """Why the healthcheck's timeout or start period leaves less than TIME_MARGIN."""
    check = service["healthcheck"]
    problems = []
    slowest = max(measured["probe_seconds"])
    timeout = compose_seconds(check["timeout"])
    if slowest * TIME_MARGIN > timeout:
        problems.append(
            f"{name}: the healthcheck took up to {slowest:.1f} s; the timeout {timeout:.0f} s "
            f"leaves less than {TIME_MARGIN}x. Fix: a timeout of {slowest * TIME_MARGIN:.0f} s+"
        )
    healthy = measured["healthy_after_seconds"]
    start_period = compose_seconds(check["start_period"])
    if healthy * TIME_MARGIN > start_period:
        problems.append(
            f"{name}: first healthy after {healthy:.0f} s; start_period {start_period:.0f} s "
            f"leaves less than {TIME_MARGIN}x. Fix: a start_period of {healthy * TIME_MARGIN:.0f} s+"
        )
    return problems


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]


@pytest.fixture(scope="module")
def measured() -> dict:
    assert MEASUREMENT.exists(), f"{MEASUREMENT} is missing. Fix: {RERUN}"
    return json.loads(MEASUREMENT.read_text())["services"]


def test_the_measurement_covers_every_airflow_component(measured):
    assert sorted(measured) == sorted(COMPONENTS), (
        f"{MEASUREMENT.name} measures {sorted(measured)}, bench/airflow_memory.py starts "
        f"{sorted(COMPONENTS)}. Fix: {RERUN}"
    )


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_component_and_its_probe_fit_the_memory_limit(services, measured, name):
    problem = memory_problem(name, services[name], measured[name])
    assert problem is None, f"{problem} (or, if Airflow changed, {RERUN})"


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_healthcheck_timeout_and_start_period_leave_a_margin(services, measured, name):
    problems = timing_problems(name, services[name], measured[name])
    assert not problems, "\n".join(problems) + f"\n(or, if Airflow changed, {RERUN})"


def test_a_limit_or_timeout_under_the_measurement_is_caught(services, measured):
    """The checks above bite: a limit just under measured x margin, or a timeout just under
    the slowest probe x margin, is reported with the size to set."""
    name = "airflow-dag-processor"
    service = json.loads(json.dumps(services[name]))
    figures = measured[name]
    too_low = int(figures["total_mib"] * MEMORY_MARGIN) - 1
    service["deploy"]["resources"]["limits"]["memory"] = f"{too_low}M"
    assert f"over the limit {too_low} MiB" in (memory_problem(name, service, figures) or "")
    service["healthcheck"]["timeout"] = f"{int(max(figures['probe_seconds']) * TIME_MARGIN)}s"
    assert "the timeout" in "\n".join(timing_problems(name, service, figures))


def test_cpu_share_discounts_the_wait_for_a_cpu_another_process_keeps_busy():
    """Half a CPU second of work beside a busy loop on the same CPU: half the wall time is wait."""
    pin = ["taskset", "-c", "0", sys.executable, "-c"]
    hog = subprocess.Popen([*pin, "while True: pass"])
    work = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"
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
    assert wall > 0.8, f"expected the busy loop to slow the work down, it took {wall:.1f} s"
    assert share < 0.7, f"expected under 70 % of the CPU beside a busy loop, got {share:.0%}"
    assert 0.4 < wall * share < 0.8, f"{wall:.1f} s x {share:.2f}: expected about 0.5 CPU second"
