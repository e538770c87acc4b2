"""Paths and helpers shared by the stack tests (imported by conftest.py and the test modules).

A test that needs a binary skips when it is missing, except in CI (CI=true), where a missing
binary is a failure: CI must prove the configuration, not skip it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port, serving

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKER_DIR = REPO / "docker"
DASHBOARDS_DIR = DOCKER_DIR / "grafana" / "dashboards"
DATASOURCES_FILE = DOCKER_DIR / "grafana" / "provisioning" / "datasources" / "datasources.yml"
PROMETHEUS_DIR = DOCKER_DIR / "prometheus"
STACK_DOC = REPO / "docs" / "stack.md"

# Where the apt packages that provide the binaries come from (Debian names).
APT_PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "initdb": "postgresql",
    "postgres": "postgresql",
    "psql": "postgresql-client",
    "docker": "docker.io (with the compose v2 plugin)",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_binary(name: str) -> str:
    """The path of `name`; skip the test when it is missing, fail instead when CI=true."""
    found = shutil.which(name) or debian_postgresql_binary(name)
    if found:
        return found
    reason = (
        f"`{name}` is not installed (Debian package: {APT_PACKAGES.get(name, name)}); "
        ".ci/run installs it"
    )
    if in_ci():
        pytest.fail(f"CI=true but {reason}. Install it before running the tests.")
    pytest.skip(reason)


def debian_postgresql_binary(name: str) -> str | None:
    """Debian keeps PostgreSQL's server programs off PATH, in /usr/lib/postgresql/<major>/bin."""
    folders = [f for f in Path("/usr/lib/postgresql").glob("*/bin") if f.parent.name.isdigit()]
    for folder in sorted(folders, key=lambda f: int(f.parent.name), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return None


def dashboard_queries(datasource_type: str) -> list[tuple[str, str]]:
    """("<dashboard>: <panel title>", expression) of every dashboard query to that data source."""
    found = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") == datasource_type:
                    found.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return found


@contextlib.contextmanager
def run_prometheus(folder: Path, config_text: str) -> Iterator[str]:
    """Debian's Prometheus with this config and throwaway storage under `folder`."""
    config = folder / "prometheus.yml"
    config.write_text(config_text)
    port = free_port()
    args = [
        require_binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with serving(args, port) as base_url:
        yield base_url


class PrometheusServer:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def query(self, expr: str) -> tuple[int, dict[str, Any]]:
        """Run an instant query; (HTTP status, decoded JSON body)."""
        data = urllib.parse.urlencode({"query": expr}).encode()
        request = urllib.request.Request(f"{self.base_url}/api/v1/query", data=data)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
