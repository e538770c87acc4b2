"""Exercise 04's checks: SQL over ops.step_runs, and an alert rule proven by promtool."""

from __future__ import annotations

import shutil

import pytest

from lab import exercises
from lab.exercises import ex04_monitoring as ex
from tests.exercises.conftest import done, not_done

PREPARED_HISTORY_DAYS = 2
SUMMARY = ex.SUMMARY_REFERENCE
SLOWEST = ex.SLOWEST_REFERENCE


def check(**answers):
    return exercises.check("04", **answers)


def test_right_queries_pass(exercise_sandbox):
    feedback = check(step_summary_sql=SUMMARY, slowest_step_sql=SLOWEST)
    done(feedback, "1")
    done(feedback, "2")


def history(*runs: dict[str, float]) -> None:
    """Replace ops.step_runs with these runs (step -> duration_s), every step a success."""
    from lab.profiles import get_warehouse

    warehouse = get_warehouse()
    warehouse.execute("delete from ops.step_runs")
    for number, steps in enumerate(runs, start=1):
        for step, seconds in steps.items():
            warehouse.execute(
                "insert into ops.step_runs (run_id, step, started_at, finished_at, duration_s, "
                "outcome) values (?, ?, timestamp '2026-11-01', timestamp '2026-11-01', ?, "
                "'success')",
                [f"run_{number}", step, seconds],
            )


# The quality step's average is 0.285875 (0.286 rounded to 3 places).
ROUNDING = ({"quality": 0.28575}, {"quality": 0.286})


@pytest.mark.parametrize(
    "query",
    [
        SUMMARY.replace("avg(duration_s)", "round(avg(duration_s), 3)"),
        SUMMARY.replace("count(*) as runs", "count(*)::double as runs"),
        SUMMARY.replace(
            "sum(case when outcome <> 'success' then 1 else 0 end)",
            "count(*) filter (where outcome <> 'success')",
        ),
        SUMMARY.replace("avg(duration_s)", "sum(duration_s) / count(*)"),
    ],
    ids=["rounded-average", "runs-as-double", "count-filter", "sum-over-count"],
)
def test_equivalent_summary_queries_pass(exercise_sandbox, query):
    history(*ROUNDING)
    done(check(step_summary_sql=query), "1")


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        (
            SUMMARY.replace("avg(duration_s)", "round(avg(duration_s), 1)"),
            "your avg_duration_s is 0.3, the table says 0.285875 (the check compares it within 0.5%)",
        ),
        (
            SUMMARY.replace("avg(duration_s)", "avg(duration_s) * 1.01"),
            "the table says 0.285875 (the check compares it within 0.5%)",
        ),
        (
            SUMMARY.replace("count(*) as runs", "count(*) + 1 as runs"),
            "your runs is 3, the table says 2 (the check compares it exactly)",
        ),
        (
            SUMMARY.replace("group by step", "group by step union all select 'extra', 1, 0, 1.0"),
            "returns a step that ops.step_runs does not have: 'extra'",
        ),
    ],
    ids=["rounded-too-far", "one-percent-off", "count-off-by-one", "extra-step"],
)
def test_summaries_off_by_more_than_the_tolerance_are_named(exercise_sandbox, query, problem):
    history(*ROUNDING)
    not_done(check(step_summary_sql=query), "1", problem)


def test_either_of_two_tied_slowest_steps_is_right(exercise_sandbox):
    history(  # quality and dbt tie in both runs
        {"quality": 5.0004, "dbt": 5.0004, "ingestion": 1.0},
        {"quality": 1.0, "dbt": 1.0, "ingestion": 0.5},
    )
    tie_broken_by_name = SLOWEST.replace(
        "order by duration_s desc)", "order by duration_s desc, step desc)"
    )
    assert tie_broken_by_name != SLOWEST
    for query in (
        SLOWEST,
        tie_broken_by_name,
        tie_broken_by_name.replace("desc, step desc", "desc, step"),
    ):
        done(check(slowest_step_sql=query), "2")
    rounded = SLOWEST.replace(
        "select run_id, step, duration_s\n",
        "select run_id, step, round(duration_s, 2) as duration_s\n",
        1,
    )
    assert rounded != SLOWEST
    done(check(slowest_step_sql=rounded), "2")
    not_done(
        check(slowest_step_sql=SLOWEST.replace("duration_s desc", "duration_s asc")),
        "2",
        "your step is",
    )


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        (
            SUMMARY.replace("avg(duration_s) as avg_duration_s", "avg(duration_s) as avg_s"),
            "lacks the column(s) avg_duration_s",
        ),
        (
            SUMMARY.replace("from ops.step_runs", "from ops.step_runs where outcome = 'success'"),
            "your runs is",
        ),
        (SUMMARY.replace("group by step", "group by step, run_id"), "more than once"),
    ],
    ids=["missing-column", "successes-only", "grouped-by-run"],
)
def test_wrong_summary_queries_are_named(exercise_sandbox, query, problem):
    from lab.profiles import get_warehouse

    get_warehouse().execute(
        "update ops.step_runs set outcome = 'failed' where step = 'quality' and run_id = "
        "(select min(run_id) from ops.step_runs where step = 'quality')"
    )
    not_done(check(step_summary_sql=query), "1", problem)


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        (
            "select run_id, max(duration_s) as duration_s from ops.step_runs group by run_id",
            "lacks the column(s) step",
        ),
        ("select run_id, step, duration_s from ops.step_runs", "more than once"),
        (
            "select run_id, step, duration_s from ops.step_runs order by duration_s desc limit 1",
            "returns 1 of the",
        ),
    ],
    ids=["max-loses-step", "every-step", "slowest-overall"],
)
def test_wrong_slowest_queries_are_named(exercise_sandbox, query, problem):
    not_done(check(slowest_step_sql=query), "2", problem)


@pytest.fixture
def promtool(require_server):
    require_server(
        "promtool", shutil.which("promtool") is not None, "install Debian's prometheus package"
    )


def rule(
    expr: str = 'lab_quality_gate_success{job="lab_pipeline"} == 0',
    wait: str | None = "25h",
    name: str = ex.ALERT,
) -> str:
    text = ex.SOLUTION_RULE.replace("QualityGateFailedTwice", name).replace(
        'lab_quality_gate_success{job="lab_pipeline"} == 0', expr
    )
    return (
        text.replace("for: 25h", f"for: {wait}") if wait else text.replace("        for: 25h\n", "")
    )


def test_the_solution_rule_passes_promtools_unit_test(exercise_sandbox, promtool):
    exercises.write_file(ex.RULE_FILE, ex.SOLUTION_RULE)
    feedback = check()
    done(feedback, "3")
    done(feedback, "4")
    exercises.write_file(ex.RULE_FILE, rule(wait="1d"))
    done(check(), "4")


@pytest.mark.parametrize(
    ("text", "task", "problem"),
    [
        (None, "3", "does not exist"),
        ("groups: [{name: x, rules: [{alert: X, expr: up", "3", "is not valid YAML"),
        (rule(name="GateFailed"), "3", "no alerting rule named QualityGateFailedTwice"),
        (rule(expr="lab_step_success == 0"), "3", "does not use the gauge"),
        (rule(expr="lab_quality_gate_success ==== 0"), "3", "promtool check rules refuses it"),
        (rule(wait=None), "4", "one failed run (then a success) does not fire"),
        (rule(wait="1h"), "4", "one failed run (then a success) does not fire"),
        (rule(wait="2d"), "4", "two failed runs in a row fire"),
        (
            rule(expr='lab_quality_gate_success{job="lab_pipeline"} == 1'),
            "4",
            "two failed runs in a row fire",
        ),
    ],
    ids=[
        "no-file",
        "bad-yaml",
        "wrong-name",
        "wrong-metric",
        "bad-promql",
        "no-for",
        "for-1h",
        "for-2d",
        "threshold-1",
    ],
)
def test_wrong_alert_rules_are_named(exercise_sandbox, promtool, text, task, problem):
    if text is not None:
        exercises.write_file(ex.RULE_FILE, text)
    not_done(check(), task, problem)
