"""The house rules of a DAG file, and the DAG files read as source.

- `dag_files`: every DAG in `dags/` with its schedule, tags and docs, read with `ast` (no
  Airflow needed), as lesson 05 shows them.
- `parse_time_problems`: the work a DAG file does when Airflow parses it (every 30 s), read
  from its source with `ast`: heavy imports, Variables, connections, hooks, network calls.
- `check` = those, then `load` + `problems`: the file parsed by Airflow's DagBag and checked
  against the rules `tests/dags` holds the project's DAGs to, and exercise 05 a learner's.

Importing this module never imports airflow; `load` does, inside the function.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab.airflow.dag_support import DEFAULT_POOL, WAREHOUSE_POOL
from lab.config import Settings, get_settings

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


# --- the parse-time rules, on the source ---------------------------------------------------------
#
# Airflow imports every DAG file every 30 s (`min_file_process_interval`) to see what it
# declares. Whatever the file does then, it does on every parse, in the DAG processor, with a
# time limit: an import of pandas costs ~0.3 s a parse, lab.ingest pulls in duckdb, s3fs and
# pyarrow; a Variable or a connection is a metadata database query; a network call can hang
# the parse. So a DAG file imports only what declaring the DAG needs, and does its work in
# tasks. The code that runs at parse time is the module level (also inside `if`/`try`/`with`),
# decorator arguments and default arguments, class bodies, the body of a `@dag` (or
# `@task_group`) function, and any function of the file those call; the body of a `@task`
# function runs when the task runs.

# Modules a DAG file may import where Airflow parses it, with their submodules, and why.
LIGHT_MODULES = {
    "__future__": "a compiler directive: it loads nothing",
    "datetime": "start_date and retry_delay are written with it",
    "pendulum": "Airflow's own date library, loaded before any DAG file is parsed",
    "typing": "annotations",
    "collections.abc": "annotations",
    "pathlib": "paths next to the DAG file",
    "os": "paths next to the DAG file",
    "json": "Airflow's own tutorials import it at the top",
    "logging": "a module logger",
    "airflow": "the DAG author's API (airflow.sdk): parsing happens inside Airflow anyway",
}
# Every stdlib module above is already in sys.modules when Airflow parses a DAG file, so
# importing it again costs a dictionary lookup (tests/dags/test_dag_integrity.py checks that).
# Providers are packages of their own: their operators and sensors are what a DAG declares,
# so they are imported at parse time; their hooks import client libraries (psycopg2, boto3)
# and belong in the task that uses them.
PROVIDER_PARSE_TIME_PARTS = frozenset({"operators", "sensors", "decorators"})
# `lab` modules written to be imported at parse time, exactly these (not their neighbours):
# each imports no data library at its top (tests/lab/test_dag_rules.py checks that).
LIGHT_LAB_MODULES = {
    "lab": "the package itself: its __init__ imports nothing",
    "lab.airflow": "the package: its __init__ is a docstring",
    "lab.airflow.dag_support": "the pool, the retries and the tasks of the sandbox's DAGs, as constants",
    "lab.contract": "the data contract's constants (params' defaults and limits), stdlib only",
    "lab.config": "paths and names as constants; calling get_settings() is parse-time work",
    "lab.airflow.tasks": "the functions tasks call; it imports their libraries inside them",
}

# Calls that are work, by what they do and how to do it at run time instead. Each pattern is
# matched against the call's dotted name, resolved through the file's imports.
PARSE_TIME_CALLS = (
    (
        re.compile(r"(^|\.)Variable\.\w+$"),
        "reads an Airflow Variable (a metadata database query)",
        "read it inside a task, or pass the template '{{{{ var.value.{key} }}}}' to an operator",
    ),
    (
        re.compile(r"(^|\.)(get_connection|get_connection_from_secrets)$|(^|\.)Connection\.\w+$"),
        "looks up an Airflow connection (a metadata database or secrets backend query)",
        "look it up inside a task (a hook made there does), or use the template "
        "'{{{{ conn.{key} }}}}'",
    ),
    (
        re.compile(r"(^|\.)[A-Z]\w*Hook$|(^|\.)get_hook$"),
        "creates a hook, which looks up its connection",
        "create the hook inside the task that uses it",
    ),
    (
        re.compile(
            r"^(requests|httpx|urllib3|aiohttp|boto3|botocore|smtplib|ftplib)\."
            r"|^(urllib\.request|http\.client)\.|(^|\.)urlopen$"
            r"|^socket\.(create_connection|socket|getaddrinfo|gethostbyname)$"
        ),
        "makes a network call (it can hang the parse)",
        "make it inside a task",
    ),
    (
        re.compile(
            r"^(psycopg|psycopg2|duckdb|sqlite3)\.connect$|^sqlalchemy\.create_engine$"
            r"|^lab\.(warehouse\.get_warehouse|lake\.get_lake)$"
        ),
        "opens a database or object store connection",
        "open it inside the task that uses it",
    ),
    (
        re.compile(r"^lab\.config\.get_settings$"),
        "reads the sandbox settings (.env and the environment)",
        "call it inside a task; lab.airflow.dag_support has the constants a DAG declares",
    ),
    (
        re.compile(r"^subprocess\.|^os\.(system|popen)$"),
        "runs a program",
        "run it inside a task",
    ),
)
PARSE_TIME_DECORATORS = frozenset({"dag", "task_group"})  # their bodies run at parse time
RUN_TIME_DECORATORS = frozenset({"task", "setup", "teardown"})  # and `task.<kind>`


def parse_time_problems(source: str, filename: str = "<dag file>") -> list[str]:
    """What a DAG file does when Airflow parses it, read from its source (no Airflow, no
    import): heavy imports, Variables, connections, hooks and network calls outside tasks.

    One sentence a problem: its line, the code, why it matters and how to fix it. Templates
    such as '{{ var.value.x }}' are strings rendered at run time: they are fine.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return [f"line {exc.lineno}: the file is not valid Python: {exc.msg}"]
    return _ParseTimeReader(tree).problems()


def light_import(module: str) -> bool:
    """Whether a DAG file may import `module` where Airflow parses it (see LIGHT_MODULES)."""
    if module in LIGHT_LAB_MODULES:
        return True
    if module.startswith("airflow.providers.") or module == "airflow.providers":
        return bool(PROVIDER_PARSE_TIME_PARTS & set(module.split(".")[3:]))
    return any(module == name or module.startswith(name + ".") for name in LIGHT_MODULES)


class _ParseTimeReader:
    """Walks the code of a DAG file that runs when Airflow imports it, collecting problems."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self.aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.aliases[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        self.found: dict[tuple[int, str], str] = {}
        self.entered: set[int] = set()

    def problems(self) -> list[str]:
        self.statements(self.tree.body, "")
        return [text for _, text in sorted(self.found.items())]

    def report(self, node: ast.AST, text: str) -> None:
        self.found.setdefault((node.lineno, text), f"line {node.lineno}: {text}")

    # statements -------------------------------------------------------------------------------

    def statements(self, body: list[ast.stmt], where: str) -> None:
        for statement in body:
            self.statement(statement, where)

    def statement(self, node: ast.stmt, where: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.definition(node, where)
            kind = _decorator_kind(node)
            if kind in PARSE_TIME_DECORATORS:
                self.enter(node, f" (in the body of @{kind} {node.name}, which runs at parse time)")
        elif isinstance(node, ast.ClassDef):
            for expr in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
                self.expression(expr, where)
            for item in node.body:  # a class body runs when the class is defined
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.definition(item, where)
                else:
                    self.statement(item, where)
        elif isinstance(node, ast.If) and _type_checking(node.test):
            self.statements(node.orelse, where)  # the `if TYPE_CHECKING:` body never runs
        elif isinstance(node, ast.Import):
            heavy = [a for a in node.names if not light_import(a.name)]
            for alias in heavy:
                code = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                self.heavy_import(node, code, where)
        elif isinstance(node, ast.ImportFrom):
            self.import_from(node, where)
        else:
            self.children(node, where)

    def definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef, where: str) -> None:
        """What defining a function runs now: its decorators and default arguments."""
        args = node.args
        for expr in (*node.decorator_list, *args.defaults, *filter(None, args.kw_defaults)):
            self.expression(expr, where)

    def enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef, where: str) -> None:
        """Read a function body that runs at parse time (once, however often it is called)."""
        if id(node) not in self.entered:
            self.entered.add(id(node))
            self.statements(node.body, where)

    def import_from(self, node: ast.ImportFrom, where: str) -> None:
        module = "." * node.level + (node.module or "")
        if node.level:
            heavy = [a.name for a in node.names]
        elif module == "lab" or module.startswith("lab."):
            # `from lab.x import y`: y is a module of lab.x, or a name lab.x defines
            heavy = [a.name for a in node.names if not light_import(_lab_target(module, a.name))]
        elif not light_import(module):
            heavy = [a.name for a in node.names]
        else:
            heavy = []
        if heavy:
            self.heavy_import(node, f"from {module} import {', '.join(heavy)}", where)

    def heavy_import(self, node: ast.stmt, code: str, where: str) -> None:
        self.report(
            node,
            f"`{code}` runs every time Airflow parses the file (every 30 s){where}: move `{code}` into the "
            "task function that uses it",
        )

    def children(self, node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self.statement(child, where)
            elif isinstance(child, ast.expr):
                self.expression(child, where)
            else:  # except handlers, with items, keywords, comprehensions, match cases
                self.children(child, where)

    # expressions ------------------------------------------------------------------------------

    def expression(self, node: ast.expr, where: str) -> None:
        if isinstance(node, ast.Lambda):  # its body runs when it is called, its defaults now
            args = node.args
            for expr in (*args.defaults, *filter(None, args.kw_defaults)):
                self.expression(expr, where)
            return
        if isinstance(node, ast.Call):
            self.call(node, where)
        self.children(node, where)

    def call(self, node: ast.Call, where: str) -> None:
        name = self.resolve(node.func)
        for pattern, what, fix in PARSE_TIME_CALLS:
            if name and pattern.search(name):
                key = _first_literal(node) or "<key>"
                code = ast.unparse(node)
                code = code if len(code) <= 70 else code[:67] + "..."
                self.report(
                    node,
                    f"`{code}` {what} every time Airflow parses the file (every 30 s){where}: "
                    + fix.format(key=key),
                )
                return
        # a function or class of this file called now runs now (a task's body does not)
        if isinstance(node.func, ast.Name):
            called = f" (in {node.func.id}(), called at parse time on line {node.lineno})"
            for function in self.functions.get(node.func.id, []):
                if _decorator_kind(function) not in RUN_TIME_DECORATORS:
                    self.enter(function, called)
            if node.func.id in self.classes:
                for item in self.classes[node.func.id].body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        self.enter(item, called)

    def resolve(self, node: ast.expr) -> str:
        """The dotted name a call reaches, through the file's imports: `V.get` after
        `from airflow.sdk import Variable as V` is `airflow.sdk.Variable.get`."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call):  # `Variable().get(...)`, `PostgresHook(...).run(...)`
            return self.resolve(node.func) + "." + ".".join(reversed(parts)) if parts else ""
        if not isinstance(node, ast.Name):
            return ""
        return ".".join([self.aliases.get(node.id, node.id), *reversed(parts)])


def _decorator_kind(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """`dag`, `task_group`, `task` (also `task.bash`, `task(...)`), `setup`, `teardown` or ''."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        names = []
        while isinstance(target, ast.Attribute):
            names.append(target.attr)
            target = target.value
        if isinstance(target, ast.Name):
            names.append(target.id)
        for name in reversed(names):  # `airflow.sdk.dag` -> dag; `task.virtualenv` -> task
            if name in PARSE_TIME_DECORATORS or name in RUN_TIME_DECORATORS:
                return name
    return ""


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _lab_target(module: str, name: str) -> str:
    """What `from <module> import <name>` imports: the module `<module>.<name>` when there is
    one (a file or a package of lab), else `<module>`, which defines the name."""
    root = Path(__file__).resolve().parents[1]  # lab/
    folder = root.parent.joinpath(*module.split("."))
    if (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists():
        return f"{module}.{name}"
    return module


def _first_literal(node: ast.Call) -> str:
    first = node.args[0] if node.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""


# --- the rules, on a file parsed by Airflow ----------------------------------------------------


def load(path: Path):
    """Airflow's DagBag of one DAG file, parsed as the scheduler would (imports airflow)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(path), known_pools=set(KNOWN_POOLS))


def check(path: Path) -> tuple[list[str], Any]:
    """Every house rule on one DAG file: its parse-time work read from the source first; only
    a file that does none is then imported by Airflow (importing the others would do that
    work now: a lookup, a network call) and checked as `problems` does."""
    found = parse_time_problems(path.read_text(), filename=str(path))
    if found:
        return found, None
    return problems(load(path), path)


def problems(bag, path: Path) -> tuple[list[str], Any]:
    """What breaks the house rules in the DagBag of one file, each with its fix (the
    parse-time rules on its source first); and its DAG (None when the file does not import or
    does not define one DAG named as the file)."""
    found = parse_time_problems(path.read_text(), filename=str(path))
    if bag.import_errors:
        return found + [
            f"import error: {error.strip().splitlines()[-1]}"
            for error in bag.import_errors.values()
        ], None
    if list(bag.dags) != [path.stem]:
        return found + [
            f"the file must define one DAG whose dag_id is {path.stem!r} (its file name), found "
            f"{list(bag.dags)}. Fix: one @dag function a file, named as the file"
        ], None
    dag = bag.dags[path.stem]
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
            "(lab.airflow.dag_support.retry_policy(), see dags/example_dag.py)"
        )
    if task.pool not in KNOWN_POOLS:
        found.append(
            f"{name}: pool {task.pool!r} is not one of {sorted(KNOWN_POOLS)}; "
            "a task in a missing pool never runs"
        )
    return found
