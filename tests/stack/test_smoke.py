"""`make smoke` (docker/smoke.py) without Docker: with no stack every check fails and names its
service; against real stand-ins (Prometheus, moto's S3 server, PostgreSQL) those checks pass.
What only a machine with Docker can prove: `make up && make smoke` (.github/workflows/stack.yml).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import urllib.request
from types import ModuleType

import boto3
import pytest
from stack_helpers import REPO, require_binary

from lab.dotenv_file import write_dotenv
from tests.helpers import free_port, scratch_database, serving

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
