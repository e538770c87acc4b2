"""Every DAG file parses cleanly and follows the house rules (one test a file, id = its path).

A DAG file must do no work when the scheduler parses it. `lab.airflow.dag_rules.problems` reads that
from the source (heavy imports, Variables, connections, hooks, network calls outside tasks),
and parsing happens with network, Airflow connections and variables, and the sandbox's
settings patched to fail. The rules live in `lab.airflow.dag_rules`, which exercise 05 applies to a
learner's DAG too.
"""

from __future__ import annotations

import socket
from pathlib import Path
from unittest import mock

import pytest

from lab.airflow import dag_rules

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO_ROOT / "dags").glob("*.py"))
# The sandbox's own DAGs and the schedule each runs on, as written and as the cron expression
# Airflow runs (a learner's DAG may be in dags/ too): every day at midnight UTC.
SCHEDULES = {
    "example_dag": ("@daily", "0 0 * * *"),
    "notebook_pipeline": ("@daily", "0 0 * * *"),
}


class ParseTimeAccess(AssertionError):
    """Raised when a DAG file touches the network, a connection, a variable or the sandbox's
    settings while parsed."""


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise ParseTimeAccess(
            f"{what} at parse time (args {args[1:] or args}). Fix: move it into a task function "
            "(or a template); the scheduler parses DAG files every 30 s."
        )

    return refuse


def parse(path: Path):
    """Parse one DAG file with network, connections, variables and settings off; the DagBag."""
    from airflow.sdk import BaseHook, Variable

    with (
        mock.patch.object(socket.socket, "connect", _refuse("a network connection")),
        mock.patch.object(socket, "create_connection", _refuse("a network connection")),
        mock.patch.object(BaseHook, "get_connection", _refuse("an Airflow connection lookup")),
        mock.patch.object(Variable, "get", _refuse("an Airflow Variable lookup")),
        # every lab.config.get_settings() starts here: .env and the environment stay unread
        mock.patch("lab.config._find_root", _refuse("reading the sandbox settings")),
    ):
        return dag_rules.load(path)


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
    problems, dag = dag_rules.problems(bag, path)
    assert not problems, f"{path.name}: " + "; ".join(problems)
    written = dag_rules.written_schedule(path.read_text(), dag.dag_id)
    assert dag.schedule == written, (
        f"{path.name} writes schedule={written!r} but Airflow parsed {dag.schedule!r}"
    )
    dag.check_cycle()  # raises naming the cycle


def test_every_dag_file_is_checked():
    assert {p.stem for p in DAG_FILES} >= set(SCHEDULES), (
        f"expected {sorted(SCHEDULES)} in dags/, found {[p.name for p in DAG_FILES]}"
    )


@pytest.mark.parametrize("dag_id", sorted(SCHEDULES))
def test_the_sandbox_dags_run_on_their_schedule(dag_id: str):
    dag = parse(REPO_ROOT / "dags" / f"{dag_id}.py").dags[dag_id]
    runs = (dag.schedule, getattr(dag.timetable, "expression", None), str(dag.timetable.timezone))
    assert runs == (*SCHEDULES[dag_id], "UTC"), (
        f"{dag_id}: expected schedule {SCHEDULES[dag_id]} in UTC, got {runs} ({dag.timetable!r})"
    )


def test_a_dag_that_only_mentions_a_schedule_has_none(tmp_path: Path):
    path = tmp_path / "vague_dag.py"
    path.write_text(
        "import datetime as dt\n"
        "from airflow.sdk import dag, task\n"
        "from lab.airflow import dag_support\n"
        "@dag(start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), catchup=False, tags=['x'],\n"
        "     default_args=dag_support.default_args())\n"
        "def vague_dag():\n"
        '    """Runs on a schedule, some day."""\n'
        "    @task\n"
        "    def one():\n"
        "        pass\n"
        "    one()\n"
        "vague_dag()\n"
    )
    problems, dag = dag_rules.problems(parse(path), path)
    assert dag is not None and problems == [
        "no explicit schedule=: write schedule=... in @dag (None for manual runs only)"
    ], problems


@pytest.mark.parametrize(
    ("statement", "reported"),
    [
        ("BaseHook.get_connection('warehouse')", "an Airflow connection lookup at parse time"),
        ("socket.create_connection(('127.0.0.1', 9))", "a network connection at parse time"),
        ("get_settings()", "reading the sandbox settings at parse time"),
    ],
    ids=["connection", "network", "settings"],
)
def test_parse_time_work_is_reported(tmp_path: Path, statement: str, reported: str):
    bad = tmp_path / "greedy_dag.py"
    bad.write_text(
        "import socket\n"
        "from airflow.sdk import BaseHook, dag\n"
        "from lab.config import get_settings\n"
        f"{statement}\n"
        "@dag(schedule=None)\n"
        "def greedy_dag():\n"
        "    pass\n"
        "greedy_dag()\n"
    )
    errors = "\n".join(parse(bad).import_errors.values())
    assert reported in errors, errors


def test_a_heavy_import_at_parse_time_breaks_the_house_rules(tmp_path: Path):
    path = tmp_path / "heavy_dag.py"
    path.write_text(
        "import datetime as dt\n"
        "import pandas as pd\n"
        "from airflow.sdk import dag, task\n"
        "from lab.airflow import dag_support\n"
        "@dag(schedule=None, start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), catchup=False,\n"
        "     tags=['x'], default_args=dag_support.default_args())\n"
        "def heavy_dag():\n"
        '    """Imports pandas where Airflow parses it."""\n'
        "    @task\n"
        "    def one():\n"
        "        return len(pd.DataFrame())\n"
        "    one()\n"
        "heavy_dag()\n"
    )
    problems, _ = dag_rules.problems(parse(path), path)
    assert problems == [
        "line 2: `import pandas as pd` runs every time Airflow parses the file (every 30 s): "
        "move `import pandas as pd` into the task function that uses it"
    ], problems


def test_the_light_modules_are_loaded_before_airflow_parses_a_dag_file():
    """What lab.airflow.dag_rules lets a DAG file import at parse time costs nothing: Airflow has it."""
    import json
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "import airflow.sdk\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    missing = sorted(set(dag_rules.LIGHT_MODULES) - loaded - {"__future__"})
    assert not missing, (
        f"lab.airflow.dag_rules.LIGHT_MODULES lists {missing}, which Airflow does not load before it "
        "parses a DAG file: take them off the list (a DAG file then imports them in its tasks)"
    )


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


def test_exercise_05s_check_retries_a_failed_task_at_once(tmp_path: Path):
    """The check's dag.test() keeps the learner's retries but not their 30 s wait."""
    from lab.exercises import dag_probe
    from lab.exercises.ex05_orchestration import DAG_FILE, SOLUTION_DAG

    path = tmp_path / Path(DAG_FILE).name
    path.write_text(SOLUTION_DAG)
    dag = parse(path).dags[path.stem]
    assert {t.retry_delay.total_seconds() for t in dag.tasks} == {30.0}, "the solution's delay"
    retries = {t.task_id: t.retries for t in dag.tasks}
    dag_probe.retry_at_once(dag)
    assert {t.retry_delay for t in dag.tasks} == {dag_probe.CHECK_RETRY_DELAY}
    assert {t.task_id: t.retries for t in dag.tasks} == retries == {"loaded_dates": 1, "report": 1}
