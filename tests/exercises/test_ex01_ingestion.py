"""Exercise 01's checks: each task done for a right answer, not done (and why) for wrong ones."""

from __future__ import annotations

import pytest

from lab import exercises, ingest
from tests.exercises.conftest import done, not_done

DAY = exercises.EXERCISE_DATES["01"]
RECONCILE = exercises.get("01").task("3").solution.split('"""')[1]


def check(**answers):
    return exercises.check("01", **answers)


@pytest.fixture
def dirty_day(exercise_sandbox):
    ingest.land_batch(DAY, dirty=0.2)
    ingest.load_batch(DAY)
    return exercise_sandbox


def test_a_dirty_day_loaded_passes_tasks_1_and_2(dirty_day):
    feedback = check(reconcile_sql=RECONCILE)
    done(feedback, "1")
    done(feedback, "2")
    done(feedback, "3")
    not_done(feedback, "4", "no quarantined row of 2026-11-10 is repaired yet")


def test_a_dirty_fraction_of_0_05_is_not_the_task(exercise_sandbox):
    ingest.land_batch(DAY, dirty=0.05)
    ingest.load_batch(DAY)
    not_done(check(), "1", "is not a dirty=0.2 batch", "fail row validation")


def test_nothing_landed_is_named(exercise_sandbox):
    not_done(check(), "1", "no batch is landed for 2026-11-10")


def test_a_clean_file_landed_over_the_dirty_one_without_reloading_is_caught(dirty_day):
    ingest.land_batch(DAY, dirty=0.0)
    feedback = check()
    not_done(feedback, "1", "is not a dirty=0.2 batch")
    not_done(feedback, "2", "does not match the landed file", "Load the landed file again")


def test_landed_but_not_loaded_is_named(exercise_sandbox):
    ingest.land_batch(DAY, dirty=0.2)
    not_done(check(), "2", "no rows of 2026-11-10 are in the warehouse")


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        (
            "select batch_date, count(*) as loaded from raw_orders group by batch_date",
            "lacks the column(s) quarantined",
        ),
        (
            "select r.batch_date, count(r.order_id) as loaded, count(q.line_number) as quarantined "
            "from raw_orders r left join quarantine_orders q on r.batch_date = q.batch_date "
            "group by r.batch_date",
            "a join of the two tables multiplies rows",
        ),
        (
            f"select batch_date, (select count(*) from raw_orders where batch_date = '{DAY}') as "
            f"loaded, (select count(*) from quarantine_orders where batch_date = '{DAY}') as "
            f"quarantined from raw_orders where batch_date = '{DAY}' group by batch_date",
            "returns 1 of the",
        ),
        ("select * from no_such_table", "does not run"),
        ("", "`reconcile_sql` is empty"),
    ],
    ids=["missing-column", "join-multiplies", "one-date-only", "broken-sql", "empty"],
)
def test_wrong_reconcile_queries_are_named(dirty_day, query, problem):
    not_done(check(reconcile_sql=query), "3", problem)


def _repair(fix_file: bool, reload: bool, sql_insert: bool = False) -> int:
    batch = ingest.read_batch(ingest.batch_path(DAY))
    bad = ingest.quarantined_rows(DAY)
    row = bad[bad.reason.str.startswith("status")].iloc[0]
    if fix_file:
        batch.loc[row.line_number - 2, "status"] = "placed"
        ingest.land_batch(DAY, frame=batch)
    if reload:
        ingest.load_batch(DAY)
    if sql_insert:
        exercises.sql(
            "insert into raw_orders select ?, ?, ?, 'placed', ?, ?",
            [int(row.order_id), int(row.customer_id), row.order_date, float(row.amount), DAY],
        )
    return int(row.order_id)


def test_a_repaired_and_replayed_row_passes(dirty_day):
    order = _repair(fix_file=True, reload=True)
    feedback = check(reconcile_sql=RECONCILE)
    done(feedback, "4")
    assert str(order) in feedback.verdicts[3].message, str(feedback)
    assert feedback.passed, str(feedback)


def test_a_repaired_file_not_reloaded_is_caught(dirty_day):
    order = _repair(fix_file=True, reload=False)
    not_done(check(), "4", f"repaired row for order {order}", "load the day again")


def test_a_row_inserted_by_hand_without_repairing_the_file_is_caught(dirty_day):
    order = _repair(fix_file=False, reload=False, sql_insert=True)
    not_done(
        check(), "4", f"order {order} is in raw_orders but the landed file still has it broken"
    )


def test_an_answer_not_set_yet_is_named_with_the_cell_to_run(dirty_day):
    from lab.exercises.core import Unset

    not_done(
        check(reconcile_sql=Unset("reconcile_sql")),
        "3",
        "`reconcile_sql` is not set yet: run the cell that sets `reconcile_sql` first",
    )


def _notebook_says(source: str) -> None:
    """Replace the notebook's answer cell for reconcile_sql, as a learner editing it would."""
    import nbformat

    from lab.config import get_settings

    path = get_settings().exercises_dir / "01_ingestion.ipynb"
    nb = nbformat.read(path, as_version=4)
    (cell,) = [c for c in nb.cells if c.source.startswith("reconcile_sql =")]
    cell.source = source
    nbformat.write(nb, path)


def test_lab_grade_never_counts_an_earlier_checks_answer_for_a_blank_one(dirty_day, capsys):
    from lab import cli

    done(check(reconcile_sql=RECONCILE), "3")  # an earlier attempt, recorded by its check
    _notebook_says("reconcile_sql = None  # TODO")
    capsys.readouterr()
    assert cli.main(["grade", "1"]) == 1
    out = capsys.readouterr().out
    assert "[ ] 3." in out and "`reconcile_sql` is empty" in out, out


def test_lab_grade_of_a_computed_answer_uses_the_last_check_or_says_to_run_it(dirty_day, capsys):
    from lab import cli

    _notebook_says('reconcile_sql = open("my_query.sql").read()')
    capsys.readouterr()
    assert cli.main(["grade", "1"]) == 1
    out = capsys.readouterr().out
    assert "`reconcile_sql` is not set yet: 01_ingestion.ipynb computes it" in out, out
    assert "run the notebook's check cell once" in out, out
    done(check(reconcile_sql=RECONCILE), "3")  # the notebook's check records the value it used
    capsys.readouterr()
    cli.main(["grade", "1"])
    out = capsys.readouterr().out
    assert "[x] 3." in out, out
