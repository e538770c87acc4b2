"""lab.cli.doctor, lab.cli.compose_file and lab.cli.dotenv_file: the checks before `make up`.

Each check runs with real inputs (files, sockets, programs).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from lab.cli import compose_file, doctor, dotenv_file, main
from tests import helpers

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"

SMALL_COMPOSE = """
services:
  db:
    image: postgres:17
    ports: ["127.0.0.1:{port}:5432"]
    volumes: ["./data:/var/lib/data"]
    deploy: {{resources: {{limits: {{memory: 512M}}}}}}
  web:
    image: nginx:1
    ports: [{{target: 80, published: "{web_port}", host_ip: 127.0.0.1}}]
    deploy: {{resources: {{limits: {{memory: 1G}}}}}}
  worker:
    image: worker:1
    profiles: ["celery"]
    ports: ["127.0.0.1:5555:5555"]
    deploy: {{resources: {{limits: {{memory: 256M}}}}}}
"""


def fake_docker(folder: Path, script: str) -> str:
    """An executable `docker` that runs the given shell lines (stands in for the real CLI)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "docker"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def write_compose(tmp_path: Path, port: int = 15432, web_port: int = 18080) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(SMALL_COMPOSE.format(port=port, web_port=web_port))
    return path


def meminfo(tmp_path: Path, available_mib: int, total_mib: int = 16384) -> Path:
    path = tmp_path / "meminfo"
    path.write_text(
        f"MemTotal:       {total_mib * 1024} kB\n"
        f"MemFree:        1024 kB\n"
        f"MemAvailable:   {available_mib * 1024} kB\n"
    )
    return path


# --- Docker and Compose ----------------------------------------------------------------------


def test_docker_on_this_machine_is_reported_with_the_fix_when_absent_or_stopped():
    ok, detail = doctor.check_docker()
    if ok:
        pytest.skip(f"a Docker daemon runs here: {detail}")
    if shutil.which("docker") is None:
        assert detail.startswith("Docker not found on PATH. Fix: install Docker"), detail
    else:
        assert "daemon is not running" in detail and "Fix: start it" in detail, detail


def test_docker_missing_from_path_says_not_found_and_how_to_install(tmp_path):
    ok, detail = doctor.check_docker(path=str(tmp_path))
    assert (ok, detail.split(".")[0]) == (False, "Docker not found on PATH"), detail
    assert "https://docs.docker.com/get-docker/" in detail


def test_docker_without_a_daemon_says_daemon_not_running(tmp_path):
    docker = fake_docker(
        tmp_path,
        "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?' >&2; exit 1",
    )
    ok, detail = doctor.check_docker(docker)
    assert not ok
    assert "daemon is not running" in detail, detail
    assert "Cannot connect to the Docker daemon" in detail, detail
    assert "sudo systemctl start docker" in detail, detail


def test_docker_with_a_daemon_reports_its_version(tmp_path):
    ok, detail = doctor.check_docker(fake_docker(tmp_path, "echo 28.2.2"))
    assert (ok, detail) == (True, "Docker Engine 28.2.2 is running")


@pytest.mark.parametrize(
    ("answer", "expected_ok", "expected_start"),
    [
        ("echo v2.29.1", True, "Docker Compose 2.29.1 (needs 2.20+)"),
        ("echo 2.20.0", True, "Docker Compose 2.20.0 (needs 2.20+)"),
        ("echo 2.19.1", False, "Docker Compose 2.19.1 is older than 2.20. Fix:"),
        (
            "echo \"docker: 'compose' is not a docker command.\" >&2; exit 1",
            False,
            "Docker Compose v2 not found (`docker compose version` failed). Fix:",
        ),
    ],
)
def test_compose_version_is_checked_against_2_20(tmp_path, answer, expected_ok, expected_start):
    ok, detail = doctor.check_compose(fake_docker(tmp_path, answer))
    assert ok == expected_ok, detail
    assert detail.startswith(expected_start), f"expected {expected_start!r}..., got {detail!r}"


def test_compose_without_docker_says_docker_is_needed(tmp_path):
    ok, detail = doctor.check_compose(path=str(tmp_path))
    assert not ok and "Docker, which is not installed" in detail, detail


# --- memory and disk --------------------------------------------------------------------------


def test_memory_limits_of_the_real_compose_file_match_docs_stack_md():
    default = compose_file.memory_limits_mib(COMPOSE)
    celery = compose_file.memory_limits_mib(COMPOSE, {"celery"})
    docs = (REPO / "docs" / "stack.md").read_text()
    assert f"**{default:,} MiB**" in docs and f"**{celery:,} MiB**" in docs, (default, celery)


def test_memory_sums_only_the_services_of_the_active_profiles(tmp_path):
    compose = write_compose(tmp_path)
    assert compose_file.memory_limits_mib(compose) == 512 + 1024
    assert compose_file.memory_limits_mib(compose, {"celery"}) == 512 + 1024 + 256


@pytest.mark.parametrize(
    ("available", "expected_ok", "expected_phrase"),
    [
        (4096, True, "limits add up to 1,536 MiB; 4,096 MiB available of 16,384 MiB"),
        (1000, True, "enough to start; close heavy programs"),
        (500, False, "too little for the stack. Fix: close other programs"),
    ],
)
def test_memory_compares_the_limits_with_memavailable(
    tmp_path, available, expected_ok, expected_phrase
):
    ok, detail = doctor.check_memory(
        write_compose(tmp_path), tmp_path / ".env", meminfo(tmp_path, available)
    )
    assert ok == expected_ok, detail
    assert expected_phrase in detail, detail


def test_memory_counts_the_profiles_named_in_env(tmp_path):
    env = tmp_path / ".env"
    env.write_text("COMPOSE_PROFILES=celery\n")
    ok, detail = doctor.check_memory(write_compose(tmp_path), env, meminfo(tmp_path, 4096))
    assert "limits add up to 1,792 MiB" in detail, detail


def test_memory_without_proc_meminfo_points_at_docker_desktop(tmp_path):
    ok, detail = doctor.check_memory(write_compose(tmp_path), tmp_path / ".env", tmp_path / "none")
    assert ok and "Docker Desktop at least 6 GB" in detail, detail


def test_disk_reports_free_space_and_fails_below_the_need(tmp_path):
    free_gib = shutil.disk_usage(tmp_path).free / 2**30
    ok, detail = doctor.check_disk(tmp_path)
    assert ok == (free_gib >= doctor.DISK_NEEDED_GIB), detail
    ok, detail = doctor.check_disk(tmp_path, needed_gib=free_gib * 100)
    assert not ok and "Fix: free space (`docker system prune`" in detail, detail


# --- ports ------------------------------------------------------------------------------------


def test_ports_are_read_from_the_real_compose_file():
    ports = compose_file.published_ports(COMPOSE)
    expected = {8888, 8080, 9000, 9001, 3000, 9090, 9091, 3100, 5432}
    assert expected <= set(ports), f"expected {sorted(expected)} in {sorted(ports)}"
    assert 5555 not in ports, "flower (port 5555) only starts with the celery profile"
    assert 5555 in compose_file.published_ports(COMPOSE, {"celery"})


def test_a_port_held_by_a_listening_socket_is_reported_with_its_service(tmp_path, free_port):
    compose = write_compose(tmp_path, port=free_port, web_port=helpers.free_port())
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port))
        listener.listen()
        ok, detail = doctor.check_ports(compose, tmp_path / ".env")
    assert not ok
    assert f"port(s) in use on 127.0.0.1: {free_port} (db). Fix: stop the program" in detail, detail
    ok, detail = doctor.check_ports(compose, tmp_path / ".env")
    assert ok, f"expected the port free once the socket closed: {detail}"
    assert detail.startswith("2 ports free"), detail


# --- .env and permissions ---------------------------------------------------------------------


def test_missing_env_says_make_dotenv(tmp_path):
    ok, detail = dotenv_file.check_env(tmp_path / ".env", ENV_EXAMPLE)
    expected = ".env is missing. Fix: `make dotenv` writes it from .env.example with freshly "
    assert (ok, detail.startswith(expected)) == (False, True), detail


def generated_env(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = tmp_path / ".env"
    ok, detail = dotenv_file.write_dotenv(env, ENV_EXAMPLE)
    assert ok and detail.startswith("wrote .env from .env.example with 9 fresh secrets"), detail
    return env


def test_a_generated_env_is_complete(tmp_path):
    ok, detail = dotenv_file.check_env(generated_env(tmp_path), ENV_EXAMPLE)
    assert ok and detail.startswith(".env defines all "), detail


def test_env_example_ships_no_usable_secret():
    values = dotenv_values(ENV_EXAMPLE, interpolate=True)
    secret = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET")
    shipped = {
        key: value
        for key, value in values.items()
        if secret.search(key)
        and key != "AIRFLOW_ADMIN_PASSWORD"
        and value != dotenv_file.PLACEHOLDER
    }
    assert not shipped, f"expected {dotenv_file.PLACEHOLDER!r} for every secret; shipped: {shipped}"


def test_dotenv_generates_fresh_valid_secrets_readable_by_you_only(tmp_path):
    first = dotenv_values(generated_env(tmp_path / "a"), interpolate=True)
    second = dotenv_values(generated_env(tmp_path / "b"), interpolate=True)
    placeholders = [key for key, value in first.items() if value == dotenv_file.PLACEHOLDER]
    assert not placeholders, f"expected every placeholder replaced; left: {placeholders}"
    from cryptography.fernet import Fernet

    Fernet(first["AIRFLOW_FERNET_KEY"])  # raises ValueError when it is no Fernet key
    for key in ("AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"):
        assert re.fullmatch(r"[0-9a-f]{64}", first[key]), f"{key}: expected 64 hex digits"
    for key in ("POSTGRES_PASSWORD", "WAREHOUSE_DB_PASSWORD", "JUPYTER_TOKEN"):
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", first[key]), f"{key}={first[key]!r}"
        assert first[key] != second[key], f"{key}: expected a new value each time"
    assert first["WAREHOUSE_URL"] == (
        f"postgresql://warehouse:{first['WAREHOUSE_DB_PASSWORD']}@postgres:5432/warehouse"
    )
    mode = stat.S_IMODE((tmp_path / "a" / ".env").stat().st_mode)
    assert mode == 0o600, f"expected .env mode 0o600, got {oct(mode)}"


def test_dotenv_never_overwrites_an_existing_env(tmp_path):
    env = tmp_path / ".env"
    env.write_text("MINE=1\n")
    ok, detail = dotenv_file.write_dotenv(env, ENV_EXAMPLE)
    assert (ok, env.read_text()) == (True, "MINE=1\n"), detail
    assert detail.startswith(".env exists; kept as it is"), detail


def test_a_copy_of_env_example_is_refused_for_its_placeholders(tmp_path):
    env = tmp_path / ".env"
    shutil.copy(ENV_EXAMPLE, env)
    ok, detail = dotenv_file.check_env(env, ENV_EXAMPLE)
    assert not ok
    assert detail.startswith(".env keeps the example value of POSTGRES_PASSWORD, "), detail
    assert "AIRFLOW_FERNET_KEY" in detail and "make dotenv" in detail, detail


@pytest.mark.parametrize("key", sorted(dotenv_file.RETIRED_SECRETS))
def test_secrets_an_earlier_example_shipped_are_refused(tmp_path, key):
    env = generated_env(tmp_path)
    text = re.sub(
        rf"^{key}=.*$", f"{key}={dotenv_file.RETIRED_SECRETS[key]}", env.read_text(), flags=re.M
    )
    env.write_text(text)
    ok, detail = dotenv_file.check_env(env, ENV_EXAMPLE)
    assert (ok, detail.split(", which")[0]) == (False, f".env keeps the example value of {key}")
    # Only the key changes: regenerating the whole .env would break a stack that has data.
    assert "give each a fresh value" in detail and "make dotenv" not in detail, detail


def test_a_fernet_key_that_is_not_one_is_refused(tmp_path):
    env = generated_env(tmp_path)
    text = re.sub(
        r"^AIRFLOW_FERNET_KEY=.*$", "AIRFLOW_FERNET_KEY=not-a-key", env.read_text(), flags=re.M
    )
    env.write_text(text)
    ok, detail = dotenv_file.check_env(env, ENV_EXAMPLE)
    assert not ok and detail.startswith("AIRFLOW_FERNET_KEY='not-a-key' in .env is not a Fernet"), (
        detail
    )


def test_env_missing_keys_are_named(tmp_path):
    env = generated_env(tmp_path)
    lines = env.read_text().splitlines()
    env.write_text(
        "\n".join(ln for ln in lines if not ln.startswith(("LOKI_URL=", "JUPYTER_TOKEN=")))
    )
    ok, detail = dotenv_file.check_env(env, ENV_EXAMPLE)
    assert not ok
    assert detail.startswith(".env lacks LOKI_URL, JUPYTER_TOKEN. Fix: copy those lines"), detail


def test_env_empty_values_are_named_but_compose_profiles_may_be_empty(tmp_path):
    env = generated_env(tmp_path)
    env.write_text(re.sub(r"^JUPYTER_TOKEN=.*$", "JUPYTER_TOKEN=", env.read_text(), flags=re.M))
    ok, detail = dotenv_file.check_env(env, ENV_EXAMPLE)
    assert (ok, detail.split(". Fix")[0]) == (False, ".env leaves JUPYTER_TOKEN empty"), detail


# --- make dotenv and make up ------------------------------------------------------------------


def run_make(target: str, env_file: Path, path: str) -> subprocess.CompletedProcess[str]:
    """`make TARGET` in the repository with this PATH, .env at env_file; `make` found first."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("`make` is not installed")
    environ = {**os.environ, "PATH": path}
    return subprocess.run(
        # -o: never re-sync the venv here (this PATH may lack uv); the tests run inside it.
        [make, "--no-print-directory", "-C", str(REPO), "-o", ".venv/.synced", target]
        + [f"ENV_FILE={env_file}"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )


def test_make_dotenv_writes_env_once(tmp_path):
    env = tmp_path / ".env"
    first = run_make("dotenv", env, os.environ["PATH"])
    assert first.returncode == 0, first.stderr
    assert "fresh secrets" in first.stdout, first.stdout
    text = env.read_text()
    second = run_make("dotenv", env, os.environ["PATH"])
    assert second.returncode == 0 and "kept as it is" in second.stdout, second.stdout
    assert env.read_text() == text, "make dotenv changed an existing .env"


def test_make_up_without_docker_stops_with_the_doctors_sentence(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_make("up", tmp_path / ".env", str(empty))
    assert result.returncode != 0, result.stdout
    assert "docker: Docker not found on PATH. Fix: install Docker" in result.stderr, result.stderr
    assert "Stopped before `docker compose up`" in result.stderr, result.stderr
    assert "compose" not in result.stdout.replace("docker compose up`", ""), result.stdout
    assert (tmp_path / ".env").exists(), "make up should have written .env first"


def test_make_up_with_a_stopped_docker_daemon_stops_with_the_doctors_sentence(tmp_path):
    folder = tmp_path / "bin"
    marker = tmp_path / "compose-ran"
    fake_docker(
        folder,
        f'case "$1" in compose) touch {marker}; echo v2.29.1;; *) echo "Cannot connect to the '
        'Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; '
        "exit 1;; esac",
    )
    result = run_make("up", tmp_path / ".env", str(folder))
    assert result.returncode != 0, result.stdout
    assert "docker: Docker is installed" in result.stderr, result.stderr
    assert "daemon is not running" in result.stderr, result.stderr
    assert "docker compose:" not in result.stderr, "expected the compose check to pass"
    assert "up -d" not in result.stdout, f"expected no `compose up`; stdout {result.stdout!r}"


def project(tmp_path: Path, uid: int) -> tuple[Path, Path, Path]:
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    compose = write_compose(root)
    env = root / ".env"
    env.write_text(f"AIRFLOW_UID={uid}\nNB_UID={uid}\nNB_GID=100\n")
    return root, env, compose


def test_permissions_ok_when_the_uids_are_yours_and_folders_writable(tmp_path):
    root, env, compose = project(tmp_path, os.getuid())
    ok, detail = doctor.check_permissions(root, env, compose, uid=os.getuid())
    assert ok, detail
    assert detail == f"uid {os.getuid()} in .env; 1 mounted folders writable"


def test_permissions_name_the_uids_that_are_not_yours(tmp_path):
    root, env, compose = project(tmp_path, 4242)
    ok, detail = doctor.check_permissions(root, env, compose, uid=1000)
    assert not ok
    assert detail.startswith("AIRFLOW_UID=4242, NB_UID=4242 in .env, but you are uid 1000"), detail
    assert "sed -i" in detail and "make down && make up" in detail


@pytest.mark.skipif(os.getuid() == 0, reason="root may write any folder")
def test_permissions_name_folders_you_cannot_write(tmp_path):
    root, env, compose = project(tmp_path, os.getuid())
    (root / "data").chmod(0o500)
    try:
        ok, detail = doctor.check_permissions(root, env, compose, uid=os.getuid())
    finally:
        (root / "data").chmod(0o700)
    assert not ok and "not writable by uid" in detail and "data" in detail, detail


def test_permissions_need_env_first(tmp_path):
    ok, detail = doctor.check_permissions(tmp_path, tmp_path / ".env", COMPOSE, uid=1000)
    assert not ok and detail.startswith(".env is missing, so AIRFLOW_UID and NB_UID"), detail


def test_mounted_folders_of_the_real_compose_file():
    names = {p.name for p in compose_file.mounted_folders(REPO, COMPOSE)}
    expected = {"notebooks", "exercises", "dbt", "great_expectations", "dags"}
    assert expected <= names, f"expected {sorted(expected)} among {sorted(names)}"


# --- the command ------------------------------------------------------------------------------

STACK_PARTS = [
    "docker",
    "docker compose",
    "memory",
    "docker memory",
    "disk",
    "ports",
    ".env",
    "permissions",
]
# `lab doctor --stack` prints one line a part: "ok " or "FIX", the part, its detail.
MISSING_ENV = "FIX  .env            .env is missing. Fix: `make dotenv` writes it"


def test_stack_checks_give_one_row_a_part():
    table = doctor.stack_checks(REPO)
    assert list(table.index) == STACK_PARTS
    failed = table[~table["ok"]]
    assert all("Fix:" in d for d in failed["detail"]), failed.to_dict()


def project_without_env(tmp_path: Path) -> Path:
    """A project root with the real docker-compose.yml and .env.example but no `.env`."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(COMPOSE, root / COMPOSE.name)
    shutil.copy(ENV_EXAMPLE, root / ENV_EXAMPLE.name)
    return root


def test_lab_doctor_stack_prints_the_table_and_exits_1_on_problems(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAB_ROOT", str(project_without_env(tmp_path)))
    code = main(["doctor", "--stack"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    parts = [line[5:].split("  ")[0] for line in lines]  # "docker compose" has one space
    assert parts == STACK_PARTS, out
    assert lines[STACK_PARTS.index(".env")].startswith(MISSING_ENV), out
    assert code == 1, f"expected exit 1 with .env missing, got {code}:\n{out}"


def test_lab_doctor_stack_runs_from_the_command_line(tmp_path):
    lab = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "lab"
    if not lab.exists():
        pytest.skip(f"{lab} is not installed")
    result = subprocess.run(
        [str(lab), "doctor", "--stack"],
        capture_output=True,
        text=True,
        env={**os.environ, "LAB_ROOT": str(project_without_env(tmp_path))},
    )
    assert result.returncode == 1, f"expected exit 1 with .env missing: {result}"
    assert MISSING_ENV in result.stdout, result.stdout


def test_logins_show_the_ports_the_compose_file_publishes(tmp_path):
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    compose["services"]["jupyter"]["ports"] = ["127.0.0.1:18888:8888"]
    compose["services"]["grafana"]["ports"] = [{"target": 3000, "published": 13000}]
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    (tmp_path / ".env").write_text("JUPYTER_TOKEN=t0k\nGRAFANA_ADMIN_USER=g\n")
    lines = doctor.logins(tmp_path / ".env")
    assert lines[0] == "JupyterLab  http://127.0.0.1:18888/lab?token=t0k", lines
    assert lines[2].startswith("Grafana     http://127.0.0.1:13000  g / "), lines
    assert "http://127.0.0.1:8080 " in lines[1] and "http://127.0.0.1:9001 " in lines[3], lines


# --- make up's preflight: host ports and the memory Docker has --------------------------------


def real_docker_memory() -> tuple[str, int] | None:
    """The Docker CLI and MemTotal of a daemon that answers here, if there is one."""
    docker = shutil.which("docker")
    mib = doctor.docker_memory_mib(docker) if docker else None
    return (docker, mib) if mib else None


@pytest.fixture
def docker_memory(tmp_path) -> tuple[str, int]:
    """(docker CLI, MiB): the real daemon's `docker info` when one runs; else a stand-in answering
    what Docker Desktop gives on an 8 GB laptop (6 GiB), since no daemon runs here."""
    real = real_docker_memory()
    if real:
        return real
    return fake_docker(tmp_path / "bin", f"echo {6 * 2**30}"), 6 * 1024


def compose_with_limits(tmp_path: Path, default_mib: int, celery_mib: int) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(
        "name: sandbox-test\nservices:\n"
        f"  db: {{image: postgres:17, deploy: {{resources: {{limits: {{memory: {default_mib}M}}}}}}}}\n"
        f"  worker: {{image: w:1, profiles: [celery], deploy: {{resources: {{limits: {{memory: "
        f"{celery_mib}M}}}}}}}}\n"
    )
    return path


def test_docker_memory_is_what_docker_info_reports(docker_memory):
    docker, mib = docker_memory
    assert doctor.docker_memory_mib(docker) == mib


def test_docker_memory_that_holds_every_limit_fits(tmp_path, docker_memory):
    docker, mib = docker_memory
    compose = compose_with_limits(tmp_path, mib // 2, mib // 4)
    ok, detail = doctor.check_docker_memory(compose, tmp_path / ".env", docker)
    assert ok and detail.endswith(f"add up to {mib // 2:,} MiB: it fits"), detail
    assert detail.startswith(f"Docker has {mib:,} MiB; "), detail


def test_docker_memory_below_the_limits_warns_and_names_the_profile_that_fits(
    tmp_path, docker_memory
):
    docker, mib = docker_memory
    # default profile fits, default + celery does not (but starts): say to drop celery
    default, celery = mib * 3 // 4, mib // 2
    env = tmp_path / ".env"
    env.write_text("COMPOSE_PROFILES=celery\n")
    compose = compose_with_limits(tmp_path, default, celery)
    ok, detail = doctor.check_docker_memory(compose, env, docker)
    assert ok, detail
    assert f"(Compose profiles: celery) add up to {default + celery:,} MiB: it starts" in detail
    assert (
        f"To be safe: use the default profile (COMPOSE_PROFILES empty in .env), whose limits add "
        f"up to {default:,} MiB" in detail
    ), detail


def test_docker_memory_under_half_the_limits_stops_and_points_to_the_local_profile(
    tmp_path, docker_memory
):
    docker, mib = docker_memory
    compose = compose_with_limits(tmp_path, mib * 3, mib)
    ok, detail = doctor.check_docker_memory(compose, tmp_path / ".env", docker)
    assert not ok, detail
    gib = -(-(mib * 3) // 1024)
    assert (
        f"too little to start it (it needs about half, {mib * 3 // 2:,} MiB). Fix: give Docker {gib} GB"
        in detail
    )
    assert detail.endswith(
        "or use the local profile (`make lab`: DuckDB and a folder, no Docker)."
    ), detail


def test_docker_memory_is_not_judged_without_a_daemon(tmp_path):
    ok, detail = doctor.check_docker_memory(
        COMPOSE, tmp_path / ".env", docker=str(tmp_path / "none")
    )
    assert ok and detail.startswith("not checked: Docker does not answer"), detail


def test_the_real_stack_fits_what_docker_desktop_gives_an_8gb_laptop(tmp_path):
    # 6 GiB: enough to start the default profile; the celery profile is pointed to the default.
    docker = fake_docker(tmp_path / "bin", f"echo {6 * 2**30}")
    env = tmp_path / ".env"
    env.write_text("COMPOSE_PROFILES=celery\n")
    ok, detail = doctor.check_docker_memory(COMPOSE, env, docker)
    default = compose_file.memory_limits_mib(COMPOSE)
    assert ok and "it starts" in detail, detail
    assert (
        f"use the default profile (COMPOSE_PROFILES empty in .env), whose limits add up to {default:,} MiB"
        in detail
    )


def test_ports_of_this_stacks_running_containers_are_not_reported_busy(tmp_path, free_port):
    # `make up` again on a running stack: its own containers hold the ports (docker ps says so).
    compose = write_compose(tmp_path, port=free_port, web_port=helpers.free_port())
    text = compose.read_text()
    compose.write_text("name: sandbox-test\n" + text)
    docker = fake_docker(
        tmp_path / "bin",
        f'[ "$1" = ps ] && echo "127.0.0.1:{free_port}->5432/tcp, 127.0.0.1:9000-9001->9000-9001/tcp"',
    )
    assert doctor.stack_ports(compose, docker) == {free_port, 9000, 9001}
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port))
        listener.listen()
        ok, detail = doctor.check_ports(compose, tmp_path / ".env", docker=docker)
        assert ok and "ports free or already this stack's" in detail, detail
        ok, detail = doctor.check_ports(compose, tmp_path / ".env", docker=str(tmp_path / "none"))
        assert not ok and f"{free_port} (db)" in detail, detail


def test_make_up_stops_before_compose_when_a_published_port_is_taken(tmp_path):
    # A test server holds Loki's host port; make up must name it and the fix, and not start.
    port = compose_file.published_port(COMPOSE, "loki", 3100)
    with socket.socket() as listener:
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            pytest.skip(f"port {port} is already taken on this machine")
        listener.listen()
        empty = tmp_path / "bin"
        empty.mkdir()
        result = run_make("up", tmp_path / ".env", str(empty))
    assert result.returncode != 0, result.stdout
    line = next((ln for ln in result.stderr.splitlines() if ln.startswith("ports: ")), "")
    assert f"{port} (loki)" in line and "Fix: stop the program that holds each one" in line, (
        result.stderr
    )
    assert "Stopped before `docker compose up`" in result.stderr, result.stderr
