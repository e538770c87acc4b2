"""lab.profiles: what differs between `local` and `stack` is asked of one object."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from lab import lesson
from lab.config import get_settings
from lab.errors import ConfigError
from lab.profiles import Local, Stack, profile_of
from lab.warehouse import DuckDBWarehouse, PostgresWarehouse

LAB = Path(__file__).resolve().parents[2] / "lab"


def test_each_profile_owns_its_warehouse_and_dbt_environment(monkeypatch):
    local = profile_of()
    assert isinstance(local, Local)
    assert isinstance(local.warehouse(), DuckDBWarehouse)
    assert local.dbt_env()["DBT_TARGET"] == "duckdb"
    assert local.pushgateway() is None and not local.monitoring
    monkeypatch.setenv("LAB_PROFILE", "stack")
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://u:p%40ss@db.example:5433/warehouse")
    monkeypatch.setenv("PUSHGATEWAY_URL", "http://127.0.0.1:9091")
    stack = profile_of()
    assert isinstance(stack, Stack)
    assert isinstance(stack.warehouse(), PostgresWarehouse)
    assert stack.dbt_env()["WAREHOUSE_PORT"] == "5433"
    assert stack.gx_env() == {
        "GX_WAREHOUSE_URL": "postgresql+psycopg://u:p%40ss@db.example:5433/warehouse"
    }
    assert stack.pushgateway() == "http://127.0.0.1:9091"


def test_a_lesson_chooses_its_profile_without_touching_the_environment(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://u@127.0.0.1:5432/w")
    before = dict(os.environ)
    settings = lesson.start("stack")
    assert settings.profile == "stack"
    assert get_settings().profile == "stack", "the choice holds for the rest of the process"
    assert dict(os.environ) == before


def test_a_lesson_refuses_a_profile_that_does_not_exist():
    with pytest.raises(ConfigError, match=r"profile='cloud' is not a profile.*local, stack"):
        lesson.start("cloud")


def test_no_module_branches_on_the_profile_or_changes_the_environment_for_good():
    """Only lab/profiles.py knows the profiles apart; only config.environ() sets variables."""
    branch = re.compile(r"\bis_local\b|\bprofile\s*[!=]=\s*[\"']")
    mutate = re.compile(r"os\.environ(\[.*\]\s*=[^=]|\.update|\.setdefault|\.pop)")
    found = []
    for path in sorted(LAB.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(LAB.parent)}:{number}: {line.strip()}"
            if branch.search(line) and path.name != "profiles.py":
                found.append(where)
            if mutate.search(line) and path.name != "config.py":
                found.append(where)
    assert not found, "\n".join(found)
