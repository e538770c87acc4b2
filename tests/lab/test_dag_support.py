"""lab.dag_support: what the DAG files import while Airflow parses them, without reading settings."""

from __future__ import annotations

import datetime as dt

import pytest

from lab import dag_support
from lab.config import PIPELINE_NOTEBOOKS


def test_pipeline_tasks_follow_the_lessons_in_the_warehouse_pool():
    tasks = dag_support.pipeline_tasks()
    assert [(t["task_id"], t["notebook"]) for t in tasks] == list(PIPELINE_NOTEBOOKS)
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
    slots = dag_support.WAREHOUSE_POOL_SLOTS
    assert slots["local"] == 1, "DuckDB has one writer process: one task at a time on local"
    assert slots["stack"] >= 16, f"PostgreSQL takes concurrent writers; got {slots['stack']}"
    assert set(slots) == set(dag_support.WAREHOUSE_POOL_DESCRIPTION)


def test_default_args_retry_twice_with_backoff_and_take_overrides():
    args = dag_support.default_args(owner="learner", retries=1)
    assert (args["owner"], args["retries"]) == ("learner", 1)
    assert args["retry_delay"] == dt.timedelta(seconds=30)
    assert args["retry_exponential_backoff"] == 2.0
    assert args["retry_policy"] is not None
    assert dag_support.default_args()["retries"] == 2
