"""The dbt project, built through lab.transform on a prepared `local` sandbox."""

from __future__ import annotations

import datetime as dt

import pytest

from lab import steps, transform
from lab.config import RAW_ORDERS
from lab.errors import TransformError
from lab.pipeline import DEFAULT_RUN_DATE
from lab.profiles import get_warehouse

pytestmark = pytest.mark.slow

PREPARED_HISTORY_DAYS = 2
ROWS_A_DAY = 500
# From the second day on, a share of each day's rows are status updates of earlier orders:
# raw_orders keeps every delivery, stg_orders one row per order.
ORDERS = PREPARED_HISTORY_DAYS * ROWS_A_DAY - (PREPARED_HISTORY_DAYS - 1) * round(
    ROWS_A_DAY * steps.HISTORY_UPDATES
)
MODELS = {
    # name: (kind, rows)
    "stg_customers": ("view", 100),
    "stg_orders": ("view", ORDERS),
    "customer_orders": ("table", 100),
    "daily_revenue": ("table", PREPARED_HISTORY_DAYS),
    "orders": ("table", ORDERS),  # incremental: a table that later builds add to
}
# The snapshot has a version for each delivery of an order it saw: the history was built once,
# after both days were loaded, so one version an order.
SNAPSHOTS = {"orders_snapshot": ("table", ORDERS)}


@pytest.fixture(scope="module")
def built(prepared_state, use_state):
    """`dbt build` once on the module's prepared sandbox."""
    with use_state(prepared_state):
        return transform.build()


def test_build_succeeds_on_a_prepared_sandbox(built, prepared_sandbox):
    assert built.success, f"expected dbt build to succeed, got {built}:\n{built.failures}"
    assert built.raise_on_failure() is built
    assert built.count("model", "success") == len(MODELS), built.table()
    assert built.count("snapshot", "success") == len(SNAPSHOTS), built.table()
    assert built.count("test", "pass") >= 10, built.table()
    assert built.count("unit_test", "pass") >= 5, (
        f"expected the YAML unit tests to pass:\n{built.table()}"
    )
    assert str(built).startswith("dbt build: OK ("), str(built)


def test_models_have_their_materialization_and_row_counts(built, prepared_sandbox):
    tables = get_warehouse().tables().set_index("name")
    found = {
        name: (tables.at[name, "kind"], int(tables.at[name, "rows"]))
        if name in tables.index
        else None
        for name in {**MODELS, **SNAPSHOTS}
    }
    assert found == {**MODELS, **SNAPSHOTS}, f"expected {MODELS} and {SNAPSHOTS}, got {found}"


def test_customer_orders_has_one_row_per_customer_with_orders_counted(built, prepared_sandbox):
    warehouse = get_warehouse()
    summary = warehouse.query(
        "select count(*) as customers, count(distinct customer_id) as ids, "
        "sum(number_of_orders) as orders from customer_orders"
    ).iloc[0]
    expected = (100, 100, ORDERS)
    got = (int(summary["customers"]), int(summary["ids"]), int(summary["orders"]))
    assert got == expected, f"expected (customers, ids, orders) {expected}, got {got}"


def test_stg_orders_keeps_the_latest_of_each_orders_deliveries(built, prepared_sandbox):
    counts = (
        get_warehouse()
        .query(
            "select (select count(*) from raw_orders) as deliveries, "
            "(select count(distinct order_id) from raw_orders) as orders, "
            "(select count(*) from stg_orders) as staged, "
            "(select count(*) from stg_orders s join raw_orders r using (order_id) "
            " where r.batch_date > s.batch_date or (r.batch_date = s.batch_date "
            " and r.status <> s.status)) as stale"
        )
        .iloc[0]
    )
    got = tuple(int(counts[k]) for k in ("deliveries", "orders", "staged", "stale"))
    expected = (PREPARED_HISTORY_DAYS * ROWS_A_DAY, ORDERS, ORDERS, 0)
    assert got == expected and ORDERS < expected[0], (
        f"expected (deliveries, orders, staged, staged rows older than a delivery) {expected}, "
        f"got {got}"
    )


def test_daily_revenue_has_one_row_per_history_day(built, prepared_sandbox):
    end = dt.date.fromisoformat(DEFAULT_RUN_DATE)
    expected = [end - dt.timedelta(days=n) for n in range(PREPARED_HISTORY_DAYS, 0, -1)]
    days = get_warehouse().query("select order_date from daily_revenue order by 1")["order_date"]
    got = [d.date() if hasattr(d, "date") else d for d in days]
    assert got == expected, f"expected {expected}, got {got}"


def test_a_broken_relationship_surfaces_as_transform_error_naming_the_node(sandbox_copy):
    warehouse = get_warehouse()
    warehouse.execute(
        f"insert into {RAW_ORDERS} values (?, ?, ?, ?, ?, ?)",
        [999_999_999, 424242, dt.date(2026, 10, 31), "placed", 10.0, dt.date(2026, 10, 31)],
    )
    run = transform.build()
    assert not run.success, f"expected the build to fail on an unknown customer, got {run}"
    failed = run.failures
    relationship = failed[failed["name"].str.startswith("relationships_stg_orders_customer_id")]
    assert list(relationship["status"]) == ["fail"], (
        f"expected the relationships test to fail:\n{failed}"
    )
    with pytest.raises(TransformError) as info:
        run.raise_on_failure()
    message = str(info.value)
    assert message.startswith("dbt build failed: "), message
    assert "test relationships_stg_orders_customer_id" in message and "(fail)" in message, message
    assert "Fix: read the messages with run.failures" in message, message


def test_a_dbt_command_that_cannot_run_is_a_transform_error(prepared_sandbox):
    run = transform.dbt("build", "--select", "no_such_model_anywhere+", "--no-such-flag")
    assert not run.success and run.error, f"expected an error, got {run}"
    with pytest.raises(TransformError, match=r"could not run: "):
        run.raise_on_failure()
