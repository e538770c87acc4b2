"""Airflow in this pytest process: a throwaway AIRFLOW_HOME with SQLite metadata.

Airflow reads its configuration when it is first imported, so the environment is set when
this file is loaded (before any test imports airflow) and points at a temporary folder that
is removed at the end of the session. `airflow_db` migrates the metadata database once a
session (~10 s) and creates the `duckdb_writer` pool, as `make airflow` does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.airflow import local as airflow_local

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="lab-airflow-test-"))
airflow_local.prepare_airflow_home(_AIRFLOW_HOME)
AIRFLOW_ENV = airflow_local.airflow_env(_AIRFLOW_HOME)
os.environ.update(AIRFLOW_ENV)


@pytest.fixture(scope="session", autouse=True)
def _airflow_home() -> Iterator[Path]:
    """The session's AIRFLOW_HOME, removed afterwards."""
    yield _AIRFLOW_HOME
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db(_airflow_home: Path) -> Path:
    """A migrated SQLite metadata database with the `duckdb_writer` pool."""
    airflow_local.setup_metadata(AIRFLOW_ENV)
    return _airflow_home
