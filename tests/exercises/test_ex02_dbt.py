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


def test_a_blank_state_says_what_to_write_and_how_to_build_it(exercise_sandbox):
    not_done(
        check(),
        "1",
        "dbt does not know a model 'customer_returns' yet: write its SQL to "
        "dbt/models/marts/exercises/customer_returns.sql",
        "transform.build(select='customer_returns')",
        "`lab dbt build --select customer_returns` in a terminal",
    )


def test_a_model_file_never_built_is_named(exercise_sandbox):
    write(yaml=None)
    not_done(
        check(),
        "1",
        "dbt/models/marts/exercises/customer_returns.sql exists, but dbt has not read it yet: "
        "build it with transform.build(select='customer_returns')",
    )


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
    completed = "          - {order_id: 3, customer_id: 7, status: completed}\n"
    another_customer = "          - {order_id: 4, customer_id: 9, status: completed}\n"
    write(yaml=ex.SOLUTION_YAML.replace(completed, completed + another_customer))  # expect lacks 9
    transform.build(select="staging")
    feedback = check()
    not_done(feedback, "3", "unit test customer_returns_counts_only_completed_returns: fail")
    done(feedback, "4")  # the check ran dbt test itself, and put dbt's own latest results back


# --- the mart reads the staging layer, and only it ---------------------------------------

STAGING_ONLY = "a mart reads the staging layer only: {{ ref('stg_orders') }}"


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        (
            ex.SOLUTION_SQL.replace("ref('stg_orders')", "source('sandbox', 'raw_orders')"),
            "customer_returns reads the source source('sandbox', 'raw_orders')",
        ),
        (
            ex.SOLUTION_SQL.replace("{{ ref('stg_orders') }}", "raw_orders"),
            "customer_returns's SQL names the table raw_orders literally",
        ),
        (
            ex.SOLUTION_SQL.replace("{{ ref('stg_orders') }}", "main.stg_orders"),
            "customer_returns's SQL names the table stg_orders literally",
        ),
        (
            ex.SOLUTION_SQL.replace(
                "select * from {{ ref('stg_orders') }}",
                "select o.* from {{ ref('stg_orders') }} as o\n"
                "    join {{ ref('raw_customers') }} as c on c.id = o.customer_id",
            ),
            "customer_returns reads the seed ref('raw_customers')",
        ),
        (
            ex.SOLUTION_SQL.replace(
                "select * from {{ ref('stg_orders') }}",
                "select o.* from {{ ref('stg_orders') }} as o\n"
                "    where o.order_id in (select order_id from raw_orders)",
            ),
            "names the table raw_orders literally",
        ),
    ],
    ids=["source", "raw-table-by-name", "staging-by-name", "seed-joined", "raw-table-in-subquery"],
)
def test_a_mart_that_skips_the_staging_layer_is_named(exercise_sandbox, sql, problem):
    write(sql, yaml=MODEL_YAML)
    run = transform.build(select=ex.MODEL)
    assert run.count("model", "success") == 1, str(run)  # it builds, and its counts are right
    not_done(check(), "1", problem, STAGING_ONLY)


@pytest.mark.parametrize(
    "sql",
    [
        "select\n    customer_id,\n    count(order_id) as number_of_orders,\n"
        "    count_if(status = 'returned') as number_of_returns\n"
        "from {{ ref('stg_orders') }}\ngroup by customer_id",
        "-- the orders come from raw_orders, through stg_orders\n"
        'with raw_orders as (select * from {{ ref("stg_orders") }})\n'
        "select o.customer_id, count(*) as number_of_orders,\n"
        "    sum(case when o.status = 'returned' then 1 else 0 end) as number_of_returns\n"
        "from raw_orders as o\n"
        "join {{ ref('stg_customers') }} as c on c.customer_id = o.customer_id\n"
        "group by o.customer_id",
    ],
    ids=["count-order-id-count-if", "cte-named-raw-orders-joining-stg-customers"],
)
def test_equivalent_marts_pass(exercise_sandbox, sql):
    yaml = ex.SOLUTION_YAML
    if "stg_customers" in sql:  # a unit test gives rows for every model the mart reads
        yaml = yaml.replace(
            "    expect:\n",
            "      - input: ref('stg_customers')\n        rows:\n          - {customer_id: 7}\n"
            "    expect:\n",
        )
    write(sql, yaml=yaml)
    run = transform.build(select=ex.MODEL)
    assert run.success, str(run.failures)
    feedback = check()
    for task in ("1", "2", "3"):
        done(feedback, task)


# --- the unit test shows a pending return ------------------------------------------------

UNIT_HEAD = """
unit_tests:
  - name: pending_is_not_returned
    model: customer_returns
    given:
      - input: ref('stg_orders')
"""


@pytest.mark.parametrize(
    "unit",
    [
        UNIT_HEAD
        + """        format: csv
        rows: |
          order_id,customer_id,order_date,status,amount
          1,7,2026-11-01,returned,10.00
          2,7,2026-11-01,return_pending,20.00
          3,8,2026-11-02,return_pending,5.00
    expect:
      format: csv
      rows: |
        customer_id,number_of_orders,number_of_returns
        7,2,1
        8,1,0
""",
        UNIT_HEAD
        + """        format: sql
        rows: |
          select 1 as order_id, 7 as customer_id, 'return_pending' as status
          union all select 2, 7, 'completed'
    expect:
      rows:
        - {number_of_returns: 0}
""",
    ],
    ids=["csv-two-customers-extra-columns", "sql-rows-expect-one-column"],
)
def test_equivalent_unit_tests_pass(exercise_sandbox, unit):
    write(yaml=MODEL_YAML + unit)
    transform.build(select=ex.MODEL)
    done(check(), "3")


@pytest.mark.parametrize(
    ("unit", "problem"),
    [
        (
            UNIT_YAML.replace(
                "          - {order_id: 2, customer_id: 7, status: return_pending}\n", ""
            ).replace("number_of_orders: 3", "number_of_orders: 2"),
            "no unit test on customer_returns shows the case it is for: its given rows for "
            "ref('stg_orders') need an order with status return_pending",
        ),
        (
            UNIT_YAML.replace("number_of_returns: 1}", "number_of_returns: 2}"),
            "unit test customer_returns_counts_only_completed_returns expects number_of_returns 2 "
            "for customer 7, but its given rows hold 1 order(s) with status 'returned': "
            "a return_pending order is not a return",
        ),
        (
            UNIT_YAML.replace("number_of_orders: 3", "number_of_orders: 2"),
            "expects number_of_orders 2 for customer 7, but its given rows hold 3 order(s)",
        ),
        (
            UNIT_YAML.replace(
                "customer_id: 7, status: return_pending", "customer_id: 8, status: return_pending"
            ).replace("number_of_orders: 3", "number_of_orders: 2"),
            "no unit test on customer_returns shows the case it is for",
        ),
        (
            UNIT_YAML.replace("input: ref('stg_orders')", "input: source('sandbox', 'raw_orders')"),
            "unit test customer_returns_counts_only_completed_returns gives no rows for "
            "ref('stg_orders'), the mart's input (its inputs: source('sandbox', 'raw_orders'))",
        ),
    ],
    ids=[
        "no-pending-row",
        "expect-counts-the-pending-return",
        "expect-drops-the-pending-order",
        "pending-row-of-another-customer",
        "given-a-source",
    ],
)
def test_a_unit_test_that_misses_its_case_is_named(exercise_sandbox, unit, problem):
    write(yaml=MODEL_YAML + "\n" + unit)
    transform.build(select=ex.MODEL)
    not_done(check(), "3", problem)


def test_a_unit_test_on_another_model_is_named(exercise_sandbox):
    unit = UNIT_YAML.replace("model: customer_returns", "model: stg_customers").replace(
        "ref('stg_orders')", "ref('raw_customers')"
    )
    write(yaml=MODEL_YAML + "\n" + unit)
    transform.build(select=ex.MODEL)
    not_done(
        check(),
        "3",
        "your unit test customer_returns_counts_only_completed_returns tests the model "
        "stg_customers, not customer_returns: set `model: customer_returns`",
    )


def test_a_relationships_test_to_another_model_is_named(exercise_sandbox):
    write(yaml=ex.SOLUTION_YAML.replace("to: ref('stg_customers')", "to: ref('customer_orders')"))
    transform.build(select=ex.MODEL)
    not_done(
        check(),
        "2",
        "the relationships test points to ref('customer_orders'), not ref('stg_customers')",
    )
