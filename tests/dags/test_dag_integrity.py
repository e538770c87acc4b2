"""Every DAG file parses cleanly and follows the house rules (one test a file, id = its path).

Parsing happens with network and Airflow connections, variables and hooks patched to fail:
a DAG file must do no work when the scheduler parses it.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from unittest import mock

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO_ROOT / "dags").glob("*.py"))
KNOWN_POOLS = {"default_pool", "duckdb_writer"}


class ParseTimeAccess(AssertionError):
    """Raised when a DAG file touches the network, a connection or a variable while parsed."""


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise ParseTimeAccess(
            f"{what} at parse time (args {args[1:] or args}). Fix: move it into a task function "
            "(or a template); the scheduler parses DAG files every 30 s."
        )

    return refuse


def parse(path: Path):
    """Parse one DAG file with network, connections and variables off; return the DagBag."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook, Variable

    with (
        mock.patch.object(socket.socket, "connect", _refuse("a network connection")),
        mock.patch.object(socket, "create_connection", _refuse("a network connection")),
        mock.patch.object(BaseHook, "get_connection", _refuse("an Airflow connection lookup")),
        mock.patch.object(Variable, "get", _refuse("an Airflow Variable lookup")),
    ):
        return DagBag(dag_folder=str(path), known_pools=KNOWN_POOLS)


@pytest.mark.parametrize("path", DAG_FILES, ids=[str(p.relative_to(REPO_ROOT)) for p in DAG_FILES])
def test_dag_file_parses_cleanly_and_follows_the_house_rules(path: Path):
    bag = parse(path)
    assert not bag.import_errors, (
        f"{path.name} failed to import; fix the error below (run `airflow dags list-import-errors` "
        f"after `airflow dags reserialize` to see it in Airflow):\n"
        + "\n".join(bag.import_errors.values())
    )
    warnings = [w for ws in bag.captured_warnings.values() for w in ws]
    assert not warnings, f"{path.name} warns while parsed; fix: {warnings}"
    assert list(bag.dags) == [path.stem], (
        f"{path.name} must define exactly one DAG whose dag_id is the file name {path.stem!r}, "
        f"found {list(bag.dags)}. Fix: one @dag function a file, named as the file."
    )
    dag = bag.dags[path.stem]
    problems = []
    if not dag.tags:
        problems.append("no tags: add tags=[...] to @dag so the UI can filter it")
    if dag.schedule is None and "schedule" not in path.read_text():
        problems.append("no explicit schedule: write schedule=... (None for manual only)")
    if dag.catchup:
        problems.append("catchup=True: set catchup=False so unpausing does not run the backlog")
    start = dag.start_date
    if start is None or start.tzinfo is None or start.utcoffset() is None:
        problems.append(f"start_date {start!r} is not timezone-aware: use tzinfo=dt.UTC")
    if not (dag.doc_md or "").strip():
        problems.append("no docs: give the @dag function a Markdown docstring (the UI shows it)")
    for task in dag.tasks:
        if task.owner in ("", "airflow"):
            problems.append(f"task {task.task_id}: owner {task.owner!r}; set default_args owner")
        if not task.retries:
            problems.append(
                f"task {task.task_id}: retries={task.retries}; set default_args retries"
            )
        if isinstance(task.retry_delay, dt.timedelta) and task.retry_delay.total_seconds() < 1:
            problems.append(f"task {task.task_id}: retry_delay {task.retry_delay} is too short")
        if task.pool not in KNOWN_POOLS:
            problems.append(
                f"task {task.task_id}: pool {task.pool!r} is not one of {sorted(KNOWN_POOLS)}; "
                "a task in a missing pool never runs"
            )
    assert not problems, f"{path.name}: " + "; ".join(problems)
    dag.check_cycle()  # raises naming the cycle


def test_every_dag_file_is_checked():
    assert {p.stem for p in DAG_FILES} >= {"example_dag", "notebook_pipeline"}, (
        f"expected example_dag.py and notebook_pipeline.py in dags/, found {[p.name for p in DAG_FILES]}"
    )


def test_parse_time_network_and_connection_use_is_reported(tmp_path: Path):
    bad = tmp_path / "greedy_dag.py"
    bad.write_text(
        "import socket\n"
        "from airflow.sdk import BaseHook, dag\n"
        "BaseHook.get_connection('warehouse')\n"
        "@dag(schedule=None)\n"
        "def greedy_dag():\n"
        "    pass\n"
        "greedy_dag()\n"
    )
    errors = "\n".join(parse(bad).import_errors.values())
    assert "an Airflow connection lookup at parse time" in errors, errors
    bad.write_text(
        bad.read_text().replace(
            "BaseHook.get_connection('warehouse')", "socket.create_connection(('127.0.0.1', 9))"
        )
    )
    errors = "\n".join(parse(bad).import_errors.values())
    assert "a network connection at parse time" in errors, errors


@pytest.mark.parametrize("path", DAG_FILES, ids=[str(p.relative_to(REPO_ROOT)) for p in DAG_FILES])
def test_retry_policy_fails_lab_errors_at_once_and_retries_transient_ones(path: Path):
    from airflow.sdk import RetryAction
    from papermill.exceptions import PapermillExecutionError

    from lab.errors import NotebookStepError, QualityGateError, WarehouseLockedError

    dag = parse(path).dags[path.stem]
    cell_error = PapermillExecutionError(3, 4, "1 / 0", "ZeroDivisionError", "division by zero", [])
    for task in dag.tasks:
        policy = task.retry_policy
        assert policy is not None, (
            f"task {task.task_id} has no retry_policy; set it in default_args"
        )
        decide = lambda exc, p=policy: p.evaluate(exc, try_number=1, max_tries=3).action  # noqa: E731
        for permanent in (NotebookStepError("cell failed"), QualityGateError("gate"), cell_error):
            assert decide(permanent) == RetryAction.FAIL, (
                f"task {task.task_id}: {type(permanent).__name__} must fail at once, got "
                f"{decide(permanent)}"
            )
        for transient in (WarehouseLockedError("locked"), ConnectionError("reset"), RuntimeError()):
            assert decide(transient) != RetryAction.FAIL, (
                f"task {task.task_id}: {type(transient).__name__} must be retried"
            )
