"""What docker-compose.yml declares, read as YAML (Docker is not needed).

The services a set of Compose profiles starts, their memory limits, published ports and
bind-mounted folders; `active_profiles` reads which profiles are on from `.env`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgKMG]?)[bB]?$")
_MIB = {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024}


def _services(compose_file: Path, profiles: set[str] | None) -> dict[str, dict[str, Any]]:
    """The services that start with these Compose profiles (None: every service)."""
    import yaml

    services = yaml.safe_load(compose_file.read_text())["services"]
    return {
        name: spec
        for name, spec in services.items()
        if profiles is None or not spec.get("profiles") or set(spec["profiles"]) & profiles
    }


def project_name(compose_file: Path) -> str | None:
    """The Compose project name (`name:` at the top), which labels every container it starts."""
    import yaml

    return yaml.safe_load(compose_file.read_text()).get("name")


def active_profiles(env_file: Path) -> set[str]:
    """COMPOSE_PROFILES from `.env` (empty: the default services only)."""
    value = (dotenv_values(env_file).get("COMPOSE_PROFILES") if env_file.exists() else "") or ""
    return {p.strip() for p in value.split(",") if p.strip()}


def memory_limits_mib(compose_file: Path, profiles: set[str] = frozenset()) -> int:
    """The sum of the services' memory limits, in MiB."""
    total = 0.0
    for spec in _services(compose_file, set(profiles)).values():
        limit = spec.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory")
        found = _MEMORY.match(str(limit or "").strip())
        if found:
            total += float(found.group(1)) * _MIB[found.group(2).lower()]
    return round(total)


def published_ports(compose_file: Path, profiles: set[str] = frozenset()) -> dict[int, str]:
    """Host port -> service, for every `ports:` entry ("127.0.0.1:5432:5432" or a mapping)."""
    ports = {}
    for name, spec in _services(compose_file, set(profiles)).items():
        for entry in spec.get("ports") or []:
            if isinstance(entry, dict):
                host = entry.get("published")
            else:
                parts = str(entry).split(":")
                host = parts[-2] if len(parts) >= 2 else None
            if host:
                ports[int(host)] = name
    return ports


def published_port(compose_file: Path, service: str, target: int) -> int | None:
    """The host port a service publishes its container port `target` on (None: not published)."""
    for entry in _services(compose_file, set()).get(service, {}).get("ports") or []:
        if isinstance(entry, dict):
            if int(entry.get("target", 0)) == target and entry.get("published"):
                return int(entry["published"])
            continue
        parts = str(entry).split(":")
        if len(parts) >= 2 and int(parts[-1].split("/")[0]) == target:
            return int(parts[-2])
    return None


def mounted_folders(root: Path, compose_file: Path) -> list[Path]:
    """The repository folders the services bind-mount (`./notebooks:...`), that exist."""
    folders = set()
    for spec in _services(compose_file, None).values():
        for volume in spec.get("volumes") or []:
            source = volume.get("source", "") if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith("./") and (root / source).is_dir():
                folders.add((root / source).resolve())
    return sorted(folders)
