"""Exercise 03's checks with the real gate: both name forms accepted, wrong answers named."""

from __future__ import annotations

from pathlib import Path

import great_expectations.expectations as gxe
import pytest

from lab import exercises, ingest, quality
from lab.exercises.answers import CallSpec
from tests.exercises.conftest import done, not_done

pytestmark = pytest.mark.slow
DAY = exercises.EXERCISE_DATES["03"]


@pytest.fixture
def failed_gate(exercise_sandbox):
    ingest.land_batch(DAY, dirty=0.2)
    ingest.load_batch(DAY)
    quality.run_gate(DAY)
    return exercises.gate_details(DAY)


def check(**answers):
    return exercises.check("03", **answers)


def test_both_name_forms_and_a_per_row_expectation_are_accepted(failed_gate):
    failed = failed_gate[~failed_gate.success]
    mean = failed[failed.expectation == "expect_column_mean_to_be_between"].iloc[0]
    between = failed[failed.expectation == "expect_column_values_to_be_between"].iloc[0]
    for name, value in [
        ("ExpectColumnMeanToBeBetween", mean.observed_value),
        ("expect_column_mean_to_be_between", round(float(mean.observed_value), 2)),
        ("ExpectColumnValuesToBeBetween", int(between.unexpected_count)),
    ]:
        feedback = check(failing_expectation=name, observed_value=value)
        done(feedback, "1")
        done(feedback, "2")


def test_a_passed_expectation_a_wrong_value_and_no_answer_are_named(failed_gate):
    not_done(
        check(failing_expectation="ExpectTableRowCountToBeBetween", observed_value=1),
        "2",
        "passed on that day",
    )
    not_done(
        check(failing_expectation="ExpectColumnMeanToBeBetween", observed_value=12.5),
        "2",
        "its observed value (or unexpected count) is not 12.5",
    )
    not_done(check(), "2", "set failing_expectation")
    not_done(check(failing_expectation="expect_the_moon"), "2", "is not an expectation")


def test_a_clean_day_and_no_gate_run_are_named(exercise_sandbox):
    not_done(check(), "1", "the gate has not run on 2026-11-11")
    ingest.land_batch(DAY)
    ingest.load_batch(DAY)
    quality.run_gate(DAY)
    not_done(check(), "1", "passed: the batch there is clean")


def test_a_new_expectation_must_catch_the_defect_and_spare_clean_data(failed_gate):
    good = gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0)
    not_done(check(my_expectation=good), "3", "not part of the orders suite yet")
    quality.add_expectation(good)
    not_done(check(my_expectation=good), "3", "now run the gate on 2026-11-11 again")
    quality.run_gate(DAY)
    done(check(my_expectation=good), "3")
    quality.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0))
    quality.run_gate(DAY)
    done(
        check(
            my_expectation=CallSpec(
                "ExpectColumnValuesToBeBetween", {"column": "amount", "min_value": 0}
            )
        ),
        "3",
    )
    not_done(
        check(my_expectation=gxe.ExpectColumnValuesToNotBeNull(column="order_id")),
        "3",
        "catches none of the defects",
    )
    not_done(
        check(
            my_expectation=gxe.ExpectColumnMeanToBeBetween(
                column="amount", min_value=0, max_value=1
            )
        ),
        "3",
        "also fails on a clean batch",
    )
    not_done(
        check(
            my_expectation=gxe.ExpectColumnValuesToBeBetween(
                column="amount", min_value=0, max_value=1000
            )
        ),
        "3",
        "already has exactly this expectation",
    )
    not_done(
        check(my_expectation=gxe.ExpectColumnMinToBeBetween(column="amout", min_value=0)),
        "3",
        "names the column 'amout', which raw_orders does not have",
    )
    not_done(check(my_expectation="amount >= 0"), "3", "not an expectation object")


def test_no_expectation_written_or_added_is_named(failed_gate):
    not_done(check(), "3", "set my_expectation", "quality.add_expectation(my_expectation)")


def test_an_expectation_left_in_the_suite_is_not_the_notebooks_answer(failed_gate):
    """my_expectation = None (or another one) while an earlier attempt's is still in the suite."""
    earlier = gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0)
    quality.add_expectation(earlier)
    quality.run_gate(DAY)
    done(check(my_expectation=earlier), "3")
    not_done(check(my_expectation=None), "3", "my_expectation is None", "not an expectation added")
    other = gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0)
    not_done(
        check(my_expectation=other),
        "3",
        "ExpectColumnValuesToBeBetween(column=amount, min_value=0) catches the defect, but it "
        "is not part of the orders suite yet; the suite has yours: "
        "ExpectColumnMinToBeBetween(column=amount, min_value=0)",
    )
    same_kind = gxe.ExpectColumnMinToBeBetween(column="amount", min_value=-5)
    not_done(check(my_expectation=same_kind), "3", "not part of the orders suite yet")


def test_a_gate_run_older_than_the_rows_loaded_now_is_not_the_answer(failed_gate):
    """The gate failed on the dirty rows; then a clean batch was loaded and the gate not rerun."""
    done(check(), "1")
    ingest.land_batch(DAY, rows=300)
    ingest.load_batch(DAY)
    not_done(check(), "1", "the gate's latest run on 2026-11-11 validated", "holds 300 rows")
    quality.run_gate(DAY)
    not_done(check(), "1", "passed: the batch there is clean")


def test_the_committed_suite_file_stays_as_committed(failed_gate):
    """The learner's expectation runs in the gate, but the committed suite JSON is not rewritten,
    and a reset takes it out again (a copy kept in exercises/work/saved/)."""
    from lab.config import get_settings

    settings = get_settings()
    committed = settings.gx_root / "gx" / "expectations" / "orders.json"
    repo = Path(__file__).resolve().parents[2] / "great_expectations/gx/expectations/orders.json"
    before = committed.read_bytes()
    assert before == repo.read_bytes(), "the sandbox's GX project starts as the committed one"
    quality.add_expectation(gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0))
    gate = quality.run_gate(DAY)
    assert "expect_column_min_to_be_between" in set(gate.failures().expectation), gate.table()
    assert committed.read_bytes() == before, "the gate rewrote the committed orders.json"
    said = exercises.get("03").start(settings)
    assert any(
        "your expectation orders: ExpectColumnMinToBeBetween(column=amount, min_value=0)" in s
        and "(a copy is in exercises/work/saved/" in s
        for s in said
    ), said
    copies = list((settings.root / "exercises/work/saved").rglob("expectations.json"))
    assert len(copies) == 1 and "ExpectColumnMinToBeBetween" in copies[0].read_text(), copies
    after = quality.run_gate(DAY)
    assert "expect_column_min_to_be_between" not in set(after.table().expectation)
    assert committed.read_bytes() == before, "the gate rewrote the committed orders.json"


def test_lab_grade_grades_a_blank_answer_as_blank_not_the_last_checks(failed_gate, capsys):
    """The notebook file still says None; an earlier check with an answer must not count."""
    from lab import cli

    good = gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0)
    quality.add_expectation(good)
    quality.run_gate(DAY)
    done(check(my_expectation=good), "3")  # recorded as the last check's answer
    capsys.readouterr()
    assert cli.main(["grade", "3"]) == 1
    out = capsys.readouterr().out
    assert "my_expectation is None" in out and "set failing_expectation" in out, out


def test_an_added_expectation_joins_the_orders_suite_the_gate_runs(failed_gate, capsys):
    from lab.config import get_settings

    mine = gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0)
    quality.add_expectation(mine)
    assert "The orders suite: added ExpectColumnMinToBeBetween(column=amount, min_value=0)" in (
        capsys.readouterr().out
    )
    gate = quality.run_gate(DAY)
    table = gate.table()
    row = table[table.expectation == "expect_column_min_to_be_between"]
    assert len(row) == 1 and not row.success.iloc[0], (
        f"expected the gate on the dirty day to report the learner's expectation as failed:\n{table}"
    )
    stored = quality.get_context().suites.get("orders")
    assert "ExpectColumnMinToBeBetween" in {type(e).__name__ for e in stored.expectations}
    assert len(stored.expectations) == len(quality.SUITES["orders"][1]) + 1
    assert "ExpectColumnMinToBeBetween" in set(quality.suites_table().expectation)
    # a clean day: the learner's expectation runs there too, and passes
    clean = quality.run_gate("2026-10-31", suites=["orders"]).table()
    assert clean.success.all() and "expect_column_min_to_be_between" in set(clean.expectation), (
        clean
    )
    # adding another of the same kind on the same column replaces it
    quality.add_expectation(gxe.ExpectColumnMinToBeBetween(column="amount", min_value=-1))
    assert "replaced ExpectColumnMinToBeBetween(column=amount, min_value=0)" in (
        capsys.readouterr().out
    )
    assert len(quality.learner_expectations()) == 1
    # the full reset and `lab reset --lesson 3` take it out again
    assert get_settings().learner_expectations_file.exists()
    said = exercises.get("03").start(get_settings())
    assert any("your expectation orders: ExpectColumnMinToBeBetween" in s for s in said), said
    assert quality.learner_expectations() == []
    after = quality.run_gate(DAY).table()
    assert "expect_column_min_to_be_between" not in set(after.expectation), after


def test_add_expectation_refuses_a_missing_column_a_copy_and_a_non_expectation(exercise_sandbox):
    from lab.errors import SuiteError

    with pytest.raises(SuiteError, match="names the column 'amout', which raw_orders does not"):
        quality.add_expectation(gxe.ExpectColumnMinToBeBetween(column="amout", min_value=0))
    with pytest.raises(SuiteError, match="The orders suite already has ExpectColumnValuesToBe"):
        quality.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=1000)
        )
    with pytest.raises(SuiteError, match="is a str, not a Great Expectations expectation"):
        quality.add_expectation("amount >= 0")
    with pytest.raises(SuiteError, match="There is no suite 'order'"):
        quality.add_expectation(gxe.ExpectColumnMinToBeBetween(column="amount"), suite="order")
    assert quality.learner_expectations() == []


def test_lab_grade_reads_the_answers_from_the_notebook(failed_gate, exercise_sandbox, capsys):
    """`lab grade 3` (and 03) grades what the notebook's answer cells say."""
    import nbformat

    from lab import cli
    from lab.config import get_settings

    path = get_settings().exercises_dir / "03_great_expectations.ipynb"
    nb = nbformat.read(path, as_version=4)
    failed = failed_gate[~failed_gate.success]
    mean = failed[failed.expectation == "expect_column_mean_to_be_between"].iloc[0]
    for cell in nb.cells:
        if "failing_expectation = None" in cell.source:
            cell.source = (
                'failing_expectation = "ExpectColumnMeanToBeBetween"\n'
                f"observed_value = {float(mean.observed_value)!r}"
            )
        if "my_expectation = None" in cell.source:
            cell.source = (
                'my_expectation = gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0)'
            )
    nbformat.write(nb, path)
    assert cli.main(["grade", "3"]) == 1, "the expectation is not in the suite yet"
    assert "not part of the orders suite yet" in capsys.readouterr().out
    quality.add_expectation(gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0))
    quality.run_gate(DAY)
    capsys.readouterr()
    assert cli.main(["grade", "3"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "PASSED" in out and "None" not in out, out
    assert cli.main(["grade", "03"]) == 0, capsys.readouterr().out
