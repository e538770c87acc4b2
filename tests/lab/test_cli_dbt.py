"""dbt from a terminal: `lab dbt ARGS` on the sandbox, and plain `dbt` run from the dbt/ folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test runs dbt's command line end to end

ROOT = Path(__file__).resolve().parents[2]
LAB = Path(sys.executable).parent / "lab"
DBT = Path(sys.executable).parent / "dbt"
PREPARED_HISTORY_DAYS = 1  # a day of orders in raw_orders, which the staging models read


def lab_dbt(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LAB), "dbt", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_lab_dbt_builds_on_the_sandbox_from_any_folder(sandbox_copy, tmp_path):
    result = lab_dbt("run", "--select", "staging", cwd=tmp_path)
    assert result.returncode == 0, f"expected exit 0, got {result.returncode}:\n{result.stdout}"
    assert "Completed successfully" in result.stdout, result.stdout
    results = json.loads((sandbox_copy.home / "dbt/target/run_results.json").read_text())
    built = {r["unique_id"] for r in results["results"]}
    assert "model.sandbox.stg_orders" in built, f"expected stg_orders in {sorted(built)}"
    assert not (tmp_path / "target").exists() and not (tmp_path / "logs").exists()


def test_lab_dbt_exits_with_dbt_exit_codes(lab_env, tmp_path):
    usage = lab_dbt("build", "--no-such-option", cwd=tmp_path)
    assert usage.returncode == 2, f"a usage error is dbt's exit 2, got {usage.returncode}"
    assert "--no-such-option" in usage.stdout + usage.stderr, usage
    # an empty warehouse: the staging views' source tables do not exist, so the models fail
    failed = lab_dbt("run", "--select", "stg_orders", cwd=tmp_path)
    assert failed.returncode == 1, f"a failed model is dbt's exit 1, got {failed.returncode}"
    assert "raw_orders" in failed.stdout, failed.stdout


def test_plain_dbt_in_the_dbt_folder_uses_the_sandbox_warehouse(sandbox_copy, tmp_path):
    """`cd dbt && dbt build` with nothing set: profiles.yml's default is the state folder's file."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "dbt", project / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    (project / ".state").mkdir()
    shutil.copy(sandbox_copy.home / "warehouse.duckdb", project / ".state" / "warehouse.duckdb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "LAB_WAREHOUSE"))}
    result = subprocess.run(
        [str(DBT), "run", "--select", "stg_orders"],
        cwd=project / "dbt",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"expected exit 0, got {result.returncode}:\n{result.stdout}"
    assert "LAB_WAREHOUSE_PATH" not in result.stdout, result.stdout

    import duckdb

    with duckdb.connect(str(project / ".state" / "warehouse.duckdb"), read_only=True) as con:
        views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
    assert "stg_orders" in views, f"expected the view stg_orders in the sandbox file: {views}"
