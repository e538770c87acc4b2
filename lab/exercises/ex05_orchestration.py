"""Exercise 05 · orchestrate: a lesson run by papermill with other parameters, and your own DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lab.config import RAW_ORDERS, Settings, get_settings
from lab.exercises.common import EXERCISE_DATES, day_of, delete_day, remove
from lab.exercises.core import Exercise, Task, Verdict, forget, register
from lab.profiles import get_warehouse
from lab.airflow import local as airflow_local

LESSON = "05"
DAY = EXERCISE_DATES["05"]
ROWS = 300
OUTPUT_FOLDER = "exercise-05"  # under the runs folder
DAG_FILE = "dags/my_first_dag.py"  # git-ignored: the learner's own DAG
SOLUTION_DAG = '''\
"""
### My first DAG

Reads which batch dates the warehouse holds, then reports the newest one.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task

from lab.airflow import dag_support


@dag(
    schedule="@daily",
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["sandbox", "exercise"],
    default_args={
        "owner": "learner",
        "retries": 1,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_policy": dag_support.retry_policy(),
    },
)
def my_first_dag():
    """
    ### My first DAG

    Reads which batch dates the warehouse holds, then reports the newest one.
    """

    @task(pool=dag_support.WAREHOUSE_POOL)
    def loaded_dates() -> list[str]:
        from lab import ingest

        return [day.isoformat() for day in ingest.loaded_dates()]

    @task
    def report(dates: list[str]) -> str:
        return f"{len(dates)} batch dates loaded, the newest {dates[-1] if dates else 'none'}"

    report(loaded_dates())


my_first_dag()'''


def _executed(settings: Settings | None = None) -> list[Path]:
    settings = settings or get_settings()
    return sorted((settings.runs_dir / OUTPUT_FOLDER).glob("*.ipynb"))


def check_papermill(answers) -> Verdict:
    import nbformat

    found = _executed()
    if not found:
        return Verdict(
            False,
            f"no executed notebook in runs/{OUTPUT_FOLDER}/: papermill.execute_notebook(input, output, parameters=...)",
        )
    notes = []
    for path in found:
        nb = nbformat.read(path, as_version=4)
        meta = nb.metadata.get("papermill") or {}
        if not meta:
            notes.append(f"{path.name} was not executed by papermill")
            continue
        if not str(meta.get("input_path", "")).endswith("01_ingestion.ipynb"):
            notes.append(
                f"{path.name} ran {Path(str(meta.get('input_path'))).name}, not 01_ingestion.ipynb"
            )
            continue
        params = meta.get("parameters") or {}
        if str(params.get("run_date")) != DAY or params.get("rows") != ROWS:
            notes.append(
                f"{path.name} ran with run_date={params.get('run_date')!r}, rows={params.get('rows')!r}; the task asks for run_date={DAY!r}, rows={ROWS}"
            )
            continue
        if meta.get("exception") or any(
            o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", [])
        ):
            notes.append(f"{path.name} stopped with an error: open it to see the cell")
            continue
        loaded = int(
            get_warehouse().scalar(
                f"select count(*) from {RAW_ORDERS} where batch_date = ?", [day_of(LESSON)]
            )
            or 0
        )
        if loaded != ROWS:
            notes.append(
                f"{RAW_ORDERS} holds {loaded} rows of {DAY}, not the {ROWS} that run loaded: was it run again since?"
            )
            continue
        return Verdict(
            True, f"{path.name}: lesson 01 ran for {DAY} with {ROWS} rows and loaded them"
        )
    return Verdict(False, "; ".join(notes))


_PROBES: dict[tuple, dict] = {}


def probe(test: bool = True, settings: Settings | None = None) -> dict:
    """Check the learner's DAG against the rules and, with `test` when it follows them, run
    dag.test(): one Airflow subprocess a version of the file (the first dag.test() of a sandbox
    also prepares its metadata database, ~6 s). Tasks 2 and 3 share its answer."""

    settings = settings or get_settings()
    path = settings.root / DAG_FILE
    key = (str(path), path.stat().st_mtime_ns, test, str(settings.home))
    if key in _PROBES:
        return _PROBES[key]
    home = settings.home / "airflow-exercise"
    airflow_local.prepare_airflow_home(home)
    env = airflow_local.airflow_env(home, settings=settings)
    result = subprocess.run(
        [sys.executable, "-m", "lab.exercises.dag_probe", str(path), *(["--test"] if test else [])],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    outcome = (
        json.loads(lines[-1])
        if lines
        else {
            "problems": [
                f"the DAG could not be checked: {(result.stderr.strip().splitlines() or ['no output'])[-1]}"
            ],
            "states": {},
        }
    )
    _PROBES[key] = outcome
    return outcome


def check_dag_rules(answers) -> Verdict:
    path = get_settings().root / DAG_FILE
    if not path.exists():
        return Verdict(
            False,
            f"{DAG_FILE} does not exist: write it with exercises.write_file({DAG_FILE!r}, code)",
        )
    problems = probe(test=True)["problems"]  # the rules, and dag.test() for task 3 at once
    if problems:
        return Verdict(False, f"{DAG_FILE} breaks the DAG rules: {'; '.join(problems[:3])}")
    return Verdict(True, f"{DAG_FILE} parses cleanly and follows the DAG rules")


def check_dag_test(answers) -> Verdict:
    if not check_dag_rules(answers).done:
        return Verdict(False, "the DAG must pass the rules first (task 2)")
    outcome = probe(test=True)
    states = outcome["states"]
    if outcome["problems"] or not states:
        return Verdict(
            False, f"dag.test() did not run: {'; '.join(outcome['problems']) or 'no task ran'}"
        )
    bad = {t: s for t, s in states.items() if s != "success"}
    if bad:
        return Verdict(
            False,
            f"dag.test(): {', '.join(f'{t} {s}' for t, s in bad.items())}; read the task's log in the output above",
        )
    return Verdict(True, f"dag.test() ran {len(states)} tasks, all succeeded")


def start(settings: Settings) -> list[str]:
    said: list[str] = []
    delete_day(day_of(LESSON), settings, said)
    remove([settings.runs_dir / OUTPUT_FOLDER, settings.root / DAG_FILE], settings, said)
    forget(LESSON, settings)
    return said


EXERCISE = register(
    Exercise(
        lesson=LESSON,
        title="orchestrate",
        notebook="05_orchestration.ipynb",
        start=start,
        work=f"the batch of {DAY}, runs/{OUTPUT_FOLDER}/ and {DAG_FILE}",
        files=(DAG_FILE,),
        tasks=[
            Task(
                "1",
                f"run lesson 01 with papermill for {DAY} and {ROWS} rows, saved in runs/{OUTPUT_FOLDER}/",
                check_papermill,
                [
                    "papermill.execute_notebook(input_path, output_path, parameters={...}, cwd=...) runs a notebook with parameters.",
                    f"The lesson's parameters cell names them: run_date and rows. The output goes in settings.runs_dir / '{OUTPUT_FOLDER}'.",
                ],
                "import papermill\n"
                f"out = settings.runs_dir / '{OUTPUT_FOLDER}' / '01_ingestion_{DAY}.ipynb'\n"
                "out.parent.mkdir(parents=True, exist_ok=True)\n"
                "papermill.execute_notebook(settings.notebooks_dir / '01_ingestion.ipynb', out,\n"
                f"    parameters={{'run_date': '{DAY}', 'rows': {ROWS}}}, cwd=settings.notebooks_dir)",
            ),
            Task(
                "2",
                f"write a DAG of two tasks in {DAG_FILE} that follows the DAG rules",
                check_dag_rules,
                [
                    "dags/example_dag.py is the model: one @dag function named as the file, schedule, a tz-aware start_date, catchup=False, tags, a docstring.",
                    "default_args with owner, retries and retry_policy=dag_support.retry_policy() (from lab.airflow import dag_support); two @task functions, one taking the other's result.",
                    "Airflow runs the file's top and the @dag function's body every time it parses the file: import pandas or lab.ingest inside the task that uses them, and read a Variable or a connection inside a task (or write the template '{{ var.value.name }}').",
                ],
                SOLUTION_DAG,
            ),
            Task(
                "3",
                "run it with dag.test() and see every task succeed (the check runs it)",
                check_dag_test,
                [
                    "A task that fails shows its traceback in the check's output.",
                ],
                "the check runs dag.test() for you; lab.exercises.ex05_orchestration.probe(test=True) shows the task states",
            ),
        ],
    )
)
