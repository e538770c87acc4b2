"""lab.airflow.dag_support: what the DAG files import while Airflow parses them, without reading settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lab.airflow import dag_support
from lab.steps import STEPS


def test_pipeline_tasks_follow_the_lessons_in_the_warehouse_pool():
    tasks = dag_support.pipeline_tasks()
    assert [(t["task_id"], t["notebook"]) for t in tasks] == [(s.name, s.notebook) for s in STEPS]
    assert {t["pool"] for t in tasks} == {"duckdb_writer"}, tasks


def test_the_dag_helpers_read_no_settings_so_a_broken_env_cannot_break_parsing(monkeypatch):
    from lab.config import get_settings
    from lab.errors import ConfigError

    monkeypatch.setenv("LAB_PROFILE", "not-a-profile")
    monkeypatch.setenv("AIRFLOW_PORT", "not-a-port")
    with pytest.raises(ConfigError):  # the premise: reading the settings now fails
        get_settings()
    assert dag_support.pipeline_tasks()[0]["pool"] == dag_support.WAREHOUSE_POOL


def test_the_warehouse_pool_has_one_slot_on_local_only():
    from lab.profiles import Local, Stack

    assert Local.airflow_pool_slots == 1, "DuckDB has one writer process: one task at a time"
    assert Stack.airflow_pool_slots >= 16, "PostgreSQL takes concurrent writers"


def test_the_dag_files_support_module_does_not_know_the_profiles():
    """The DAG files name the pool; its size is the profile's (read where the pool is made)."""
    source = Path(dag_support.__file__).read_text()
    assert "profiles" not in source and "WAREHOUSE_POOL_SLOTS" not in source


def test_default_args_retry_twice_with_backoff_and_take_overrides():
    args = dag_support.default_args(owner="learner", retries=1)
    assert (args["owner"], args["retries"]) == ("learner", 1)
    assert args["retry_delay"] == dt.timedelta(seconds=30)
    assert args["retry_exponential_backoff"] == 2.0
    assert args["retry_policy"] is not None
    assert dag_support.default_args()["retries"] == 2
