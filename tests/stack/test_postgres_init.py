"""The PostgreSQL init script, run against a throwaway cluster like the image's entrypoint does."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from stack_helpers import COMPOSE_FILE, DOCKER_DIR, require_binary

from tests.helpers import free_port, stop

SCRIPT = DOCKER_DIR / "postgres" / "init" / "10-create-databases.sh"
SERVICES = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
ROLES = {
    "AIRFLOW_DB_USER": "airflow",
    "AIRFLOW_DB_PASSWORD": 'it\'s "quoted"',
    "WAREHOUSE_DB_USER": "warehouse",
    "WAREHOUSE_DB_PASSWORD": "pa$$ word;",
}


class Cluster:
    def __init__(self, socket_dir: Path, port: int, psql: str) -> None:
        self.env = {**os.environ, "PGHOST": str(socket_dir), "PGPORT": str(port)}
        self.psql = psql

    def sql(self, query: str, user: str = "postgres", db: str = "postgres"):
        return subprocess.run(
            [self.psql, "--no-psqlrc", "-At", "-U", user, "-d", db, "-c", query],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def run_init(self, overrides: dict[str, str]) -> subprocess.CompletedProcess:
        env = {**self.env, "POSTGRES_USER": "postgres", "POSTGRES_DB": "postgres", **overrides}
        return subprocess.run(
            ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
        )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    initdb, postgres, psql = (require_binary(n) for n in ("initdb", "postgres", "psql"))
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="stack-pg-"))
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the `postgres` user of the package.
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, sockets, port = folder / "data", folder, free_port()
    process = None
    try:
        subprocess.run(
            prefix + [initdb, "-D", str(data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        process = subprocess.Popen(
            prefix
            + [
                postgres,
                "-D",
                str(data),
                "-k",
                str(sockets),
                "-p",
                str(port),
                "-c",
                "listen_addresses=",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        server = Cluster(sockets, port, psql)
        for _ in range(100):
            if server.sql("select 1").returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the throwaway PostgreSQL did not start")
        assert server.run_init(ROLES).returncode == 0
        yield server
    finally:
        if process:
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def test_init_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_postgres_runs_the_init_folder_with_the_role_settings():
    service = SERVICES["postgres"]
    assert "./docker/postgres/init:/docker-entrypoint-initdb.d:ro" in service["volumes"]
    assert set(ROLES) <= set(service["environment"]), "the init script needs these variables"


def test_init_creates_each_database_owned_by_its_own_role(cluster):
    result = cluster.sql(
        "select datname || '=' || pg_get_userbyid(datdba) from pg_database "
        "where datname in ('airflow', 'warehouse') order by 1"
    )
    assert result.stdout.split() == ["airflow=airflow", "warehouse=warehouse"], result.stderr


def test_init_gives_both_roles_a_password_and_no_superuser(cluster):
    result = cluster.sql(
        "select rolname || ':' || (rolpassword is not null) || ':' || rolsuper from pg_authid "
        "where rolname in ('airflow', 'warehouse') order by 1"
    )
    assert result.stdout.split() == ["airflow:true:false", "warehouse:true:false"], result.stderr


def test_warehouse_role_can_create_schemas_and_tables(cluster):
    result = cluster.sql(
        "create schema ops; create table ops.step_runs_probe (x int); drop schema ops cascade",
        user="warehouse",
        db="warehouse",
    )
    assert result.returncode == 0, result.stderr


def test_warehouse_role_cannot_open_the_airflow_database(cluster):
    result = cluster.sql("select 1", user="warehouse", db="airflow")
    assert result.returncode != 0
    assert "permission denied for database" in result.stderr, result.stderr


def test_init_stops_with_a_fix_when_a_variable_is_missing(cluster):
    env = {**ROLES, "WAREHOUSE_DB_PASSWORD": ""}
    result = cluster.run_init(env)
    assert result.returncode != 0
    assert "WAREHOUSE_DB_PASSWORD is not set: add it to .env (see .env.example)" in result.stderr


def test_initdb_is_found_in_debians_postgresql_folder_without_path_changes(monkeypatch):
    from stack_helpers import debian_postgresql_binary

    if debian_postgresql_binary("initdb") is None:
        pytest.skip("no Debian PostgreSQL server package in /usr/lib/postgresql/<major>/bin")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # Debian's PATH: initdb is not on it
    found = require_binary("initdb")
    assert found.startswith("/usr/lib/postgresql/") and found.endswith("/bin/initdb"), found
