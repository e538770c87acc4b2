"""Exercise 05's checks: papermill runs judged by their metadata, DAGs by Airflow itself."""

from __future__ import annotations

import shutil
import subprocess

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


def test_the_solutions_papermill_run_passes_and_its_output_carries_no_kernel_warning(
    exercise_sandbox, monkeypatch
):
    """The solution's first cell and its papermill cell, run as the grader runs a notebook:
    the kernel papermill starts is the sandbox's own, quiet about its TCP transport."""
    import nbformat

    from lab.exercises import grading

    # ipykernel shows what a process it started writes to stderr in the cell, as a learner
    # sees it, unless it runs under pytest: the kernel must not know it does.
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    settings = get_settings()
    solution = nbformat.read(
        settings.exercises_dir / "solutions" / "05_orchestration.ipynb", as_version=4
    )
    code = [c for c in solution.cells if c.cell_type == "code"]
    papermill_cell = next(c for c in code if "papermill.execute_notebook" in c.source)
    notebook = nbformat.v4.new_notebook(cells=[code[0], papermill_cell])
    notebook.metadata = solution.metadata
    path = settings.exercises_dir / "papermill_run.ipynb"
    nbformat.write(notebook, path)
    assert grading.run_notebook(path), "the solution's papermill cell raised"
    outputs = nbformat.read(path, as_version=4).cells[1].outputs
    said = "".join(o.get("text", "") for o in outputs)
    assert "without encryption" not in said and "WARNING" not in said, said
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
            bad_dag(
                "from airflow.sdk import dag, task", "from airflow.sdk import dag, not_a_name, task"
            ),
            ("import error", "not_a_name"),
        ),
    ],
    ids=["no-tags-catchup", "no-retries", "one-task", "wrong-dag-id", "import-error"],
)
def test_dags_that_break_the_rules_are_named(exercise_sandbox, code, problems):
    exercises.write_file(ex.DAG_FILE, code)
    feedback = check()
    not_done(feedback, "2", "breaks the DAG rules", *problems)
    not_done(feedback, "3", "must pass the rules first")


HEAVY = "runs every time Airflow parses the file (every 30 s)"
PARSE_TIME_VARIABLE = "reads an Airflow Variable (a metadata database query) every time Airflow"


@pytest.mark.parametrize(
    ("code", "problems"),
    [
        (
            bad_dag("import datetime as dt\n", "import datetime as dt\n\nimport pandas as pd\n"),
            (f"line 11: `import pandas as pd` {HEAVY}", "move `import pandas as pd` into the task"),
        ),
        (
            bad_dag(
                "from lab.airflow import dag_support\n",
                "from lab import ingest\nfrom lab.airflow import dag_support\n",
            ),
            (f"`from lab import ingest` {HEAVY}",),
        ),
        (
            bad_dag("import datetime as dt\n", "import datetime as dt\n\nimport lab.ingest as x\n"),
            ("move `import lab.ingest as x` into the task function",),
        ),
        (
            bad_dag(
                "import datetime as dt\n", "import datetime as dt\n\nif True:\n    import pandas\n"
            ),
            (f"line 12: `import pandas` {HEAVY}",),
        ),
        (
            bad_dag(
                "from lab.airflow import dag_support\n",
                "from lab.airflow import dag_support\nfrom airflow.sdk import Variable\n\n"
                "OWNER = Variable.get('owner', default='learner')\n",
            ),
            (f"`Variable.get('owner', default='learner')` {PARSE_TIME_VARIABLE}",),
        ),
        (
            bad_dag(
                "    @task(pool=dag_support.WAREHOUSE_POOL)\n",
                "    from airflow.sdk import Variable\n\n    day = Variable.get('day')\n\n"
                "    @task(pool=dag_support.WAREHOUSE_POOL)\n",
            ),
            (
                f"`Variable.get('day')` {PARSE_TIME_VARIABLE}",
                "(in the body of @dag my_first_dag, which runs at parse time)",
            ),
        ),
    ],
    ids=["pandas", "lab-ingest", "import-as", "inside-if-true", "variable", "variable-in-dag-body"],
)
def test_dags_that_work_at_parse_time_are_not_yet_named_with_the_line(
    exercise_sandbox, code, problems
):
    exercises.write_file(ex.DAG_FILE, code)
    feedback = check()
    not_done(feedback, "2", "breaks the DAG rules", *problems)
    not_done(feedback, "3", "must pass the rules first")


def test_a_dag_reading_variables_in_its_tasks_and_templates_follows_the_rules(exercise_sandbox):
    code = bad_dag(
        "    @task\n    def report(dates: list[str]) -> str:\n",
        "    @task\n    def report(dates: list[str], greeting='{{ var.value.greeting }}') -> str:\n"
        "        import pandas as pd\n        from airflow.sdk import Variable\n\n"
        "        Variable.get('owner', default='learner')\n        pd.Series(dates)\n",
    )
    exercises.write_file(ex.DAG_FILE, code)
    verdict = ex.check_dag_rules(None)
    assert verdict.done, verdict.message


def test_the_solution_dag_passes_dag_test_and_a_failing_task_is_named(
    exercise_sandbox, monkeypatch
):
    """One Airflow process a check: the rules, the metadata database and dag.test() at once."""
    started = []
    real_run = subprocess.run

    def run(args, *more, **options):
        started.append(" ".join(map(str, args)))
        return real_run(args, *more, **options)

    monkeypatch.setattr(subprocess, "run", run)
    exercises.write_file(ex.DAG_FILE, ex.SOLUTION_DAG)
    feedback = check()
    done(feedback, "2")
    done(feedback, "3")
    assert len(started) == 1 and "lab.exercises.dag_probe" in started[0], started
    exercises.write_file(
        ex.DAG_FILE,
        bad_dag(
            '        return f"{len(dates)}',
            "        raise ValueError('boom')\n        return f\"{len(dates)}",
        ),
    )
    not_done(check(), "3", "report failed")
