"""Run in a subprocess by exercise 05's check (lab itself never imports airflow).

    python -m lab.exercises.dag_probe dags/my_first_dag.py [--test]

Applies the house rules of `lab.airflow.dag_rules` (the ones tests/dags holds the project's DAGs to):
the parse-time rules on the source, then, for a file that does no work at parse time, Airflow's
parse as the scheduler would; then the exercise's own (two tasks, one feeding the other), and
with `--test`, for a DAG that follows them, runs `dag.test()`: first, once an AIRFLOW_HOME, the
commands `lab.airflow.local.setup_metadata` runs (migrate, the warehouse pool), here in this
process, where Airflow is loaded already. The last line printed is a JSON object:
{"problems": [...], "states": {...}}.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

from lab.airflow import dag_rules
from lab.airflow.local import metadata_commands
from lab.profiles import profile_of

MIGRATED = "migrated"  # a file in AIRFLOW_HOME: its metadata database is ready
CHECK_RETRY_DELAY = dt.timedelta(seconds=1)


def rules(path: Path) -> tuple[list[str], object]:
    problems, dag = dag_rules.check(path)
    if dag is not None and (
        len(dag.tasks) < 2 or not any(t.downstream_task_ids for t in dag.tasks)
    ):
        problems.append(
            f"{len(dag.tasks)} task(s) and no dependency: write two tasks, one feeding the other"
        )
    return problems, dag


def prepare_metadata(home: Path) -> None:
    """Migrate the metadata database and create the warehouse pool, once an AIRFLOW_HOME."""
    marker = home / MIGRATED
    if marker.exists():
        return
    from airflow.cli.cli_parser import get_parser  # only when a dag.test() is due

    parser = get_parser()
    for args in metadata_commands(profile_of()):
        command = parser.parse_args(list(args))
        command.func(command)
    marker.write_text("yes\n")


def retry_at_once(dag) -> None:
    """dag.test() waits out a failed task's retry_delay (the exercise asks for 30 s) before it
    tries again: the check retries as often as the DAG says, but at once (a verdict in 10 s,
    not 40 s, when a task fails)."""
    for task in dag.tasks:
        task.retry_delay = min(task.retry_delay, CHECK_RETRY_DELAY)


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    problems, dag = rules(path)
    states: dict[str, str] = {}
    if dag is not None and not problems and "--test" in argv:
        prepare_metadata(Path(os.environ["AIRFLOW_HOME"]))
        retry_at_once(dag)
        run = dag.test(logical_date=dt.datetime(2026, 11, 12, tzinfo=dt.UTC))
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print(json.dumps({"problems": problems, "states": states}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
