"""Exercise 05's checks: papermill runs judged by their metadata, DAGs by Airflow itself."""

from __future__ import annotations

import shutil

import pytest

from lab import exercises
from lab.config import get_settings
from lab.exercises import ex05_orchestration as ex
from tests.exercises.conftest import done, not_done

pytestmark = pytest.mark.slow


def check():
    return exercises.check("05")


def run_lesson(**parameters) -> None:
    import papermill

    settings = get_settings()
    out = settings.runs_dir / ex.OUTPUT_FOLDER / "run.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        settings.notebooks_dir / "01_ingestion.ipynb",
        out,
        parameters=parameters,
        cwd=settings.notebooks_dir,
        progress_bar=False,
    )


def test_a_run_with_the_right_parameters_passes_and_wrong_ones_are_named(exercise_sandbox):
    not_done(check(), "1", "no executed notebook in runs/exercise-05/")
    run_lesson(run_date=ex.DAY, rows=500)
    not_done(check(), "1", "ran with run_date='2026-11-12', rows=500", "rows=300")
    run_lesson(run_date=ex.DAY, rows=ex.ROWS)
    done(check(), "1")


def test_a_copied_notebook_is_not_a_papermill_run(exercise_sandbox):
    settings = get_settings()
    (settings.runs_dir / ex.OUTPUT_FOLDER).mkdir(parents=True)
    shutil.copy(settings.notebooks_dir / "01_ingestion.ipynb", settings.runs_dir / ex.OUTPUT_FOLDER)
    not_done(check(), "1", "was not executed by papermill")


def bad_dag(old: str, new: str) -> str:
    assert old in ex.SOLUTION_DAG, old
    return ex.SOLUTION_DAG.replace(old, new)


@pytest.mark.parametrize(
    ("code", "problems"),
    [
        (
            bad_dag('    tags=["sandbox", "exercise"],\n', "").replace(
                "catchup=False", "catchup=True"
            ),
            ("no tags", "catchup is not False"),
        ),
        (bad_dag('        "retries": 1,\n', ""), ("set retries",)),
        (
            bad_dag("    report(loaded_dates())\n", "    loaded_dates()\n"),
            ("1 task(s) and no dependency",),
        ),
        (
            bad_dag("def my_first_dag():", "def another_dag():").replace(
                "my_first_dag()", "another_dag()"
            ),
            ("one DAG whose dag_id is 'my_first_dag'",),
        ),
        (
            bad_dag("import datetime as dt", "import datetime as dt\nimport not_a_module"),
            ("import error",),
        ),
    ],
    ids=["no-tags-catchup", "no-retries", "one-task", "wrong-dag-id", "import-error"],
)
def test_dags_that_break_the_rules_are_named(exercise_sandbox, code, problems):
    exercises.write_file(ex.DAG_FILE, code)
    feedback = check()
    not_done(feedback, "2", "breaks the DAG rules", *problems)
    not_done(feedback, "3", "must pass the rules first")


def test_the_solution_dag_passes_dag_test_and_a_failing_task_is_named(exercise_sandbox):
    exercises.write_file(ex.DAG_FILE, ex.SOLUTION_DAG)
    feedback = check()
    done(feedback, "2")
    done(feedback, "3")
    exercises.write_file(
        ex.DAG_FILE,
        bad_dag(
            '        return f"{len(dates)}',
            "        raise ValueError('boom')\n        return f\"{len(dates)}",
        ),
    )
    not_done(check(), "3", "report failed")
