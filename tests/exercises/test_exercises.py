"""Every exercise: the starter runs and says "not yet", the solution passes the same check.

The checks inspect the state a learner produced (tables, dbt's run results, GX's stored
results), so the solutions run for real, in order, on one fresh sandbox.
"""

from pathlib import Path

import pytest

from lab import exercises, ingest, quality, transform
from lab.notebooks import execute

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["01_ingestion", "02_dbt", "03_great_expectations"]
pytestmark = pytest.mark.slow


def _run(path: Path) -> str:
    """Execute a notebook; return the text its last cell printed (the check's feedback)."""
    nb = execute(path, timeout=300)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{path.name} crashed: {errors[0].ename}: {errors[0].evalue}"
    return "".join(o.get("text", "") for o in nb.cells[-1].outputs)


PREPARED_HISTORY_DAYS = 1  # read by the `prepared_state` fixture in tests/conftest.py


def test_starters_give_not_yet_feedback_and_solutions_pass(prepared_sandbox):
    for name in NAMES:
        feedback = _run(ROOT / "exercises" / f"{name}.ipynb")
        assert "not yet" in feedback and "PASSED" not in feedback, f"{name} starter:\n{feedback}"
        assert "hint:" in feedback, f"{name} starter must give a hint:\n{feedback}"
    for name in NAMES:
        feedback = _run(ROOT / "exercises" / "solutions" / f"{name}.ipynb")
        assert "PASSED" in feedback, f"{name} solution:\n{feedback}"
        assert "[ ]" not in feedback, f"{name} solution left a requirement open:\n{feedback}"


def test_a_clean_day_does_not_pass_the_dirty_day_exercise(prepared_sandbox):
    ingest.land_batch(exercises.EXERCISE_DATE, dirty=0.0)
    ingest.load_batch(exercises.EXERCISE_DATE)
    feedback = exercises.check("01")
    assert not feedback.passed, str(feedback)
    missing = [r.text for r in feedback.requirements if not r.ok]
    assert any("quarantine_orders" in text for text in missing), missing


def test_building_everything_does_not_pass_the_one_layer_exercise(prepared_sandbox):
    transform.build()
    feedback = exercises.check("02")
    assert not feedback.passed, str(feedback)
    assert "built the staging models and nothing else" in str(feedback)


def test_a_wrong_answer_is_not_accepted(prepared_sandbox):
    ingest.land_batch(exercises.EXERCISE_DATE, dirty=0.2)
    ingest.load_batch(exercises.EXERCISE_DATE)
    quality.run_gate(exercises.EXERCISE_DATE)
    assert exercises.check("03", answer="expect_column_values_to_be_between").passed
    wrong = exercises.check("03", answer="expect_table_row_count_to_be_between")
    assert not wrong.passed and "you said: 'expect_table_row_count_to_be_between'" in str(wrong)


def test_lab_grade_prints_the_feedback_and_exits_non_zero_until_passed(prepared_sandbox, capsys):
    from lab import cli

    code = cli.main(["grade", "02"])
    out = capsys.readouterr().out
    assert code == 1 and "Exercise 02" in out and "hint:" in out, out
    transform.build(select="staging")
    assert cli.main(["grade", "02"]) == 0, capsys.readouterr().out
