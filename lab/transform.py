"""dbt through the in-process `dbtRunner` (a fraction of a second a call; the CLI costs ~4 s).

dbt's own console output is silenced; each call returns a `DbtRun` whose `.table()` is what a
learner wants to read: every node, its status and its message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lab.config import Settings, environ, get_settings
from lab.errors import TransformError
from lab.profiles import profile_of
from lab.warehouse import LOCK_WAIT_SECONDS, locked_error, wait_note


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment `dbt/profiles.yml` reads for the active profile."""
    return profile_of(settings).dbt_env()


@dataclass
class DbtRun:
    """The outcome of one dbt command."""

    command: list[str]
    success: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def table(self) -> pd.DataFrame:
        """One row a node: resource type, name, status, and dbt's message."""
        order = {"seed": 0, "model": 1, "snapshot": 2, "unit_test": 3, "test": 4}
        rows = sorted(self.rows, key=lambda r: (order.get(r["resource"], 9), r["name"]))
        return pd.DataFrame(rows, columns=["resource", "name", "status", "message"])

    def count(self, resource: str | None = None, status: str | None = None) -> int:
        return sum(
            1
            for r in self.rows
            if (resource is None or r["resource"] == resource)
            and (status is None or r["status"] == status)
        )

    def counts(self) -> dict[str, int]:
        """What the run built and tested, as run-metric counts."""
        return {
            "models": self.count("model", "success"),
            "tests": self.count("test") + self.count("unit_test"),
            "tests_passed": self.count("test", "pass") + self.count("unit_test", "pass"),
            "failed": len(self.failures),
        }

    @property
    def failures(self) -> pd.DataFrame:
        table = self.table()
        return table[~table["status"].isin(["success", "pass"])].reset_index(drop=True)

    def __str__(self) -> str:
        if self.error:
            return f"dbt {' '.join(self.command)}: {self.error}"
        statuses = self.table()["status"].value_counts().to_dict()
        parts = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        return f"dbt {' '.join(self.command)}: {'OK' if self.success else 'FAILED'} ({parts})"

    def raise_on_failure(self) -> DbtRun:
        """Raise a TransformError naming what failed; return self when all is well."""
        if self.success:
            return self
        if self.error:
            raise TransformError(f"dbt {' '.join(self.command)} could not run: {self.error}")
        failed = self.failures
        names = ", ".join(f"{r.resource} {r.name} ({r.status})" for r in failed.itertuples())
        raise TransformError(
            f"dbt {' '.join(self.command)} failed: {names}. Fix: read the messages with "
            "run.failures, correct the model or the data, and run it again."
        )


_EXCLUDED: list[str] = []  # selectors every build, run and test leaves out (see `excluding`)


@contextmanager
def excluding(*selectors: str) -> Iterator[None]:
    """dbt's build, run and test commands in this block leave these nodes out (`--exclude`).

    `lab reset --lesson N` rebuilds the lessons' state without the learner's own models, as
    the lessons built it before the learner wrote them.
    """
    _EXCLUDED.extend(selectors)
    try:
        yield
    finally:
        del _EXCLUDED[len(_EXCLUDED) - len(selectors) :]


def dbt(*args: str, settings: Settings | None = None) -> DbtRun:
    """Run one dbt command in-process, e.g. `dbt("build", "--select", "staging")`."""
    settings = settings or get_settings()
    command = list(args)
    excluded = (
        ["--exclude", *_EXCLUDED]
        if _EXCLUDED and command[:1] in (["build"], ["run"], ["test"])
        else []
    )
    full = [
        *command,
        *excluded,
        "--project-dir",
        str(settings.dbt_dir),
        "--profiles-dir",
        str(settings.dbt_dir),
        "--target-path",
        str(settings.dbt_target_dir),
        "--log-path",
        str(settings.dbt_log_dir),
        "--log-level",
        "none",
    ]
    with environ(dbt_env(settings)):  # what dbt/profiles.yml reads, for this run only
        result = _invoke_waiting_for_lock(full, settings)
    run = DbtRun(command=command, success=bool(result.success))
    if result.exception is not None:
        run.error = _first_line(result.exception)
        run.success = False
        return run
    for node_result in getattr(result.result, "results", None) or []:
        node = node_result.node
        run.rows.append(
            {
                "resource": str(node.resource_type),
                "name": node.name,
                "status": str(node_result.status),
                "message": _first_line(node_result.message) if node_result.message else "",
            }
        )
    if not run.success and not run.rows:
        run.error = "dbt reported a failure without node results; see " + str(
            settings.dbt_log_dir / "dbt.log"
        )
    return run


def _invoke_waiting_for_lock(args: list[str], settings: Settings):
    """Invoke dbt; while DuckDB's file is locked by another writer, wait and try again.

    dbt-duckdb opens the file itself and fails at once on a held lock, so the wait is here:
    a bounded retry with backoff, then the project's WarehouseLockedError naming the holder.
    """
    from dbt.cli.main import dbtRunner

    _name_flag_sources_cheaply()
    started = time.monotonic()
    delay, told = 0.2, False
    while True:
        try:
            result = dbtRunner().invoke(args)
        finally:
            _release_duckdb()
        locked = _lock_message(result)
        if not locked or not profile_of(settings).waits_for_lock:
            return result
        waited = time.monotonic() - started
        if waited >= LOCK_WAIT_SECONDS:
            raise locked_error(settings.warehouse_path, waited, locked)
        if not told:
            wait_note(settings.warehouse_path, locked)
            told = True
        time.sleep(delay)
        delay = min(delay * 2, 3.0)


def _name_flag_sources_cheaply() -> None:
    """Let dbt name the module of each adapter behavior flag without calling `inspect.stack()`.

    dbt registers the adapter, and with it two behavior flags, on every command; dbt-common
    (1.39) names each flag's source with `inspect.stack()`, which reads the source of every
    frame and, for each frame with no module file (a notebook cell, `python -c`), searches all
    the loaded modules. Measured on this project's 2-core machine: a warm `dbt parse` in a
    Jupyter kernel took 0.32-0.50 s of CPU with it and 0.19-0.29 s without; in a pytest-xdist
    worker, 84 dbt commands took 108 s of CPU with it and 60 s without. The frame walk below
    gives the same name: the first module that is not dbt-common's flag module.
    """
    try:
        from dbt_common import behavior_flags
    except ImportError:  # dbt not installed: nothing to name
        return
    rendered = getattr(behavior_flags, "BehaviorFlagRendered", None)
    if rendered is not None and "_default_source" in vars(rendered):
        rendered._default_source = staticmethod(_flag_source)


def _flag_source() -> str:
    """The module that registered a behavior flag: the first caller outside dbt-common's."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name != "dbt_common.behavior_flags":
            return name
        frame = frame.f_back
    return "Unknown"


def _lock_message(result) -> str:
    """DuckDB's "Could not set lock" message, wherever dbt reported it, else ""."""
    texts = [str(result.exception or "")]
    texts += [str(r.message or "") for r in getattr(result.result, "results", None) or []]
    return next((t for t in texts if "Could not set lock on file" in t), "")


def _release_duckdb() -> None:
    """Close the DuckDB file dbt-duckdb keeps open in this process after a run.

    Without this, the kernel that ran dbt holds the file's write lock until it exits, and every
    other notebook, Airflow task or dbt run is locked out.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing to release
        return
    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else ""


def executed_sql(model: str, settings: Settings | None = None) -> str:
    """The SQL statement dbt last ran for a model (from its target folder): what `ref()` became."""
    settings = settings or get_settings()
    found = sorted((settings.dbt_target_dir / "run").glob(f"*/models/**/{model}.sql"))
    if not found:
        raise TransformError(
            f"dbt has not run the model {model!r} in this sandbox yet. Fix: run "
            "transform.build() (or `make pipeline`) first, and check the model's name."
        )
    return found[0].read_text().strip()


def command_line(args: list[str], settings: Settings | None = None) -> int:
    """`lab dbt ARGS`: dbt's own command line, as `dbt ARGS` would run it, on the sandbox.

    dbt gets the active profile's environment (what `dbt/profiles.yml` reads), this project and
    its profiles (`--project-dir`, `--profiles-dir`), and writes its results and logs where `lab`
    reads them. Its output is dbt's own; the return value is dbt's exit code.
    """
    settings = settings or get_settings()
    env = {
        **os.environ,
        **dbt_env(settings),
        # dbt's own variables for --project-dir, --profiles-dir, --target-path and --log-path:
        # every subcommand reads those it has, and an option on the command line still wins
        "DBT_PROJECT_DIR": str(settings.dbt_dir),
        "DBT_PROFILES_DIR": str(settings.dbt_dir),
        "DBT_TARGET_PATH": str(settings.dbt_target_dir),
        "DBT_LOG_PATH": str(settings.dbt_log_dir),
    }
    launch = "from dbt.cli.main import cli; cli(prog_name='dbt')"  # dbt's own entry point
    return subprocess.run([sys.executable, "-c", launch, *args], env=env).returncode


def _options(select: str | None, full_refresh: bool) -> list[str]:
    return [
        *(["--select", select] if select else []),
        *(["--full-refresh"] if full_refresh else []),
    ]


def build(
    select: str | None = None, settings: Settings | None = None, full_refresh: bool = False
) -> DbtRun:
    """`dbt build`: seeds, models, snapshots and tests, in dependency order.

    `full_refresh`: rebuild incremental models from all their input (a snapshot keeps its rows).
    """
    return dbt("build", *_options(select, full_refresh), settings=settings)


def seed(settings: Settings | None = None) -> DbtRun:
    return dbt("seed", settings=settings)


def run(
    select: str | None = None, settings: Settings | None = None, full_refresh: bool = False
) -> DbtRun:
    return dbt("run", *_options(select, full_refresh), settings=settings)


def test(select: str | None = None, settings: Settings | None = None) -> DbtRun:
    return dbt("test", *(["--select", select] if select else []), settings=settings)


def snapshot(select: str | None = None, settings: Settings | None = None) -> DbtRun:
    """`dbt snapshot`: record what changed in the snapshotted models since the last one."""
    return dbt("snapshot", *(["--select", select] if select else []), settings=settings)


# dbt's cache of the parsed project in the target folder. dbt checks it against every project
# file, the variables and the profile before it uses it, so it may outlive what dbt built;
# without it the next call parses the whole project (1.5-3 CPU-s here).
PARSE_CACHE = "partial_parse.msgpack"


def clear_target(settings: Settings | None = None) -> None:
    """Delete what dbt built and recorded in its target folder, keeping its parse cache."""
    settings = settings or get_settings()
    target = settings.dbt_target_dir
    for item in sorted(target.iterdir()) if target.is_dir() else []:
        if item.name == PARSE_CACHE:
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()


def kept_relations(settings: Settings | None = None) -> list[str]:
    """The relations a build adds to instead of rebuilding: incremental models and snapshots.

    They keep rows of deliveries that have since gone from raw_orders; whatever puts the
    sandbox back to an earlier state drops them (`drop_kept_relations`) before it builds again.
    """
    settings = settings or get_settings()
    dbt("parse", settings=settings).raise_on_failure()
    manifest = json.loads((settings.dbt_target_dir / "manifest.json").read_text())
    return sorted(
        node["alias"]
        for node in manifest["nodes"].values()
        if node["package_name"] == "sandbox"
        and (
            node["resource_type"] == "snapshot"
            or node["config"].get("materialized") == "incremental"
        )
    )


def drop_kept_relations(settings: Settings | None = None) -> list[str]:
    """Drop the incremental models' and snapshots' tables (the next build makes them afresh)."""
    settings = settings or get_settings()
    names = kept_relations(settings)
    warehouse = profile_of(settings).warehouse()
    for name in names:
        warehouse.execute(f"drop table if exists {name}")
    return names
