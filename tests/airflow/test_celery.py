"""Scale-out: the CeleryExecutor with Redis as broker, PostgreSQL as result backend, and two
one-slot workers; and the compose `celery` profile configured the same way."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from airflow_cluster import HERE, REPO_ROOT

pytestmark = pytest.mark.slow
WORKERS = ("worker1", "worker2")


def celery_settings(broker: str, metadata_url: str) -> dict[str, str]:
    """The Celery part of the test Airflow's configuration."""
    result_backend = "db+" + metadata_url.replace("postgresql+psycopg2://", "postgresql://")
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
    }


@pytest.fixture(scope="module")
def celery_airflow(request, start_airflow, prepared_state, redis_broker, airflow_metadata):
    worker_env = {
        name: {
            "LAB_TEST_WORKER_NAME": name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_identity.hostname",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        }
        for name in WORKERS
    }
    cluster = start_airflow(
        request,
        prepared_state,
        executor="CeleryExecutor",
        workers=worker_env,
        extra_env=celery_settings(redis_broker, airflow_metadata),
        dag_ids=("celery_fanout",),
    )
    cluster.wait_for_log(WORKERS, "ready.")
    return cluster


def test_celery_workers_share_a_run_and_each_task_records_its_worker(celery_airflow):
    client = celery_airflow.client()
    client.unpause("celery_fanout")
    run = client.trigger("celery_fanout")
    done = client.wait("celery_fanout", run["dag_run_id"], timeout=180, poll=0.5)
    tis = client.task_instances("celery_fanout", run["dag_run_id"])
    placed = {ti["task_id"]: (ti["state"], ti["hostname"]) for ti in tis}
    assert done["state"] == "success", f"celery_fanout ended {done['state']}: {placed}"
    hosts = {host for _, host in placed.values()}
    assert hosts == set(WORKERS), (
        f"expected the tasks on both workers {WORKERS}, got {placed}. A worker that never "
        f"starts shows in its log:\n{celery_airflow.logs()}"
    )


def test_compose_celery_profile_matches_the_tested_setup():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    env = services["airflow-scheduler"]["environment"]
    tested = celery_settings("redis://127.0.0.1:6379/5", "postgresql+psycopg2://u@h:5432/airflow")
    for key in ("AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND"):
        assert urlparse(env[key]).scheme == urlparse(tested[key]).scheme, (
            f"docker-compose.yml sets {key}={env[key]!r}; the tested setup uses the scheme of "
            f"{tested[key]!r}. Fix: keep them alike (Redis broker, PostgreSQL result backend)."
        )
    assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR}", env["AIRFLOW__CORE__EXECUTOR"]
    for name in ("airflow-worker", "redis"):
        assert services[name].get("profiles") == ["celery"], (
            f"service {name} must be in the celery profile, has {services[name].get('profiles')}"
        )
    worker = services["airflow-worker"]
    assert str(worker["command"]).startswith("celery worker"), worker["command"]
    assert (
        worker["environment"]["AIRFLOW__CELERY__BROKER_URL"] == env["AIRFLOW__CELERY__BROKER_URL"]
    )
    assert "redis" in str(worker.get("depends_on", {})), "the worker must wait for redis"
    doc = (REPO_ROOT / "docs" / "stack.md").read_text()
    assert "AIRFLOW_EXECUTOR=CeleryExecutor" in doc and "COMPOSE_PROFILES=celery" in doc, (
        "docs/stack.md must say how to switch to the CeleryExecutor"
    )
    example = Path(REPO_ROOT / ".env.example").read_text()
    assert "AIRFLOW_EXECUTOR=" in example, ".env.example must declare AIRFLOW_EXECUTOR"
