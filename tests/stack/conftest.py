"""Fixtures for the stack configuration tests.

There is no Docker engine where these tests run, so the stack is checked structurally and by the
services' own checkers (promtool, a real Prometheus, PostgreSQL, moto). Helpers and paths live in
stack_helpers.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values
from stack_helpers import (
    COMPOSE_FILE,
    DASHBOARDS_DIR,
    DATASOURCES_FILE,
    ENV_EXAMPLE,
    PrometheusServer,
    run_prometheus,
)

# ---------------------------------------------------------------------------------------------
# The files under test
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="session")
def env_example() -> dict[str, str | None]:
    """.env.example as Compose and python-dotenv read it (`${NAME}` expanded)."""
    return dict(dotenv_values(ENV_EXAMPLE, interpolate=True))


@pytest.fixture(scope="session")
def dashboards() -> dict[str, dict[str, Any]]:
    paths = sorted(DASHBOARDS_DIR.glob("*.json"))
    return {path.name: json.loads(path.read_text()) for path in paths}


@pytest.fixture(scope="session")
def datasources() -> list[dict[str, Any]]:
    return yaml.safe_load(DATASOURCES_FILE.read_text())["datasources"]


# ---------------------------------------------------------------------------------------------
# A real Prometheus, to check that PromQL expressions parse
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """Debian's `prometheus` on 127.0.0.1 at a free port, with throwaway storage."""
    config = "global:\n  scrape_interval: 1h\nscrape_configs: []\n"
    with run_prometheus(tmp_path_factory.mktemp("prometheus"), config) as base_url:
        yield PrometheusServer(base_url)
