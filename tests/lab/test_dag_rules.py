"""lab.airflow.dag_rules: DAG files read as source (no Airflow), and the house rules' schedule check."""

from __future__ import annotations

import pytest

from lab.airflow import dag_rules

SOURCE = '''
from airflow.sdk import DAG, dag

@dag(schedule="@daily", tags=["a", "b"])
def first_dag():
    """### First
    More."""

@dag(dag_id="renamed", tags=TAGS)
def second_dag():
    pass

with DAG("third_dag", schedule=None):
    pass
'''


def test_dag_files_are_listed_from_their_source_without_importing_airflow():
    rows = {r["dag_id"]: r for r in dag_rules.dag_files()}
    assert set(rows) >= {"example_dag", "notebook_pipeline"}, rows
    assert rows["notebook_pipeline"]["file"] == "dags/notebook_pipeline.py"
    assert rows["notebook_pipeline"]["schedule"] == "@daily"
    assert "papermill" in rows["notebook_pipeline"]["tags"]


def test_declarations_find_dag_decorators_and_dag_calls():
    found = {d["dag_id"]: d for d in dag_rules.declarations(SOURCE)}
    assert set(found) == {"first_dag", "renamed", "third_dag"}, found
    assert found["first_dag"]["doc"].startswith("### First")


@pytest.mark.parametrize(
    ("dag_id", "expected"),
    [("first_dag", "@daily"), ("third_dag", None), ("renamed", "not written")],
)
def test_written_schedule_is_the_value_of_the_schedule_keyword(dag_id, expected):
    written = dag_rules.written_schedule(SOURCE, dag_id)
    if expected == "not written":
        assert written is dag_rules.NOT_WRITTEN, written
    else:
        assert written == expected, written


def test_the_word_schedule_elsewhere_in_a_file_is_not_a_schedule():
    source = (
        "# schedule: daily, some day\n"
        "from airflow.sdk import dag\n"
        "@dag(tags=['x'])\n"
        "def lazy_dag():\n"
        '    """Runs on a schedule, one day."""\n'
    )
    assert dag_rules.written_schedule(source, "lazy_dag") is dag_rules.NOT_WRITTEN


# --- the parse-time rules, read from the source ----------------------------------------------

RIGHT_DAG = '''
"""A DAG that does its work in its tasks."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import Variable, dag, task

from lab.airflow import dag_support
from lab.contract import DEFAULT_ROWS

if TYPE_CHECKING:
    import pandas as pd


def threshold() -> str:  # a python_callable: it runs in the task
    return Variable.get("threshold")


@dag(
    schedule="@daily",
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    default_args=dag_support.default_args(),
    params={"rows": DEFAULT_ROWS},
)
def right_dag():
    """Templates are rendered when the task runs."""

    @task(pool=dag_support.WAREHOUSE_POOL)
    def loaded() -> list[str]:
        import pandas as pd
        from airflow.sdk import BaseHook

        from lab import ingest

        BaseHook.get_connection("warehouse")
        return [str(pd.Timestamp(d)) for d in ingest.loaded_dates()] + [Variable.get("x")]

    echo = BashOperator(task_id="echo", bash_command="echo {{ var.value.greeting }} {{ conn.warehouse.host }}")
    later = lambda: Variable.get("later")  # noqa: E731
    loaded() >> echo


right_dag()
'''


def _dag(body: str, top: str = "") -> str:
    """A DAG file with `top` at module level and `body` in the @dag function."""
    return (
        "import datetime as dt\n"
        "from airflow.sdk import dag, task\n"
        f"{top}\n"
        "@dag(schedule=None, start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))\n"
        "def wrong_dag():\n"
        '    """Docs."""\n'
        f"{body}\n"
        "    @task\n"
        "    def one():\n"
        "        return 1\n"
        "    one()\n"
        "wrong_dag()\n"
    )


def test_the_project_dags_and_a_dag_with_its_work_in_tasks_do_nothing_at_parse_time():
    assert dag_rules.parse_time_problems(RIGHT_DAG) == []
    for row in dag_rules.dag_files():
        source = (dag_rules.get_settings().root / row["file"]).read_text()
        assert dag_rules.parse_time_problems(source) == [], row["file"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            _dag("", top="import pandas as pd"),
            "line 3: `import pandas as pd` runs every time Airflow parses the file (every 30 s): "
            "move `import pandas as pd` into the task function that uses it",
        ),
        (
            _dag("", top="if True:\n    import numpy"),
            "line 4: `import numpy` runs every time Airflow parses the file (every 30 s): "
            "move `import numpy` into the task function that uses it",
        ),
        (
            _dag("", top="try:\n    import duckdb\nexcept ImportError:\n    duckdb = None"),
            "line 4: `import duckdb` runs",
        ),
        (_dag("", top="import lab.ingest as x"), "move `import lab.ingest as x` into the task"),
        (
            _dag("", top="from lab import ingest\nfrom lab.airflow import dag_support"),
            "move `from lab import ingest` into the task function",
        ),
        (
            _dag("", top="from lab.ingest import loaded_dates"),
            "`from lab.ingest import loaded_dates`",
        ),
        (
            _dag("", top="from airflow.providers.postgres.hooks.postgres import PostgresHook"),
            "move `from airflow.providers.postgres.hooks.postgres import PostgresHook` into",
        ),
        (
            _dag("    import pandas"),
            "line 7: `import pandas` runs every time Airflow parses the file (every 30 s) (in the "
            "body of @dag wrong_dag, which runs at parse time): move `import pandas` into",
        ),
        (_dag("", top="from . import helpers"), "move `from . import helpers` into"),
    ],
    ids=[
        "import",
        "inside-if-true",
        "inside-try",
        "import-lab-ingest-as",
        "from-lab-import",
        "from-lab-ingest",
        "provider-hook",
        "in-dag-body",
        "relative",
    ],
)
def test_heavy_imports_at_parse_time_are_named_with_their_line_and_fix(source, expected):
    found = dag_rules.parse_time_problems(source)
    assert len(found) == 1 and expected in found[0], f"expected {expected!r} in {found}"


VARIABLE = "reads an Airflow Variable (a metadata database query) every time Airflow parses"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            _dag("", top="from airflow.sdk import Variable\nLIMIT = Variable.get('limit')"),
            f"line 4: `Variable.get('limit')` {VARIABLE} the file (every 30 s): read it inside a "
            "task, or pass the template '{{ var.value.limit }}' to an operator",
        ),
        (
            _dag("", top="from airflow.sdk import Variable as V\nLIMIT = V.get('limit')"),
            f"`V.get('limit')` {VARIABLE}",
        ),
        (
            _dag("    limit = Variable.get('limit')", top="from airflow.models import Variable"),
            f"line 7: `Variable.get('limit')` {VARIABLE} the file (every 30 s) (in the body of "
            "@dag wrong_dag, which runs at parse time)",
        ),
        (
            _dag("    @task\n    def two(limit=Variable.get('limit')):\n        return limit"),
            f"line 8: `Variable.get('limit')` {VARIABLE}",
        ),
        (
            _dag("    @task(pool=Variable.get('pool'))\n    def two():\n        return 2"),
            f"`Variable.get('pool')` {VARIABLE}",
        ),
        (
            _dag(
                "",
                top="from airflow.sdk import Variable\ndef owner():\n    return Variable.get('owner')\n"
                "ARGS = {'owner': owner()}",
            ),
            f"line 5: `Variable.get('owner')` {VARIABLE} the file (every 30 s) (in owner(), called "
            "at parse time on line 6)",
        ),
        (
            _dag(
                "",
                top="from airflow.sdk import BaseHook\nURI = BaseHook.get_connection('wh').get_uri()",
            ),
            "`BaseHook.get_connection('wh')` looks up an Airflow connection (a metadata database or "
            "secrets backend query) every time Airflow parses the file (every 30 s): look it up "
            "inside a task (a hook made there does), or use the template '{{ conn.wh }}'",
        ),
        (
            _dag("", top="from airflow.sdk import Connection\nC = Connection.get('wh')"),
            "`Connection.get('wh')` looks up an Airflow connection",
        ),
        (
            _dag("    hook = airflow.providers.postgres.hooks.postgres.PostgresHook('wh')"),
            "creates a hook, which looks up its connection every time Airflow parses the file",
        ),
        (
            _dag("", top="import urllib.request\nPAGE = urllib.request.urlopen('http://x')"),
            "`urllib.request.urlopen('http://x')` makes a network call (it can hang the parse)",
        ),
        (
            _dag("", top="from lab.config import get_settings\nROOT = get_settings().root"),
            "`get_settings()` reads the sandbox settings (.env and the environment)",
        ),
        (
            "from airflow.sdk import DAG, Variable\n"
            "with DAG('wrong_dag', schedule=None):\n"
            "    day = Variable.get('day')\n",
            f"line 3: `Variable.get('day')` {VARIABLE}",
        ),
    ],
    ids=[
        "module-level",
        "aliased",
        "dag-body",
        "task-default-argument",
        "decorator-argument",
        "helper-called-at-parse-time",
        "connection",
        "connection-get",
        "hook",
        "network",
        "settings",
        "with-dag-block",
    ],
)
def test_work_at_parse_time_is_named_with_its_line_and_fix(source, expected):
    found = dag_rules.parse_time_problems(source)
    work = [f for f in found if "` runs every time" not in f]  # besides a heavy import
    assert len(work) == 1 and expected in work[0], f"expected {expected!r} in {found}"


def test_a_network_call_is_named_besides_the_import_it_needs():
    found = dag_rules.parse_time_problems(_dag("", top="import requests\nrequests.get('http://x')"))
    assert [f.split(":")[0] for f in found] == ["line 3", "line 4"], found
    assert "`import requests` runs" in found[0] and "makes a network call" in found[1], found


def test_a_file_that_is_not_python_is_named_not_raised():
    assert dag_rules.parse_time_problems("def broken(:\n") == [
        "line 1: the file is not valid Python: invalid syntax"
    ]


def test_the_light_lab_modules_import_no_data_library():
    """The `lab` modules a DAG file may import at parse time keep their promise."""
    import json
    import subprocess
    import sys

    heavy = (
        "pandas",
        "numpy",
        "duckdb",
        "pyarrow",
        "great_expectations",
        "dbt",
        "papermill",
        "s3fs",
        "airflow",
    )
    script = (
        f"import {', '.join(dag_rules.LIGHT_LAB_MODULES)}, sys, json\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    pulled = sorted(set(json.loads(result.stdout)) & set(heavy))
    assert not pulled, (
        f"{sorted(dag_rules.LIGHT_LAB_MODULES)} import {pulled}; DAG files import them at parse "
        "time. Fix: import those inside the functions that need them."
    )
