"""lab.profiles: what differs between `local` and `stack` is asked of one object."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from lab import lesson
from lab.config import PROFILES, get_settings
from lab.errors import ConfigError
from lab.profiles import BY_NAME, Local, Stack, profile_of
from lab.quality.sources import FrameSource, SqlSource, source_for
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
    assert SqlSource(stack.settings).env() == {
        "GX_WAREHOUSE_URL": "postgresql+psycopg://u:p%40ss@db.example:5433/warehouse"
    }
    assert isinstance(source_for(stack.settings), SqlSource)
    assert isinstance(source_for(local.settings), FrameSource)
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


def test_the_profile_classes_are_the_profiles_the_settings_accept():
    assert sorted(BY_NAME) == sorted(PROFILES)


PROFILE_CLASSES = {"Local", "Stack", "DuckDBWarehouse", "PostgresWarehouse"}


def profile_branches(source: str) -> list[tuple[int, str]]:
    """Where code tells the profiles apart instead of asking the profile object: a comparison
    with a profile's name, a dict keyed by one, a lookup by one, `isinstance` on a profile or
    warehouse class, or an `is_local` flag."""

    def names_a_profile(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in PROFILES
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return any(names_a_profile(e) for e in node.elts)
        return False

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
            names_a_profile(n) for n in [node.left, *node.comparators]
        ):
            found.append((node.lineno, "compares with a profile's name"))
        elif isinstance(node, ast.Dict) and any(
            k is not None and names_a_profile(k) for k in node.keys
        ):
            found.append((node.lineno, "a dict keyed by profile name"))
        elif isinstance(node, ast.Subscript) and names_a_profile(node.slice):
            found.append((node.lineno, "a lookup by profile name"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
        ):
            classes = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            if any(isinstance(c, ast.Name) and c.id in PROFILE_CLASSES for c in classes):
                found.append((node.lineno, "isinstance on a profile or warehouse class"))
        elif (
            isinstance(node, ast.Name | ast.Attribute)
            and getattr(node, "id", getattr(node, "attr", "")) == "is_local"
        ):
            found.append((node.lineno, "an is_local flag"))
    return found


@pytest.mark.parametrize(
    "code",
    [
        'if settings.profile == "stack": pass',
        'if name in ("local", "stack"): pass',
        'SLOTS = {"local": 1, "stack": 128}',
        'slots = SLOTS["stack"]',
        "if isinstance(warehouse, DuckDBWarehouse): pass",
        "if isinstance(w, (PostgresWarehouse, int)): pass",
        "if settings.is_local: pass",
    ],
)
def test_the_branch_reader_sees_each_way_of_telling_profiles_apart(code):
    assert profile_branches(code), code


def test_the_branch_reader_lets_a_choice_of_profile_through():
    assert profile_branches('settings = replace(settings, profile="stack")') == []
    assert profile_branches('env = {"LAB_PROFILE": "local"}') == []


def test_no_module_branches_on_the_profile_or_changes_the_environment_for_good():
    """Only lab/profiles.py knows the profiles apart; only config.environ() sets variables."""
    mutate = re.compile(r"os\.environ(\[.*\]\s*=[^=]|\.update|\.setdefault|\.pop)")
    found = []
    for path in sorted(LAB.rglob("*.py")):
        where = path.relative_to(LAB.parent)
        if path.name not in ("profiles.py", "config.py"):
            for number, why in profile_branches(path.read_text()):
                found.append(f"{where}:{number}: {why}")
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if mutate.search(line) and path.name != "config.py":
                found.append(f"{where}:{number}: {line.strip()}")
    assert not found, "Fix: ask the profile object (lab.profiles) instead:\n" + "\n".join(found)
