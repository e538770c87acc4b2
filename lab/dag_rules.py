"""The house rules of a DAG file, and the DAG files read as source.

- `dag_files`: every DAG in `dags/` with its schedule, tags and docs, read with `ast` (no
  Airflow needed), as lesson 05 shows them.
- `load` + `problems`: a DAG file parsed by Airflow's DagBag and checked against the rules
  `tests/dags` holds the project's DAGs to, and exercise 05 a learner's.

Importing this module never imports airflow; `load` does, inside the function.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab.config import Settings, get_settings
from lab.dag_support import DEFAULT_POOL, WAREHOUSE_POOL

KNOWN_POOLS = frozenset({DEFAULT_POOL, WAREHOUSE_POOL})
NOT_WRITTEN = object()


# --- the DAG files as source -----------------------------------------------------------------


def declarations(source: str, filename: str = "<dag file>") -> Iterator[dict[str, Any]]:
    """Every DAG a file declares, as written: `@dag` functions and `DAG(...)` calls.

    Yields {"dag_id", "keywords": {name: ast node}, "doc"}; a `dag_id` given as a keyword wins
    over the function's name.
    """
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if _call_name(decorator) == "dag":
                    keywords = _keywords(decorator)
                    yield {
                        "dag_id": _literal(keywords.get("dag_id")) or node.name,
                        "keywords": keywords,
                        "doc": ast.get_docstring(node) or "",
                    }
        elif isinstance(node, ast.Call) and _call_name(node) == "DAG":
            keywords = _keywords(node)
            first = node.args[0] if node.args else keywords.get("dag_id")
            yield {"dag_id": _literal(first), "keywords": keywords, "doc": ""}


def written_schedule(source: str, dag_id: str) -> Any:
    """The `schedule=` a file writes for `dag_id`: its value when it is a literal, the source
    text otherwise; `NOT_WRITTEN` when there is none."""
    for declared in declarations(source):
        if declared["dag_id"] == dag_id and "schedule" in declared["keywords"]:
            node = declared["keywords"]["schedule"]
            try:
                return ast.literal_eval(node)
            except ValueError:
                return ast.unparse(node)
    return NOT_WRITTEN


def dag_files(settings: Settings | None = None) -> list[dict[str, str]]:
    """Every `@dag` in `dags/`: its file, dag id, schedule, tags and the first line of its docs.

    The files are parsed with `ast`, not imported, so this works without Airflow running
    (and without importing it).
    """
    settings = settings or get_settings()
    rows = []
    for path in sorted((settings.root / "dags").glob("*.py")):
        for declared in declarations(path.read_text(), filename=str(path)):
            keywords = declared["keywords"]
            doc = declared["doc"].strip().splitlines()
            rows.append(
                {
                    "file": path.relative_to(settings.root).as_posix(),
                    "dag_id": declared["dag_id"],
                    "schedule": _text(keywords.get("schedule")),
                    "tags": ", ".join(_text_list(keywords.get("tags"))),
                    "about": doc[0].lstrip("# ").strip() if doc else "",
                }
            )
    return rows


def _call_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _keywords(node: ast.expr) -> dict[str, ast.expr]:
    keywords = node.keywords if isinstance(node, ast.Call) else []
    return {k.arg: k.value for k in keywords if k.arg is not None}


def _literal(node: ast.expr | None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def _text(node: ast.expr | None) -> str:
    if node is None:
        return ""
    try:
        return str(ast.literal_eval(node))
    except ValueError:
        return ast.unparse(node)


def _text_list(node: ast.expr | None) -> list[str]:
    try:
        return [str(v) for v in ast.literal_eval(node)] if node is not None else []
    except ValueError:
        return [ast.unparse(node)]


# --- the rules, on a file parsed by Airflow ----------------------------------------------------


def load(path: Path):
    """Airflow's DagBag of one DAG file, parsed as the scheduler would (imports airflow)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(path), known_pools=set(KNOWN_POOLS))


def problems(bag, path: Path) -> tuple[list[str], Any]:
    """What breaks the house rules in the DagBag of one file, each with its fix; and its DAG
    (None when the file does not import or does not define one DAG named as the file)."""
    if bag.import_errors:
        return [
            f"import error: {error.strip().splitlines()[-1]}"
            for error in bag.import_errors.values()
        ], None
    if list(bag.dags) != [path.stem]:
        return [
            f"the file must define one DAG whose dag_id is {path.stem!r} (its file name), found "
            f"{list(bag.dags)}. Fix: one @dag function a file, named as the file"
        ], None
    dag = bag.dags[path.stem]
    found = []
    if not dag.tags:
        found.append("no tags: add tags=[...] to @dag so the UI can filter it")
    if written_schedule(path.read_text(), dag.dag_id) is NOT_WRITTEN:
        found.append(
            "no explicit schedule=: write schedule=... in @dag (None for manual runs only)"
        )
    if dag.catchup:
        found.append(
            "catchup is not False: set catchup=False so unpausing does not run the backlog"
        )
    start = dag.start_date
    if start is None or start.tzinfo is None or start.utcoffset() is None:
        found.append(f"start_date {start!r} is not timezone-aware: use tzinfo=dt.UTC")
    if not (dag.doc_md or "").strip():
        found.append("no Markdown docstring on the @dag function (the UI shows it)")
    for task in dag.tasks:
        found.extend(_task_problems(task))
    return found, dag


def _task_problems(task) -> list[str]:
    found = []
    name = f"task {task.task_id}"
    if task.owner in ("", "airflow"):
        found.append(f"{name}: set an owner in default_args (it is {task.owner!r})")
    if not task.retries:
        found.append(f"{name}: set retries in default_args (it is {task.retries})")
    if isinstance(task.retry_delay, dt.timedelta) and task.retry_delay.total_seconds() < 1:
        found.append(f"{name}: retry_delay {task.retry_delay} is too short: give it seconds")
    if task.retry_policy is None:
        found.append(
            f"{name}: set a retry_policy in default_args "
            "(lab.dag_support.retry_policy(), see dags/example_dag.py)"
        )
    if task.pool not in KNOWN_POOLS:
        found.append(
            f"{name}: pool {task.pool!r} is not one of {sorted(KNOWN_POOLS)}; "
            "a task in a missing pool never runs"
        )
    return found
