"""The `rustfs-init` job (`python -m lab.cli.buckets`) creates the buckets, against a real S3 API (moto's server)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from stack_helpers import COMPOSE_FILE

from tests.helpers import free_port, stop, wait_for_http

SERVICES = yaml.safe_load(COMPOSE_FILE.read_text())["services"]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = Path(sys.executable).with_name("moto_server")
    if not server.exists():
        pytest.skip("moto[server] is not installed in this environment (a dev dependency)")
    port = free_port()
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/moto-api/", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def run_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "LAB_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "lab.cli.buckets", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings(endpoint: str) -> dict[str, str]:
    return {
        "S3_ENDPOINT_URL": endpoint,
        "S3_ACCESS_KEY": "testing",
        "S3_SECRET_KEY": "testing",
        "S3_REGION": "us-east-1",
        "LAB_RAW_BUCKET": "raw",
        "LAB_ARTIFACTS_BUCKET": "artifacts",
    }


def buckets(endpoint: str) -> set[str]:
    import s3fs

    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint)
    return {entry.rstrip("/") for entry in fs.ls("", refresh=True)}


def test_bucket_init_creates_raw_and_artifacts(s3_endpoint):
    result = run_script(settings(s3_endpoint))
    assert result.returncode == 0, result.stderr
    assert {"raw", "artifacts"} <= buckets(s3_endpoint)


def test_bucket_init_succeeds_again_when_the_buckets_exist(s3_endpoint):
    run_script(settings(s3_endpoint))
    result = run_script(settings(s3_endpoint))
    assert result.returncode == 0, result.stderr
    assert "bucket already exists: 'raw'" in result.stdout, result.stdout


def test_bucket_init_names_missing_settings_and_how_to_fix_them():
    result = run_script({"S3_ENDPOINT_URL": "http://127.0.0.1:1"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "buckets: S3_ACCESS_KEY, S3_SECRET_KEY not set. Fix: define them in .env "
        "(see .env.example)."
    )


@pytest.mark.slow  # 8-13 s: a real install or server start-up
def test_bucket_init_reports_an_unreachable_object_store():
    result = run_script(settings(f"http://127.0.0.1:{free_port()}"), "--attempts", "1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert "Fix: check that the object store is running" in result.stderr, result.stderr


def test_compose_runs_the_script_with_the_bucket_names_from_env():
    service = SERVICES["rustfs-init"]
    assert service["entrypoint"] == ["python", "-m", "lab.cli.buckets"]
    env = service["environment"]
    actual = (env["LAB_RAW_BUCKET"], env["LAB_ARTIFACTS_BUCKET"], env["S3_ENDPOINT_URL"])
    assert actual == ("${LAB_RAW_BUCKET}", "${LAB_ARTIFACTS_BUCKET}", "http://rustfs:9000")


@pytest.mark.slow  # 8-13 s: a real install or server start-up
def test_bucket_init_says_what_it_waits_for_and_succeeds_when_the_store_comes_up_late():
    # The store answers only after a few seconds (as after an OOM kill and restart): the job
    # keeps trying, says what it waits for, and creates the buckets once the store is up.
    server = Path(sys.executable).with_name("moto_server")
    if not server.exists():
        pytest.skip("moto[server] is not installed in this environment (a dev dependency)")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "LAB_", "AWS_"))}
    job = subprocess.Popen(
        [sys.executable, "-m", "lab.cli.buckets", "--attempts", "60"],
        env={**clean, **settings(endpoint)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = None
    try:
        first = job.stderr.readline()  # the first failed attempt, before the store exists
        store = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        out, err = job.communicate(timeout=150)
    finally:
        job.kill()
        if store is not None:
            stop(store)
    assert first.strip() == (
        f"buckets: waiting for the object store at {endpoint} to answer S3 requests "
        "(attempt 1 of 60, 2 s apart)"
    ), first
    assert job.returncode == 0, err
    assert "created bucket 'raw'" in out and "created bucket 'artifacts'" in out, out


def test_compose_lets_the_bucket_job_wait_3_minutes_for_the_store():
    command = SERVICES["rustfs-init"]["command"]
    attempts = int(command[command.index("--attempts") + 1])
    assert attempts * 2 >= 180, f"expected >= 3 minutes of retries (2 s apart), got {command}"
