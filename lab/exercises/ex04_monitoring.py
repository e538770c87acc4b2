"""Exercise 04 · watch the pipeline: SQL over ops.step_runs and an alert proven by promtool."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from lab.config import STEP_RUNS, Settings, get_settings
from lab.exercises.common import (
    is_number,
    number_rule,
    remove,
    run_learner_sql,
    same_number,
)
from lab.exercises.core import Exercise, Task, Verdict, forget, register
from lab.profiles import get_warehouse

LESSON = "04"
RULE_FILE = "exercises/work/quality_alerts.yml"  # git-ignored: the learner's own rules
ALERT = "QualityGateFailedTwice"
SUMMARY_REFERENCE = f"""
select step, count(*) as runs,
       sum(case when outcome <> 'success' then 1 else 0 end) as failures,
       avg(duration_s) as avg_duration_s
from {STEP_RUNS} group by step order by step
"""
SLOWEST_REFERENCE = f"""
select run_id, step, duration_s
from (select run_id, step, duration_s,
             row_number() over (partition by run_id order by duration_s desc) as rank
      from {STEP_RUNS}) ranked
where rank = 1 order by run_id
"""
# What the check accepts: every step of a run that ties for the longest duration.
SLOWEST_ACCEPTED = SLOWEST_REFERENCE.replace("row_number()", "rank()")
SOLUTION_RULE = f"""\
groups:
  - name: exercise-04
    rules:
      - alert: {ALERT}
        # The gauge keeps the last run's outcome until the next daily run, so 0 for more than
        # a day means the run after the failed one failed too.
        expr: lab_quality_gate_success{{job="lab_pipeline"}} == 0
        for: 25h
        labels:
          severity: critical
        annotations:
          summary: "Quality gate {{{{ $labels.suite }}}} failed twice in a row\""""

SERIES = (
    'lab_quality_gate_success{{job="lab_pipeline",instance="pushgateway:9091",suite="{suite}"}}'
)
FIRING = f'count by (suite) (ALERTS{{alertname="{ALERT}",alertstate="firing"}})'
# scenario -> (hourly values of the gauge for suite "orders", [(eval hour, fires?)])
SCENARIOS = {
    "a healthy gate does not fire": ("1x95", [(30, False), (90, False)]),
    "one failed run (then a success) does not fire": (
        "1x23 0x23 1x47",
        [(30, False), (47, False), (60, False)],
    ),
    "two failed runs in a row fire, within two hours of the second": (
        "1x23 0x71",
        [(47, False), (50, True), (90, True)],
    ),
    "a failure, a success, then a failure does not fire": (
        "1x23 0x23 1x23 0x23",
        [(50, False), (94, False)],
    ),
}


def _rows(sql_name: str, answers, reference: str, key: str, columns: tuple[str, ...]) -> Verdict:
    """Compare the learner's rows with the reference, one row per key.

    The reference may hold several rows for a key (ties): any of them is right. Numbers match
    within the shared relative tolerance, so a rounded average is right too.
    """
    frame = run_learner_sql(answers.get(sql_name), sql_name)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        return Verdict(
            False,
            f"your query's result lacks the column(s) {', '.join(missing)} (it has: {', '.join(frame.columns) or 'none'})",
        )
    ref = get_warehouse().query(reference)
    if frame[key].duplicated().any():
        return Verdict(
            False,
            f"your query returns some {key} more than once (e.g. {frame[key][frame[key].duplicated()].iloc[0]}): one row per {key}",
        )
    got = frame.set_index(key)
    keys = list(dict.fromkeys(ref[key]))
    absent = [k for k in keys if k not in got.index]
    if absent:
        return Verdict(
            False,
            f"your query returns {len(got)} of the {len(keys)} {key} values; missing e.g. {absent[0]}",
        )
    known = set(ref[key])
    extra = [k for k in got.index if k not in known]
    if extra:
        return Verdict(
            False,
            f"your query returns a {key} that {STEP_RUNS} does not have: {extra[0]!r}",
        )
    for k in keys:
        mine = got.loc[k]
        options = ref[ref[key] == k].itertuples(index=False)
        wrong = [_first_difference(row, mine, key, columns) for row in options]
        if all(wrong):
            column, want, have = wrong[0]
            return Verdict(
                False,
                f"for {key}={k} your {column} is {_shown(have)}, the table says {_shown(want)}"
                + (f" (the check compares it {number_rule(want)})" if is_number(want) else ""),
            )
    return Verdict(True, f"your query returns the right {len(keys)} rows")


def _shown(value: object) -> object:
    """A value for a message: a whole float (a row's count read as float) shows as a whole number."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _first_difference(row, mine, key: str, columns: tuple[str, ...]):
    """(column, reference value, learner's value) of the first column that differs, or None."""
    for column in columns:
        if column == key:
            continue
        want, have = getattr(row, column), mine[column]
        same = same_number(want, have) if is_number(want) else str(want) == str(have)
        if not same:
            return column, want, have
    return None


def check_summary_sql(answers) -> Verdict:
    verdict = _rows(
        "step_summary_sql",
        answers,
        SUMMARY_REFERENCE,
        "step",
        ("step", "runs", "failures", "avg_duration_s"),
    )
    return (
        Verdict(
            True,
            f"runs, failures and average duration per step: {verdict.message[len('your query returns the right ') :]}",
        )
        if verdict.done
        else verdict
    )


def check_slowest_sql(answers) -> Verdict:
    return _rows(
        "slowest_step_sql", answers, SLOWEST_ACCEPTED, "run_id", ("run_id", "step", "duration_s")
    )


def _promtool() -> str | None:
    return shutil.which("promtool")


def _rule_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).root / RULE_FILE


def check_rule_file(answers) -> Verdict:
    path = _rule_path()
    if not path.exists():
        return Verdict(
            False,
            f"{RULE_FILE} does not exist: write it with exercises.write_file({RULE_FILE!r}, rules)",
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        return Verdict(False, f"{RULE_FILE} is not valid YAML: {str(exc).splitlines()[0]}")
    rules = [
        r for g in (data.get("groups") or []) if isinstance(g, dict) for r in (g.get("rules") or [])
    ]
    rule = next((r for r in rules if isinstance(r, dict) and r.get("alert") == ALERT), None)
    if rule is None:
        names = [r.get("alert") for r in rules if isinstance(r, dict)]
        return Verdict(
            False, f"no alerting rule named {ALERT} in {RULE_FILE} (found: {names or 'none'})"
        )
    if "lab_quality_gate_success" not in str(rule.get("expr", "")):
        return Verdict(False, f"{ALERT}'s expr does not use the gauge lab_quality_gate_success")
    promtool = _promtool()
    if promtool is None:
        return Verdict(
            False,
            "promtool is not installed: install Debian's `prometheus` package (apt-get install prometheus)",
        )
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        return Verdict(
            False, f"promtool check rules refuses it: {detail[-1] if detail else 'no detail'}"
        )
    return Verdict(True, f"{RULE_FILE} has the rule {ALERT}; promtool accepts it")


def unit_test_text(rule_path: Path, values: str, evals: list[tuple[int, bool]]) -> str:
    tests = [
        {
            "expr": FIRING,
            "eval_time": f"{hour}h",
            "exp_samples": [{"labels": '{suite="orders"}', "value": 1}] if fires else [],
        }
        for hour, fires in evals
    ]
    doc = {
        "rule_files": [str(rule_path)],
        "evaluation_interval": "1h",  # one sample an hour: evaluate when one is there
        "tests": [
            {
                "interval": "1h",
                "input_series": [{"series": SERIES.format(suite="orders"), "values": values}],
                "promql_expr_test": tests,
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def check_rule_test(answers) -> Verdict:
    if not check_rule_file(answers).done:
        return Verdict(False, "the rule file must pass task 3 first")
    promtool = _promtool()
    failed = []
    with tempfile.TemporaryDirectory(prefix="lab-promtool-") as tmp:
        for scenario, (values, evals) in SCENARIOS.items():
            test = Path(tmp) / "test.yml"
            test.write_text(unit_test_text(_rule_path(), values, evals))
            result = subprocess.run(
                [promtool, "test", "rules", str(test)], capture_output=True, text=True, timeout=120
            )
            if result.returncode != 0:
                failed.append(scenario)
    if failed:
        return Verdict(
            False,
            f"promtool's rule unit test fails: {'; '.join(failed)} (the gauge is pushed once a day and keeps its value)",
        )
    return Verdict(True, f"promtool's rule unit test passes all {len(SCENARIOS)} scenarios")


def start(settings: Settings) -> list[str]:
    said: list[str] = []
    remove([_rule_path(settings)], settings, said)
    forget(LESSON, settings)
    return said


EXERCISE = register(
    Exercise(
        lesson=LESSON,
        title="watch the pipeline",
        notebook="04_monitoring.ipynb",
        answers=("step_summary_sql", "slowest_step_sql"),
        start=start,
        work=f"your alert rules in {RULE_FILE}",
        files=(RULE_FILE,),
        tasks=[
            Task(
                "1",
                f"SQL: runs, failures and average duration of each step in {STEP_RUNS}",
                check_summary_sql,
                [
                    f"Group {STEP_RUNS} by step; count(*) gives the runs.",
                    "A failure is a run whose outcome is not 'success': sum(case when ... then 1 else 0 end).",
                    "Name the columns step, runs, failures, avg_duration_s.",
                ],
                'step_summary_sql = """' + SUMMARY_REFERENCE.strip() + '\n"""',
            ),
            Task(
                "2",
                "SQL: the slowest step of each run, with its duration",
                check_slowest_sql,
                [
                    "One row per run_id: the step whose duration_s is the largest in that run.",
                    "max(duration_s) alone loses the step's name: rank the steps of a run with row_number() over (partition by run_id order by duration_s desc) and keep rank 1.",
                ],
                'slowest_step_sql = """' + SLOWEST_REFERENCE.strip() + '\n"""',
            ),
            Task(
                "3",
                f"write an alert rule {ALERT} in {RULE_FILE}",
                check_rule_file,
                [
                    "docker/prometheus/alerts.yml has the shape: groups -> rules -> alert, expr, labels, annotations.",
                    f"Its QualityGateFailed rule is the start: the same gauge, a rule named {ALERT}.",
                ],
                SOLUTION_RULE,
            ),
            Task(
                "4",
                "make it fire only when the gate failed on two runs in a row (the check runs a promtool rule unit test)",
                check_rule_test,
                [
                    "The pipeline runs once a day and the gauge keeps the last run's outcome until the next run.",
                    "`for:` makes a rule wait: a gauge that stays 0 for more than a day has seen two failed runs.",
                    "for: 25h fires an hour after the second failed run; for: 1h fires after the first.",
                ],
                SOLUTION_RULE,
            ),
        ],
    )
)
