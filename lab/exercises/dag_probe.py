"""Run in a subprocess by exercise 05's check (lab itself never imports airflow).

    python -m lab.exercises.dag_probe dags/my_first_dag.py [--test]

Applies the house rules of `lab.airflow.dag_rules` (the ones tests/dags holds the project's DAGs to):
the parse-time rules on the source, then, for a file that does no work at parse time, Airflow's
parse as the scheduler would; then the exercise's own (two tasks, one feeding the other), and
with `--test` runs `dag.test()`. The last line printed is a JSON object:
{"problems": [...], "states": {...}}.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from lab.airflow import dag_rules


def rules(path: Path) -> tuple[list[str], object]:
    problems, dag = dag_rules.check(path)
    if dag is not None and (
        len(dag.tasks) < 2 or not any(t.downstream_task_ids for t in dag.tasks)
    ):
        problems.append(
            f"{len(dag.tasks)} task(s) and no dependency: write two tasks, one feeding the other"
        )
    return problems, dag


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    problems, dag = rules(path)
    states: dict[str, str] = {}
    if dag is not None and not problems and "--test" in argv:
        run = dag.test(logical_date=dt.datetime(2026, 11, 12, tzinfo=dt.UTC))
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print(json.dumps({"problems": problems, "states": states}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
