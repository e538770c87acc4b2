"""A real Airflow against the PostgreSQL server on 127.0.0.1:5432 (and Redis on 6379 for Celery).

- `airflow_metadata` (session): a database `airflow_test_<random>`, migrated once, with the
  `duckdb_writer` pool; dropped afterwards.
- `start_airflow` (session): starts an `AirflowCluster` (see airflow_cluster.py) for a module
  and stops all of its processes when that module is done.
- `redis_broker` (session): Redis database 5, flushed before and after.

Without the servers the tests skip, except under CI=true where they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from airflow_cluster import AirflowCluster, cluster_env

from lab.airflow.local import prepare_airflow_home, setup_metadata
from tests.helpers import free_port, scratch_database

REDIS_URL = "redis://127.0.0.1:6379/5"  # a database of its own, flushed by the tests
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def airflow_metadata(_postgres_server: dict, tmp_path_factory) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, migrated Airflow metadata database on the test server."""
    with scratch_database(_postgres_server, "airflow_test") as url:
        url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
        home = tmp_path_factory.mktemp("airflow-migrate")
        setup_metadata(cluster_env(home, url, "LocalExecutor", free_port()))
        yield url


@pytest.fixture(scope="session")
def redis_broker(require_server) -> Iterator[str]:
    """The Redis server's database 5 as Celery broker, empty before and after."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        require_server("Redis", False, f"no server at 127.0.0.1:6379 ({exc})")
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def start_airflow(
    airflow_metadata: str, tmp_path_factory, use_state
) -> Callable[..., AirflowCluster]:
    """`start_airflow(request, state, executor, workers=..., extra_env=...)`: a running Airflow.

    Its processes get the sandbox state's environment; they are stopped (process groups, then
    a sweep for anything left with this AIRFLOW_HOME) when the requesting module finishes.
    """

    def start(
        request: pytest.FixtureRequest,
        state,
        executor: str = "LocalExecutor",
        workers: dict[str, dict] | None = None,
        extra_env: dict | None = None,
        dag_ids: tuple[str, ...] = ("example_dag", "notebook_pipeline"),
    ) -> AirflowCluster:
        home = tmp_path_factory.mktemp(f"airflow-{executor.lower()}")
        prepare_airflow_home(home)
        port = free_port()
        env = cluster_env(
            home,
            airflow_metadata,
            executor,
            port,
            extra=extra_env,
        )
        cluster = AirflowCluster(home=home, env=env, port=port)

        def stop() -> None:
            leftovers = cluster.stop()
            assert not leftovers, f"processes were left running and had to be killed: {leftovers}"

        request.addfinalizer(stop)
        with use_state(state):
            cluster.start("api-server", "api-server")
            # Task logs are read from AIRFLOW_HOME/logs on this machine: no log server (it
            # would listen on every interface, which Airflow 3.3 does not let us change).
            cluster.start("scheduler", "scheduler", "--skip-serve-logs")
            cluster.start("dag-processor", "dag-processor")
            for name, worker_env in (workers or {}).items():
                cluster.start(
                    name,
                    "celery",
                    "worker",
                    "--concurrency",
                    "1",
                    "--celery-hostname",
                    name,
                    "--skip-serve-logs",
                    extra_env=worker_env,
                )
        cluster.wait_until_ready(("metadatabase", "scheduler", "dag_processor"), dag_ids)
        return cluster

    return start
