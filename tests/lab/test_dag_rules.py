"""lab.dag_rules: DAG files read as source (no Airflow), and the house rules' schedule check."""

from __future__ import annotations

import pytest

from lab import dag_rules

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
