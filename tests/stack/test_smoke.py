"""`make smoke` (docker/smoke.py) without Docker: with no stack every check fails and names its
service; against real stand-ins (Prometheus, moto's S3 server, PostgreSQL) those checks pass.
What only a machine with Docker can prove: `make up && make smoke` (.github/workflows/stack.yml).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from stack_helpers import REPO, require_binary

from lab.cli.dotenv_file import write_dotenv
from tests.helpers import free_port, json_server, scratch_database, serving, stop, wait_for_http

SMOKE = REPO / "docker" / "smoke.py"


def load_smoke() -> ModuleType:
    """docker/smoke.py as a module (a script in a folder that is no package), for its checks."""
    spec = importlib.util.spec_from_file_location("smoke", SMOKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECKS = load_smoke()
ENDPOINT_CHECKS = list(CHECKS.ENDPOINT_CHECKS)
END_TO_END_CHECKS = list(CHECKS.END_TO_END_CHECKS)


def closed_urls() -> dict[str, str]:
    """Every service at a port nothing listens on."""
    urls = {name: f"http://127.0.0.1:{free_port()}" for name in ENDPOINT_CHECKS}
    urls["postgres"] = f"127.0.0.1:{free_port()}"
    return urls


def smoke(env_file, urls: dict[str, str]) -> tuple[int, dict[str, str], list[str]]:
    args = [sys.executable, str(SMOKE), "--env-file", str(env_file), "--timeout", "30"]
    for name, url in urls.items():
        args += ["--url", f"{name}={url}"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=180)
    lines = result.stdout.splitlines()
    by_check = {line.split()[1]: line for line in lines[:-1] if line.split()}
    return result.returncode, by_check, lines


def wait_for_an_up_target(prometheus: str, timeout: float = 60) -> None:
    """Prometheus syncs discovered targets every 5 s; then a scrape marks the target up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{prometheus}/api/v1/targets", timeout=5) as response:
            targets = json.load(response)["data"]["activeTargets"]
        if targets and all(t["health"] == "up" for t in targets):
            return
        time.sleep(0.5)
    pytest.fail(f"Prometheus at {prometheus} had no up target after {timeout:.0f} s")


@pytest.fixture
def env_file(tmp_path):
    path = tmp_path / ".env"
    write_dotenv(path, REPO / ".env.example")
    return path


def test_without_the_stack_every_check_fails_naming_its_service(env_file):
    urls = closed_urls()
    started = time.monotonic()
    code, by_check, lines = smoke(env_file, urls)
    took = time.monotonic() - started
    assert code == 1, lines
    assert list(by_check) == ENDPOINT_CHECKS + END_TO_END_CHECKS, lines
    assert lines[-1] == f"smoke: 0 passed, {len(by_check)} failed", lines[-1]
    for name in ENDPOINT_CHECKS:
        line = by_check[name]
        port = urls[name].rsplit(":", 1)[1]
        assert line.startswith("FAIL") and f"127.0.0.1:{port}" in line, (
            f"expected the {name} line to fail naming 127.0.0.1:{port}, got {line!r}"
        )
    assert "its trigger failed above" in by_check["validation"], by_check["validation"]
    assert took < 60, f"expected the failures within 60 s, took {took:.0f} s"


def test_smoke_adds_flower_with_the_celery_profile(env_file):
    env_file.write_text(
        env_file.read_text().replace("COMPOSE_PROFILES=", "COMPOSE_PROFILES=celery")
    )
    urls = closed_urls() | {"flower": f"http://127.0.0.1:{free_port()}"}
    _, by_check, lines = smoke(env_file, urls)
    expected = ENDPOINT_CHECKS + list(CHECKS.CELERY_CHECKS) + END_TO_END_CHECKS
    assert list(by_check) == expected, lines
    assert by_check["flower"].startswith("FAIL"), by_check["flower"]


def test_every_check_the_script_defines_runs():
    declared = [*ENDPOINT_CHECKS, *CHECKS.CELERY_CHECKS, *END_TO_END_CHECKS]
    methods = {name for name in vars(CHECKS.Smoke) if name.startswith("check_")}
    named = {"check_" + name.replace("-", "_") for name in declared}
    assert len(declared) == len(set(declared)), f"a check is listed twice: {declared}"
    assert named == methods, (
        f"checks defined but never run: {sorted(methods - named)}; "
        f"listed without a method: {sorted(named - methods)}"
    )


def test_a_missing_env_file_says_run_make_up_first(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SMOKE), "--env-file", str(tmp_path / ".env")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "is missing: `make up` writes it" in result.stdout, result.stdout


@pytest.mark.slow  # 8-13 s: a real install or server start-up
def test_checks_pass_against_real_stand_ins(
    env_file, tmp_path, _postgres_server, s3_server, require_server
):
    # Prometheus scraping itself, so it has one target and it is up.
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    args = [
        require_binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    # The object store: moto's S3 server with the two buckets rustfs-init creates.
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    for bucket in ("raw", "artifacts"):
        s3.create_bucket(Bucket=bucket)
    text = env_file.read_text()
    for key in ("RUSTFS_ACCESS_KEY", "RUSTFS_SECRET_KEY"):
        text = "\n".join(
            f"{key}=testing" if line.startswith(f"{key}=") else line for line in text.splitlines()
        )
    env_file.write_text(text + "\n")
    with (
        scratch_database(_postgres_server, "smoke") as url,
        serving(args, port) as prometheus,
    ):
        import psycopg

        with psycopg.connect(url, autocommit=True) as con:
            con.execute("create view stg_customers as select generate_series(1, 100) as id")
        wait_for_an_up_target(prometheus)
        urls = closed_urls() | {"postgres": url, "prometheus": prometheus, "rustfs": s3_server}
        code, by_check, lines = smoke(env_file, urls)
    assert code == 1, "the services without a stand-in still fail"
    expected_ok = {
        "postgres": "warehouse database reachable",
        "prometheus": "ready",
        "prometheus-targets": "all 1 targets up",
        "buckets": "buckets artifacts, raw exist",
        "stg-customers": "stg_customers view has 100 rows",
    }
    for name, detail in expected_ok.items():
        line = by_check[name]
        assert line.startswith("ok") and line.endswith(detail), (
            f"{name}: expected ok ... {detail!r}, got {line!r}\n" + "\n".join(lines)
        )
    assert by_check["grafana"].startswith("FAIL"), by_check["grafana"]


# --- JupyterLab's kernel, Grafana's data sources, Airflow's and JupyterLab's logs in Loki ----------


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory, _postgres_server):
    """A real Jupyter server (the venv's) whose python3 kernels see the stack's settings: the
    `stack` profile and a warehouse in PostgreSQL. Yields (base URL, token, warehouse URL)."""
    server = Path(sys.executable).with_name("jupyter-server")
    if not server.exists():
        pytest.skip(f"{server} is not installed")
    port, token = free_port(), "smoke-token"
    folder = tmp_path_factory.mktemp("jupyter")
    args = [
        str(server),
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={folder}",
        *(["--allow-root"] if os.getuid() == 0 else []),  # as root it refuses to start
    ]
    with (
        scratch_database(_postgres_server, "smoke_kernel") as warehouse,
        open(folder / "jupyter.log", "w") as log,
    ):
        env = {
            **os.environ,
            "LAB_PROFILE": "stack",
            "WAREHOUSE_URL": warehouse,
            "LAB_HOME": str(folder / "state"),
            "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
        }
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/api/status?token={token}", process, 90)
            yield f"http://127.0.0.1:{port}", token, warehouse
        finally:
            stop(process)


def smoke_of(env: dict[str, str], **urls: str):
    return CHECKS.Smoke(env, {**CHECKS.DEFAULT_URLS, **urls}, timeout=30)


def test_jupyter_kernel_check_runs_a_cell_that_imports_lab_and_reads_the_warehouse(
    jupyter_server,
):
    import psycopg

    base, token, warehouse = jupyter_server
    with psycopg.connect(warehouse, autocommit=True) as con:
        con.execute("create view public.stg_customers as select generate_series(1, 42) as id")
    try:
        detail = smoke_of({"JUPYTER_TOKEN": token}, jupyter=base).check_jupyter_kernel()
    finally:
        with psycopg.connect(warehouse, autocommit=True) as con:
            con.execute("drop view public.stg_customers")
    assert detail == (
        "a python3 kernel ran `import lab` and read the warehouse: stg_customers: 42 rows"
    ), detail


def test_jupyter_kernel_check_reports_the_cells_error(jupyter_server):
    base, token, _ = jupyter_server  # no stg_customers view in this warehouse
    with pytest.raises(CHECKS.CheckFailed) as failed:
        smoke_of({"JUPYTER_TOKEN": token}, jupyter=base).check_jupyter_kernel()
    assert str(failed.value).startswith("the kernel's cell failed: "), failed.value
    assert "stg_customers" in str(failed.value), failed.value


def test_jupyter_kernel_check_refuses_a_wrong_token(jupyter_server):
    base, _, _ = jupyter_server
    with pytest.raises(CHECKS.CheckFailed) as failed:
        smoke_of({"JUPYTER_TOKEN": "wrong"}, jupyter=base).check_jupyter_kernel()
    assert f"{base}/api/kernels: cannot start a kernel (HTTP 403" in str(failed.value)


GRAFANA_HEALTH = {
    "/api/datasources/uid/prometheus/health": (
        200,
        {"status": "OK", "message": "Successfully queried the Prometheus API."},
    ),
    "/api/datasources/uid/loki/health": (
        200,
        {"status": "OK", "message": "Data source successfully connected."},
    ),
    "/api/datasources/uid/warehouse/health": (
        200,
        {"status": "OK", "message": "Database Connection OK"},
    ),
}


def test_grafana_datasources_check_asks_each_provisioned_source_for_its_health():
    with json_server() as grafana:
        grafana.answers.update(GRAFANA_HEALTH)
        detail = smoke_of({}, grafana=grafana.url).check_grafana_datasources()
    assert detail == "data sources healthy: Prometheus, Loki, Warehouse", detail
    assert sorted(path for path, _ in grafana.seen) == sorted(GRAFANA_HEALTH)


def test_grafana_datasources_check_names_a_source_that_fails():
    with json_server() as grafana:
        grafana.answers.update(GRAFANA_HEALTH)
        grafana.answers["/api/datasources/uid/warehouse/health"] = (
            400,
            {
                "status": "ERROR",
                "message": 'pq: password authentication failed for user "warehouse"',
            },
        )
        with pytest.raises(CHECKS.CheckFailed) as failed:
            smoke_of({}, grafana=grafana.url).check_grafana_datasources()
    assert str(failed.value) == (
        f"{grafana.url}: data source health check failed: Warehouse (HTTP 400: pq: password "
        'authentication failed for user "warehouse")'
    ), failed.value


def loki_answer(services: list[str]):
    result = [{"metric": {"service_name": name}, "value": [0, "3"]} for name in services]
    return {"/loki/api/v1/query": (200, {"status": "success", "data": {"result": result}})}


def test_loki_lines_need_airflow_and_jupyterlab_not_any_one_service():
    with json_server() as loki:
        loki.answers.update(loki_answer(["rustfs", "postgres", "grafana"]))
        with pytest.raises(CHECKS.CheckFailed) as failed:
            smoke_of({}, loki=loki.url).check_loki_lines()
    assert "from Airflow (airflow-*), JupyterLab (jupyter) in the last 15 min" in str(
        failed.value
    ), failed.value
    assert "lines from: grafana, postgres, rustfs" in str(failed.value)


def test_loki_lines_pass_with_airflow_and_jupyterlab():
    with json_server() as loki:
        loki.answers.update(loki_answer(["airflow-scheduler", "jupyter", "rustfs"]))
        detail = smoke_of({}, loki=loki.url).check_loki_lines()
    assert detail == (
        "Loki holds lines Alloy shipped from 3 services, Airflow and JupyterLab among them"
    )
    query = loki.seen[0][1]["query"]
    assert 'compose_project="data-engineering-sandbox"' in query, query
