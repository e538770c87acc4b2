"""Fixtures for the tests of `lab`'s modules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lab.config import get_settings
from lab.warehouse import DuckDBWarehouse, PostgresWarehouse


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path):
    """The same code on both engines: a DuckDB file, a scratch PostgreSQL database."""
    if request.param == "duckdb":
        return DuckDBWarehouse(tmp_path / "w.duckdb")
    url = request.getfixturevalue("postgres_dsn")
    return PostgresWarehouse(replace(get_settings(), warehouse_url=url).warehouse_dsn())
