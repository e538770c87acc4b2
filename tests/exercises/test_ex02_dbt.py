"""Exercise 02's checks against real dbt runs: right answers pass, wrong ones are named."""

from __future__ import annotations

import pytest

from lab import exercises, transform
from lab.exercises import ex02_dbt as ex
from tests.exercises.conftest import done, not_done

pytestmark = pytest.mark.slow
MODEL_YAML, UNIT_YAML = ex.SOLUTION_YAML.split("\nunit_tests:")
UNIT_YAML = "unit_tests:" + UNIT_YAML
SQL = f"{ex.FOLDER}/{ex.MODEL}.sql"
YAML = f"{ex.FOLDER}/{ex.MODEL}.yml"


def write(sql: str = ex.SOLUTION_SQL, yaml: str | None = ex.SOLUTION_YAML) -> None:
    exercises.write_file(SQL, sql)
    if yaml is not None:
        exercises.write_file(YAML, yaml)


def check():
    return exercises.check("02")


def test_the_solution_passes_and_only_a_staging_build_completes_it(exercise_sandbox):
    write()
    transform.build(select=ex.MODEL)
    feedback = check()
    for task in ("1", "2", "3"):
        done(feedback, task)
    not_done(feedback, "4", "also built customer_returns")
    transform.build(select="staging")
    assert check().passed, str(check())


def test_building_one_staging_model_of_two_is_not_the_staging_layer(exercise_sandbox):
    transform.build(select="stg_orders")
    not_done(check(), "4", "did not build stg_customers")


def test_building_everything_is_not_the_staging_layer(exercise_sandbox):
    transform.build()
    not_done(check(), "4", "also built customer_orders")


def test_running_without_tests_is_not_a_build(exercise_sandbox):
    transform.run(select="staging")
    not_done(check(), "4", "not `build`")


def test_a_model_file_never_built_is_named(exercise_sandbox):
    write(yaml=None)
    not_done(check(), "1", "dbt does not know a model 'customer_returns'")


def test_a_missing_column_is_named(exercise_sandbox):
    write(
        ex.SOLUTION_SQL.replace(
            ",\n        sum(case when status = 'returned' then 1 else 0 end) as number_of_returns",
            "",
        ),
        yaml=MODEL_YAML,
    )
    transform.build(select=ex.MODEL)
    not_done(check(), "1", "lacks the column(s) number_of_returns")


def test_counting_pending_returns_as_returns_is_caught(exercise_sandbox):
    write(ex.SOLUTION_SQL.replace("status = 'returned'", "status like 'return%'"), yaml=MODEL_YAML)
    transform.build(select=ex.MODEL)
    not_done(check(), "1", "only status 'returned' as a return")


def test_a_missing_relationships_test_and_description_are_named(exercise_sandbox):
    yaml = MODEL_YAML.replace(
        "          - relationships:\n              arguments:\n                to: ref('stg_customers')\n                field: customer_id\n",
        "",
    ).replace(
        "    description: One row per customer who ordered, with how many of their orders were returned.\n",
        "",
    )
    write(yaml=yaml)
    transform.build(select=ex.MODEL)
    not_done(check(), "2", "no relationships test on customer_id", "the model has no description")


def test_a_failing_dbt_test_is_named(exercise_sandbox):
    write(
        ex.SOLUTION_SQL.replace("group by customer_id", "group by customer_id, status"),
        yaml=MODEL_YAML,
    )
    transform.build(select=ex.MODEL)
    not_done(check(), "2", "unique_customer_returns_customer_id: fail")


def test_a_missing_unit_test_is_named(exercise_sandbox):
    write(yaml=MODEL_YAML)
    transform.build(select=ex.MODEL)
    not_done(check(), "3", "no unit test for customer_returns")


def test_a_failing_unit_test_is_named_and_dbt_results_are_kept(exercise_sandbox):
    write(yaml=MODEL_YAML)
    transform.build(select=ex.MODEL)
    write(yaml=ex.SOLUTION_YAML.replace("number_of_returns: 1}", "number_of_returns: 2}"))
    transform.build(select="staging")
    feedback = check()
    not_done(feedback, "3", "unit test customer_returns_counts_only_completed_returns: fail")
    done(feedback, "4")  # the check ran dbt test itself, and put dbt's own latest results back
