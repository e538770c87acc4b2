"""lab.config: one settings object from the environment and `.env` (the environment wins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.config import PROFILES, get_settings
from lab.errors import ConfigError
from lab.profiles import profile_of


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository root of its own (LAB_ROOT) whose `.env` the test writes."""
    root = tmp_path / "repo"
    (root / "dbt").mkdir(parents=True)
    (root / "dbt" / "dbt_project.yml").write_text("name: sandbox\n")
    monkeypatch.setenv("LAB_ROOT", str(root))
    return root


def test_settings_follow_the_isolated_environment(lab_env):
    settings = get_settings()
    assert settings.profile == "local", f"expected profile 'local', got {settings.profile!r}"
    assert settings.home == lab_env.home, f"expected home {lab_env.home}, got {settings.home}"
    assert settings.runs_dir == lab_env.runs_dir
    assert settings.gx_root == lab_env.gx_root
    assert settings.warehouse_path == lab_env.home / "warehouse.duckdb"
    assert settings.lake_root == lab_env.home / "lake"
    assert settings.warehouse_url is None, (
        f"expected no WAREHOUSE_URL, got {settings.warehouse_url!r}"
    )
    assert settings.s3_endpoint_url is None
    assert settings.pushgateway_url is None


def test_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LAB_PROFILE", "stack")
    settings = get_settings()
    assert settings.profile == "stack", f"expected 'stack', got {settings.profile!r}"
    assert type(profile_of(settings)).__name__ == "Stack"


def test_profile_is_trimmed_and_case_insensitive(monkeypatch):
    monkeypatch.setenv("LAB_PROFILE", "  Stack ")
    assert get_settings().profile == "stack"


def test_profile_comes_from_dotenv_at_lab_root(tmp_root, monkeypatch):
    (tmp_root / ".env").write_text("LAB_PROFILE=stack\nWAREHOUSE_URL=postgresql://u@h/w\n")
    monkeypatch.delenv("LAB_PROFILE")
    monkeypatch.delenv("WAREHOUSE_URL")
    settings = get_settings()
    assert settings.root == tmp_root.resolve(), f"expected root {tmp_root}, got {settings.root}"
    assert settings.profile == "stack", f"expected 'stack' from .env, got {settings.profile!r}"
    assert settings.warehouse_url == "postgresql://u@h/w"


def test_environment_wins_over_dotenv(tmp_root, monkeypatch):
    (tmp_root / ".env").write_text("LAB_PROFILE=stack\nLAB_RAW_BUCKET=from-dotenv\n")
    monkeypatch.setenv("LAB_PROFILE", "local")
    monkeypatch.setenv("LAB_RAW_BUCKET", "from-env")
    settings = get_settings()
    assert settings.profile == "local", (
        f"expected the environment's 'local', got {settings.profile!r}"
    )
    assert settings.raw_bucket == "from-env", f"expected 'from-env', got {settings.raw_bucket!r}"


def test_without_lab_home_the_state_lives_in_dot_state_under_the_root(tmp_root, monkeypatch):
    monkeypatch.delenv("LAB_HOME")
    settings = get_settings()
    expected = tmp_root.resolve() / ".state"
    assert settings.home == expected, f"expected {expected}, got {settings.home}"
    assert settings.dbt_dir == tmp_root.resolve() / "dbt"


def test_unknown_profile_is_a_config_error_naming_value_and_choices(monkeypatch):
    monkeypatch.setenv("LAB_PROFILE", "cloud")
    with pytest.raises(ConfigError) as info:
        get_settings()
    message = str(info.value)
    assert "LAB_PROFILE='cloud' is not a profile" in message, message
    for profile in PROFILES:
        assert profile in message, f"expected the allowed profile {profile!r} in: {message}"
    assert "Fix:" in message, message


def test_unknown_profile_in_dotenv_is_reported_too(tmp_root, monkeypatch):
    (tmp_root / ".env").write_text("LAB_PROFILE=prod\n")
    monkeypatch.delenv("LAB_PROFILE")
    with pytest.raises(ConfigError, match=r"LAB_PROFILE='prod' is not a profile.*local, stack"):
        get_settings()


def test_warehouse_dsn_splits_the_url(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://lab%40user:p%3Ass@db.example:6543/warehouse")
    dsn = get_settings().warehouse_dsn()
    expected = {
        "host": "db.example",
        "port": "6543",
        "user": "lab@user",
        "password": "p:ss",
        "dbname": "warehouse",
    }
    assert dsn == expected, f"expected {expected}, got {dsn}"


def test_warehouse_dsn_defaults_port_and_password(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "postgres://lab@db/warehouse")
    dsn = get_settings().warehouse_dsn()
    assert (dsn["port"], dsn["password"]) == ("5432", ""), f"got {dsn}"


def test_warehouse_dsn_without_url_says_how_to_set_it():
    with pytest.raises(ConfigError) as info:
        get_settings().warehouse_dsn()
    message = str(info.value)
    assert "WAREHOUSE_URL is not set" in message, message
    assert "Fix: set WAREHOUSE_URL=postgresql://" in message, message


@pytest.mark.parametrize(
    "url",
    ["mysql://lab@db:3306/warehouse", "postgresql://lab@db:5432", "postgresql://lab@db:5432/"],
)
def test_warehouse_dsn_rejects_a_url_that_is_not_postgres_with_a_database(monkeypatch, url):
    monkeypatch.setenv("WAREHOUSE_URL", url)
    with pytest.raises(ConfigError) as info:
        get_settings().warehouse_dsn()
    message = str(info.value)
    assert f"WAREHOUSE_URL={url!r} is not a PostgreSQL URL" in message, message
    assert "Fix: use the form postgresql://" in message, message
