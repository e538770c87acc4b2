"""Checks before `make up`: can this machine run the stack? (`lab doctor --stack`)

Each check returns `(ok, detail)`; when something is wrong, the detail says what and how to fix
it. The numbers come from the files that decide them: ports and memory limits from
docker-compose.yml (lab.cli.compose_file), the required settings from .env.example (lab.cli.dotenv_file).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
from dotenv import dotenv_values

from lab.cli.compose_file import (
    active_profiles,
    memory_limits_mib,
    mounted_folders,
    project_name,
    published_port,
    published_ports,
)
from lab.cli.dotenv_file import check_env, write_dotenv
from lab.config import get_settings

Check = tuple[bool, str]

COMPOSE_MIN = (2, 20)  # `depends_on: {required: false}` in docker-compose.yml
DISK_NEEDED_GIB = 8.0  # images (about 8 GB, docs/stack.md); data comes on top


def check_docker(docker: str | None = None, path: str | None = None) -> Check:
    """The Docker CLI is installed and its daemon answers."""
    docker = docker or shutil.which("docker", path=path)
    if not docker:
        return False, (
            "Docker not found on PATH. Fix: install Docker Engine 24+ (Linux) or Docker Desktop "
            "(macOS, Windows): https://docs.docker.com/get-docker/"
        )
    ok, out = _run([docker, "version", "--format", "{{.Server.Version}}"])
    if not ok:
        return False, (
            f"Docker is installed ({docker}) but its daemon is not running or not reachable "
            f"({_first_line(out)}). Fix: start it (`sudo systemctl start docker`, or open Docker "
            "Desktop); on Linux add yourself to the docker group (`sudo usermod -aG docker $USER`, "
            "then log in again)."
        )
    return True, f"Docker Engine {out.strip()} is running"


def check_compose(docker: str | None = None, path: str | None = None) -> Check:
    """The Compose v2 plugin (`docker compose`) is installed, version 2.20 or newer."""
    docker = docker or shutil.which("docker", path=path)
    wanted = ".".join(map(str, COMPOSE_MIN))
    fix = (
        "Fix: install the Compose plugin (Debian/Ubuntu: `sudo apt-get install "
        "docker-compose-plugin` from Docker's repository; Docker Desktop includes it): "
        "https://docs.docker.com/compose/install/linux/"
    )
    if not docker:
        return False, f"Docker Compose v2 needs Docker, which is not installed. {fix}"
    ok, out = _run([docker, "compose", "version", "--short"])
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out) if ok else None
    if not found:
        return False, f"Docker Compose v2 not found (`docker compose version` failed). {fix}"
    version = (int(found.group(1)), int(found.group(2)))
    if version < COMPOSE_MIN:
        return False, f"Docker Compose {found.group(0)} is older than {wanted}. {fix}"
    return True, f"Docker Compose {found.group(0)} (needs {wanted}+)"


def check_memory(
    compose_file: Path, env_file: Path, meminfo: Path = Path("/proc/meminfo")
) -> Check:
    """The memory limits of the services that start add up to what this machine can give."""
    limits = memory_limits_mib(compose_file, active_profiles(env_file))
    try:
        info = _meminfo(meminfo)
    except OSError:
        return True, (
            f"limits add up to {limits:,} MiB; cannot read {meminfo} (not Linux): give Docker "
            "Desktop at least 6 GB (Settings > Resources)"
        )
    available, total = info["MemAvailable"], info["MemTotal"]
    detail = f"limits add up to {limits:,} MiB; {available:,} MiB available of {total:,} MiB"
    if available < limits / 2:  # an idle stack uses about half of its limits
        return False, (
            f"{detail}: too little for the stack. Fix: close other programs, give Docker more "
            "memory (Docker Desktop: Settings > Resources), or leave COMPOSE_PROFILES empty."
        )
    if available < limits:
        return True, f"{detail}: enough to start; close heavy programs before long pipeline runs"
    return True, detail


def docker_memory_mib(docker: str | None = None) -> int | None:
    """The memory Docker's containers can use (`docker info` MemTotal: the VM's memory on Docker
    Desktop, the host's on Linux), in MiB; None when Docker does not answer."""
    docker = docker or shutil.which("docker")
    if not docker:
        return None
    ok, out = _run([docker, "info", "--format", "{{.MemTotal}}"])
    return int(out.strip()) // 2**20 if ok and out.strip().isdigit() else None


def check_docker_memory(compose_file: Path, env_file: Path, docker: str | None = None) -> Check:
    """The memory limits of the services that start, against the memory Docker has."""
    profiles = active_profiles(env_file)
    limits = memory_limits_mib(compose_file, profiles)
    have = docker_memory_mib(docker)
    if have is None:
        return True, "not checked: Docker does not answer (see the docker line)"
    shown = ",".join(sorted(profiles)) or "none"
    detail = (
        f"Docker has {have:,} MiB; the limits of the services that start (Compose profiles: "
        f"{shown}) add up to {limits:,} MiB"
    )
    if have >= limits:
        return True, f"{detail}: it fits"
    fits = _profile_that_fits(compose_file, profiles, have)
    more = -(-limits // 1024)  # GiB, rounded up
    if have >= limits / 2:  # an idle stack uses about half of its limits
        return True, (
            f"{detail}: it starts (idle it uses about half), but a long pipeline run may be "
            f"stopped for memory (exit 137). To be safe: {fits}, or give Docker {more} GB "
            "(Docker Desktop: Settings > Resources > Memory)."
        )
    return False, (
        f"{detail}: too little to start it (it needs about half, {limits // 2:,} MiB). Fix: "
        f"give Docker {more} GB (Docker Desktop: Settings > Resources > Memory), or {fits}."
    )


def _profile_that_fits(compose_file: Path, profiles: set[str], have: int) -> str:
    """A smaller way to run the sandbox than the active profiles: one whose limits fit `have`
    MiB, else one that starts in it (about half its limits), else the local profile."""
    options = [(set(), "the default profile (COMPOSE_PROFILES empty in .env)")] if profiles else []
    for share in (1, 2):
        for option, name in options:
            needed = memory_limits_mib(compose_file, option)
            if have >= needed / share:
                return f"use {name}, whose limits add up to {needed:,} MiB"
    return "use the local profile (`make lab`: DuckDB and a folder, no Docker)"


def check_disk(folder: Path, needed_gib: float = DISK_NEEDED_GIB) -> Check:
    """Free disk space for the images and the data."""
    free = shutil.disk_usage(folder).free / 2**30
    if free < needed_gib:
        return False, (
            f"{free:.1f} GiB free on {folder}, the images need about {needed_gib:.0f} GiB. Fix: "
            "free space (`docker system prune` removes unused images and build cache)."
        )
    return True, f"{free:.0f} GiB free on {folder}"


def check_ports(
    compose_file: Path, env_file: Path, host: str = "127.0.0.1", docker: str | None = None
) -> Check:
    """Every host port the stack publishes is free, or held by this stack's own containers."""
    ports = published_ports(compose_file, active_profiles(env_file))
    ours = stack_ports(compose_file, docker)
    busy = {
        port: service
        for port, service in ports.items()
        if port not in ours and not _port_free(host, port)
    }
    if busy:
        names = ", ".join(f"{port} ({service})" for port, service in sorted(busy.items()))
        return False, (
            f"port(s) in use on {host}: {names}. Fix: stop the program that holds each one "
            "(`ss -ltnp` or `lsof -i :PORT` shows it; if it is this stack, `make ps`), or change "
            'the left-hand number of that service\'s `ports:` in docker-compose.yml ("127.0.0.1:5433:5432").'
        )
    if ours:
        return (
            True,
            f"{len(ports)} ports free or already this stack's: {', '.join(map(str, sorted(ports)))}",
        )
    return True, f"{len(ports)} ports free: {', '.join(map(str, sorted(ports)))}"


_PUBLISHED = re.compile(r"(?:\d+\.\d+\.\d+\.\d+|\[?::\]?):(\d+)(?:-(\d+))?->")


def stack_ports(compose_file: Path, docker: str | None = None) -> set[int]:
    """Host ports this Compose project's running containers publish (`make up` run again)."""
    docker = docker or shutil.which("docker")
    name = project_name(compose_file)
    if not docker or not name:
        return set()
    label = f"label=com.docker.compose.project={name}"
    ok, out = _run([docker, "ps", "--filter", label, "--format", "{{.Ports}}"])
    ports = set()
    for first, last in _PUBLISHED.findall(out if ok else ""):
        ports.update(range(int(first), int(last or first) + 1))
    return ports


def check_permissions(
    root: Path, env_file: Path, compose_file: Path, uid: int | None = None
) -> Check:
    """Linux: the containers write the mounted folders as AIRFLOW_UID/NB_UID, which must be you."""
    if sys.platform != "linux" and uid is None:
        return True, "not needed here: Docker Desktop maps file ownership to your user"
    uid = os.getuid() if uid is None else uid
    if not env_file.exists():
        return False, (
            f"{env_file.name} is missing, so AIRFLOW_UID and NB_UID are unset. Fix: "
            f"`make dotenv`, then set both to your `id -u` ({uid}) in {env_file.name}."
        )
    values = dotenv_values(env_file)
    wrong = {k: values.get(k) for k in ("AIRFLOW_UID", "NB_UID") if values.get(k) != str(uid)}
    if wrong:
        shown = ", ".join(f"{k}={v}" for k, v in wrong.items())
        return False, (
            f"{shown} in {env_file.name}, but you are uid {uid} (`id -u`). Fix: "
            f'`sed -i "s/^AIRFLOW_UID=.*/AIRFLOW_UID=$(id -u)/; s/^NB_UID=.*/NB_UID=$(id -u)/" '
            f"{env_file.name}`, then `make down && make up`."
        )
    folders = mounted_folders(root, compose_file)
    locked = [str(f.relative_to(root)) for f in folders if not os.access(f, os.W_OK | os.X_OK)]
    if locked:
        return False, (
            f"not writable by uid {uid}: {', '.join(locked)}. Fix: "
            f"`sudo chown -R $(id -u):$(id -g) {' '.join(locked)}`."
        )
    return True, f"uid {uid} in {env_file.name}; {len(folders)} mounted folders writable"


def stack_checks(root: Path | None = None) -> pd.DataFrame:
    """Every check before `make up`: one row a part, `ok` and the detail (with the fix)."""

    root = root or get_settings().root
    compose, env, example = root / "docker-compose.yml", root / ".env", root / ".env.example"
    checks = {
        "docker": lambda: check_docker(),
        "docker compose": lambda: check_compose(),
        "memory": lambda: check_memory(compose, env),
        "docker memory": lambda: check_docker_memory(compose, env),
        "disk": lambda: check_disk(root),
        "ports": lambda: check_ports(compose, env),
        ".env": lambda: check_env(env, example),
        "permissions": lambda: check_permissions(root, env, compose),
    }
    rows = []
    for part, check in checks.items():
        try:
            ok, detail = check()
        except Exception as exc:  # a check reports, it never raises
            ok, detail = False, f"the check itself failed: {_first_line(str(exc))}"
        rows.append({"part": part, "ok": ok, "detail": detail})
    return pd.DataFrame(rows).set_index("part")


# --- reading the machine ----------------------------------------------------------------------


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _meminfo(path: Path) -> dict[str, int]:
    """/proc/meminfo in MiB."""
    values = {}
    for line in path.read_text().splitlines():
        key, _, rest = line.partition(":")
        values[key.strip()] = int(rest.split()[0]) // 1024
    return values


def _run(command: list[str]) -> tuple[bool, str]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return done.returncode == 0, (
        done.stdout if done.returncode == 0 else done.stderr or done.stdout
    )


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")


# --- `python -m lab.cli.doctor`: what `make dotenv` and `make up` run ---------------------------------


def quick_checks(root: Path, env_file: Path) -> list[tuple[str, bool, str]]:
    """The checks `make up` runs before Compose: Docker, Compose, .env, the host ports and the
    memory Docker has (no slow probes)."""
    compose = root / "docker-compose.yml"
    return [
        ("docker", *check_docker()),
        ("docker compose", *check_compose()),
        (".env", *check_env(env_file, root / ".env.example")),
        ("ports", *check_ports(compose, env_file)),
        ("docker memory", *check_docker_memory(compose, env_file)),
    ]


def logins(env_file: Path, compose_file: Path | None = None) -> list[str]:
    """Where to log in once the stack runs: the host ports docker-compose.yml publishes (each
    image's own port inside), with the logins from .env."""
    env = dotenv_values(env_file)
    compose_file = compose_file or env_file.parent / "docker-compose.yml"

    def url(service: str, target: int) -> str:
        return f"http://127.0.0.1:{published_port(compose_file, service, target)}"

    return [
        f"JupyterLab  {url('jupyter', 8888)}/lab?token={env.get('JUPYTER_TOKEN')}",
        f"Airflow     {url('airflow-apiserver', 8080)}  {env.get('AIRFLOW_ADMIN_USER')} / "
        f"{env.get('AIRFLOW_ADMIN_PASSWORD')}",
        f"Grafana     {url('grafana', 3000)}  {env.get('GRAFANA_ADMIN_USER')} / "
        f"{env.get('GRAFANA_ADMIN_PASSWORD')}",
        f"RustFS      {url('rustfs', 9001)}  {env.get('RUSTFS_ACCESS_KEY')} / "
        f"{env.get('RUSTFS_SECRET_KEY')}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.cli.doctor", description=__doc__)
    parser.add_argument("command", choices=["dotenv", "quick", "logins"])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository")
    parser.add_argument("--env-file", type=Path, help="default: ROOT/.env")
    args = parser.parse_args(argv)
    env_file = args.env_file or args.root / ".env"
    if args.command == "dotenv":
        _, detail = write_dotenv(env_file, args.root / ".env.example")
        print(detail)
        return 0
    if args.command == "logins":
        print("\n".join(logins(env_file, args.root / "docker-compose.yml")))
        return 0
    checks = quick_checks(args.root, env_file)
    failed = [(part, detail) for part, ok, detail in checks if not ok]
    for part, detail in failed:
        print(f"{part}: {detail}", file=sys.stderr)
    for part, ok, detail in checks:
        if ok and part == "docker memory":  # a warning when the limits exceed it: say it always
            print(f"{part}: {detail}")
    if failed:
        print(
            "Stopped before `docker compose up`; `make doctor-stack` checks more.", file=sys.stderr
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
