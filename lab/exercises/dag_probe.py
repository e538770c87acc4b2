"""Run in a subprocess by exercise 05's check (lab itself never imports airflow).

    python -m lab.exercises.dag_probe dags/my_first_dag.py [--test]

Parses the DAG file as the scheduler would, applies the house rules of tests/dags, and with
`--test` runs `dag.test()`. The last line printed is a JSON object: {"problems": [...], "states": {...}}.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

KNOWN_POOLS = {"default_pool", "duckdb_writer"}


def rules(path: Path) -> tuple[list[str], object]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(path), known_pools=KNOWN_POOLS)
    if bag.import_errors:
        return [
            f"import error: {e.strip().splitlines()[-1]}" for e in bag.import_errors.values()
        ], None
    if list(bag.dags) != [path.stem]:
        return [
            f"the file must define one DAG whose dag_id is {path.stem!r}, found {list(bag.dags)}"
        ], None
    dag = bag.dags[path.stem]
    problems = []
    if not dag.tags:
        problems.append("no tags")
    if "schedule" not in path.read_text():
        problems.append("no explicit schedule= (None for manual runs only)")
    if dag.catchup:
        problems.append("catchup is not False")
    if dag.start_date is None or dag.start_date.tzinfo is None:
        problems.append("start_date is not timezone-aware (tzinfo=dt.UTC)")
    if not (dag.doc_md or "").strip():
        problems.append("no Markdown docstring on the @dag function")
    if len(dag.tasks) < 2 or not any(t.downstream_task_ids for t in dag.tasks):
        problems.append(
            f"{len(dag.tasks)} task(s) and no dependency: write two tasks, one feeding the other"
        )
    for task in dag.tasks:
        if task.owner in ("", "airflow"):
            problems.append(f"task {task.task_id}: set an owner in default_args")
        if not task.retries:
            problems.append(f"task {task.task_id}: set retries in default_args")
        if task.retry_policy is None:
            problems.append(
                f"task {task.task_id}: set a retry_policy in default_args (see dags/example_dag.py)"
            )
        if task.pool not in KNOWN_POOLS:
            problems.append(f"task {task.task_id}: pool {task.pool!r} does not exist")
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
