"""Exercise 02 · your own mart: a model, its YAML tests, a unit test, and one layer built."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from lab.config import QUARANTINE_ORDERS, RAW_CUSTOMERS, RAW_ORDERS, Settings, get_settings
from lab.exercises.common import remove
from lab.exercises.core import Exercise, Task, Verdict, forget, register
from lab.profiles import get_warehouse
from lab import transform

LESSON = "02"
MODEL = "customer_returns"
FOLDER = "dbt/models/marts/exercises"  # git-ignored: the learner's own models
INPUT = "stg_orders"  # the staging model the mart reads
RAW_TABLES = (RAW_ORDERS, RAW_CUSTOMERS, QUARANTINE_ORDERS)
BUILD = (
    f"transform.build(select={MODEL!r}) in the notebook, "
    f"or `lab dbt build --select {MODEL}` in a terminal"
)
COLUMNS = ("customer_id", "number_of_orders", "number_of_returns")
REFERENCE = """
select customer_id, count(*) as number_of_orders,
       sum(case when status = 'returned' then 1 else 0 end) as number_of_returns
from stg_orders group by customer_id
"""
SOLUTION_SQL = """\
with

orders as (

    select * from {{ ref('stg_orders') }}

),

final as (

    select
        customer_id,
        count(*) as number_of_orders,
        sum(case when status = 'returned' then 1 else 0 end) as number_of_returns

    from orders
    group by customer_id

)

select * from final"""
SOLUTION_YAML = """\
models:
  - name: customer_returns
    description: One row per customer who ordered, with how many of their orders were returned.
    columns:
      - name: customer_id
        description: The customer's id.
        data_tests:
          - unique
          - not_null
          - relationships:
              arguments:
                to: ref('stg_customers')
                field: customer_id

unit_tests:
  - name: customer_returns_counts_only_completed_returns
    description: A return that is still pending is not a return yet.
    model: customer_returns
    given:
      - input: ref('stg_orders')
        rows:
          - {order_id: 1, customer_id: 7, status: returned}
          - {order_id: 2, customer_id: 7, status: return_pending}
          - {order_id: 3, customer_id: 7, status: completed}
    expect:
      rows:
        - {customer_id: 7, number_of_orders: 3, number_of_returns: 1}"""


def _target(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).dbt_target_dir


def _manifest() -> dict:
    path = _target() / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _model_node(manifest: dict) -> dict | None:
    return next(
        (
            n
            for n in manifest.get("nodes", {}).values()
            if n.get("resource_type") == "model" and n.get("name") == MODEL
        ),
        None,
    )


def _unknown_model() -> str:
    """What to do when dbt's manifest has no model of the exercise's name."""
    if (get_settings().root / FOLDER / f"{MODEL}.sql").exists():
        return (
            f"{FOLDER}/{MODEL}.sql exists, but dbt has not read it yet: build it with {BUILD} "
            "(if dbt reports an error, fix the SQL it names)"
        )
    return (
        f"dbt does not know a model {MODEL!r} yet: write its SQL to {FOLDER}/{MODEL}.sql "
        f"(exercises.write_file in task 1's cell), then build it with {BUILD}"
    )


def _staging_ids(manifest: dict) -> set[str]:
    return {
        uid
        for uid, n in manifest.get("nodes", {}).items()
        if n.get("resource_type") == "model" and "staging" in n.get("fqn", [])
    }


def _described(uid: str) -> str:
    """A manifest id as the learner wrote it: source('sandbox', 'raw_orders'), ref('x')."""
    parts = uid.split(".")
    if parts[0] == "source" and len(parts) >= 4:
        return f"the source source('{parts[2]}', '{parts[3]}')"
    return f"the {parts[0]} ref('{parts[-1]}')"


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STRING = re.compile(r"'(?:[^']|'')*'")
_RELATION = re.compile(r'\b(?:from|join)\s+(?:"?\w+"?\s*\.\s*)*"?(\w+)"?')
_CTE = re.compile(r"\b(\w+)\s+as\s*\(")


def literal_relations(sql: str, names: set[str]) -> list[str]:
    """The known relation names a model's SQL reads by their literal name (`from raw_orders`),
    outside Jinja: dbt cannot see these, so they are missing from the model's dependencies."""
    text = _STRING.sub("''", _COMMENT.sub(" ", _JINJA.sub(" ", sql))).lower()
    ctes = set(_CTE.findall(text))
    return sorted({n for n in _RELATION.findall(text) if n in names and n not in ctes})


def _input_problem(node: dict, manifest: dict) -> str | None:
    """Why the mart does not read the staging layer (and only it), or None when it does."""
    deps = list((node.get("depends_on") or {}).get("nodes") or [])
    staging = _staging_ids(manifest)
    fix = (
        f"a mart reads the staging layer only: {{{{ ref('{INPUT}') }}}} "
        "(stg_customers may join in), never a source, a seed or a raw table; "
        f"change {FOLDER}/{MODEL}.sql and build it again"
    )
    others = [d for d in deps if d not in staging]
    read = ", ".join(_described(d) for d in deps)
    if others:
        return f"{MODEL} reads {', '.join(_described(d) for d in others)}: {fix}"
    names = set(RAW_TABLES) | {
        n.get("name", "")
        for group in ("nodes", "sources")
        for n in manifest.get(group, {}).values()
        if n.get("resource_type") in ("model", "seed", "source")
    }
    literal = literal_relations(node.get("raw_code") or "", names - {MODEL})
    if literal:
        return (
            f"{MODEL}'s SQL names the table {', '.join(literal)} literally, so dbt cannot see "
            f"what it reads (it depends on {read or 'nothing'}): {fix}"
        )
    if not any(d.split(".")[-1] == INPUT for d in deps):
        return (
            f"{MODEL} does not read {{{{ ref('{INPUT}') }}}} "
            f"(dbt sees it read {read or 'nothing'}): {fix}"
        )
    return None


def check_model(answers) -> Verdict:
    manifest = _manifest()
    node = _model_node(manifest)
    if node is None:
        return Verdict(False, _unknown_model())
    problem = _input_problem(node, manifest)
    if problem:
        return Verdict(False, problem)
    warehouse = get_warehouse()
    if not warehouse.table_exists(MODEL):
        return Verdict(
            False, f"dbt knows the model {MODEL} but it is not built: build it with {BUILD}"
        )
    frame = warehouse.query(f"select * from {MODEL}")
    frame.columns = [c.lower() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        return Verdict(
            False,
            f"{MODEL} lacks the column(s) {', '.join(missing)} (it has: {', '.join(frame.columns)})",
        )
    want = {tuple(int(x) for x in r) for r in warehouse.query(REFERENCE).itertuples(index=False)}
    have = {tuple(int(x) for x in r) for r in frame[list(COLUMNS)].itertuples(index=False)}
    if want != have:
        wrong = sorted(want - have)[:1] or sorted(have - want)[:1]
        return Verdict(
            False,
            f"{MODEL} has {len(have)} rows, {len(want - have)} of the {len(want)} expected ones differ "
            f"or are missing (e.g. customer {wrong[0][0]} should be {sorted(want - have)[:1] or 'absent'}); "
            "count every order, and only status 'returned' as a return; rebuild after changing the SQL",
        )
    return Verdict(True, f"{MODEL} is built: {len(have)} customers, every count right")


def _tests_on(manifest: dict, model_id: str) -> list[dict]:
    return [
        n
        for n in manifest.get("nodes", {}).values()
        if n.get("resource_type") == "test" and n.get("attached_node") == model_id
    ]


def _run_tests(answers: dict) -> dict[str, str]:
    """Run the model's tests now (dbt test), keeping dbt's own latest results as they were.

    Tasks 2 and 3 both need the outcome; one check runs dbt once (kept in its answers dict).
    """
    if "_dbt_test_statuses" not in answers:
        answers["_dbt_test_statuses"] = _dbt_test()
    return answers["_dbt_test_statuses"]


def _dbt_test() -> dict[str, str]:

    target = _target()
    saved = {
        name: (target / name).read_bytes()
        for name in ("run_results.json", "manifest.json")
        if (target / name).exists()
    }
    try:
        run = transform.test(select=MODEL)
        if run.error:
            return {"<dbt>": run.error}
        return {r["name"]: r["status"] for r in run.rows}
    finally:
        for name, data in saved.items():
            (target / name).write_bytes(data)


def check_yaml_tests(answers) -> Verdict:
    manifest = _manifest()
    node = _model_node(manifest)
    if node is None:
        return Verdict(False, f"write and build the model {MODEL} first (task 1)")
    problems = []
    if not (node.get("description") or "").strip():
        problems.append("the model has no description")
    tests = _tests_on(manifest, node["unique_id"])
    kinds = {((t.get("test_metadata") or {}).get("name"), t.get("column_name")): t for t in tests}
    for kind in ("unique", "not_null", "relationships"):
        if (kind, "customer_id") not in kinds:
            problems.append(f"no {kind} test on customer_id")
    rel = kinds.get(("relationships", "customer_id"))
    if rel is not None:
        kwargs = (rel.get("test_metadata") or {}).get("kwargs", {})
        to, field = str(kwargs.get("to", "")), str(kwargs.get("field", ""))
        if not _is_ref(to, "stg_customers"):
            problems.append(
                f"the relationships test points to {to or 'nothing'}, not ref('stg_customers')"
            )
        elif field.strip("'\" ") != "customer_id":
            problems.append(
                f"the relationships test compares with stg_customers.{field or '?'}, "
                "not stg_customers.customer_id (field: customer_id)"
            )
    if problems:
        return Verdict(
            False,
            "; ".join(problems) + f" (in {FOLDER}/{MODEL}.yml; run a dbt command so dbt reads it)",
        )
    statuses = _run_tests(answers)
    failed = {
        n: s
        for n, s in statuses.items()
        if n in {t["name"] for t in tests} | {"<dbt>"} and s != "pass"
    }
    if failed:
        name, status = next(iter(failed.items()))
        return Verdict(False, f"dbt test {name}: {status}; fix the test or the model")
    return Verdict(
        True,
        f"description, unique, not_null and relationships on customer_id: {len(tests)} tests pass",
    )


def _value(value: object) -> str:
    """A cell of a unit test's rows as text: 7, 7.0 and "7" are all "7"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def _counts(value: object, number: int) -> bool:
    """Whether a unit test's cell holds this count (1, "1" and 1.0 all do)."""
    try:
        return float(_value(value)) == number
    except ValueError:
        return False


def _is_ref(text: str, model: str) -> bool:
    """Whether YAML text is ref('model') (any quotes or spaces, with a package or a version)."""
    text = re.sub(r"\s+", "", text).replace('"', "'")
    return re.fullmatch(rf"ref\(('\w+',)?'{model}'(,v(ersion)?=\w+)?\)", text) is not None


def _is_input(given: dict) -> bool:
    """Whether a unit test's `given` entry is ref('stg_orders')."""
    return _is_ref(str(given.get("input", "")), INPUT)


def _fixture_rows(fixture: dict) -> list[dict] | None:
    """A unit test's rows (a `given` entry or `expect`) as dicts, in any of dbt's formats:
    dict and csv rows (dbt parses csv into dicts), sql rows (run here in an in-memory DuckDB),
    or a fixture file. None when they cannot be read here (dbt's own run still judges them)."""
    rows, kind = fixture.get("rows"), fixture.get("format") or "dict"
    if rows is None and fixture.get("fixture"):
        suffix = "sql" if kind == "sql" else "csv"
        found = sorted(get_settings().dbt_dir.glob(f"tests/**/{fixture['fixture']}.{suffix}"))
        if not found:
            return None
        rows = found[0].read_text()
        if kind != "sql":
            rows = list(csv.DictReader(io.StringIO(rows.strip())))
    if isinstance(rows, list):
        return [r for r in rows if isinstance(r, dict)]
    if isinstance(rows, str) and kind == "sql":
        import duckdb  # only for a unit test written in dbt's sql format

        try:
            relation = duckdb.connect().sql(rows)
            return [dict(zip(relation.columns, r, strict=True)) for r in relation.fetchall()]
        except duckdb.Error:
            return None
    return None


def _pending_case(unit: dict) -> tuple[bool, str | None]:
    """Whether a unit test shows the rule (a pending return is not a return), and what is
    wrong with its rows if anything is."""
    name = unit.get("name", "?")
    given = unit.get("given") or []
    inputs = [g for g in given if _is_input(g)]
    if not inputs:
        shown = ", ".join(str(g.get("input")) for g in given) or "none"
        return False, (
            f"unit test {name} gives no rows for ref('{INPUT}'), the mart's input "
            f"(its inputs: {shown})"
        )
    rows, expect = _fixture_rows(inputs[0]), _fixture_rows(unit.get("expect") or {})
    if rows is None or expect is None:
        return "return_pending" in json.dumps(inputs[0]), None
    pending = [r for r in rows if _value(r.get("status")) == "return_pending"]
    customers = {_value(r.get("customer_id")) for r in rows}
    shown = False
    for row in expect:
        if "number_of_returns" not in row:
            continue
        if "customer_id" in row:
            who = f"customer {_value(row['customer_id'])}"
            mine = [r for r in rows if _value(r.get("customer_id")) == _value(row["customer_id"])]
        elif len(customers) == 1:
            who, mine = "its customer", rows
        else:
            continue  # whose row this is, only dbt's own run can tell
        returned = sum(_value(r.get("status")) == "returned" for r in mine)
        if not _counts(row["number_of_returns"], returned):
            return True, (
                f"unit test {name} expects number_of_returns {_value(row['number_of_returns'])} "
                f"for {who}, but its given rows hold {returned} order(s) with status 'returned': "
                "a return_pending order is not a return"
            )
        if "number_of_orders" in row and not _counts(row["number_of_orders"], len(mine)):
            return True, (
                f"unit test {name} expects number_of_orders {_value(row['number_of_orders'])} "
                f"for {who}, but its given rows hold {len(mine)} order(s): every order counts"
            )
        shown = shown or any(r in mine for r in pending)
    return shown, None


def _unit_tests_elsewhere(manifest: dict) -> list[dict]:
    """Unit tests in the learner's folder that test another model."""
    folder = FOLDER.removeprefix("dbt/") + "/"
    return [
        u
        for u in manifest.get("unit_tests", {}).values()
        if u.get("model") != MODEL and str(u.get("original_file_path", "")).startswith(folder)
    ]


def check_unit_test(answers) -> Verdict:
    manifest = _manifest()
    units = [u for u in manifest.get("unit_tests", {}).values() if u.get("model") == MODEL]
    if not units:
        other = _unit_tests_elsewhere(manifest)
        if other:
            return Verdict(
                False,
                f"your unit test {other[0]['name']} tests the model {other[0]['model']}, "
                f"not {MODEL}: set `model: {MODEL}` (and give it rows for ref('{INPUT}'))",
            )
        return Verdict(
            False,
            f"no unit test for {MODEL} in its YAML (a `unit_tests:` entry with model: {MODEL})",
        )
    cases = [_pending_case(u) for u in units]
    problems = [p for _, p in cases if p]
    if problems:
        return Verdict(False, problems[0])
    if not any(shown for shown, _ in cases):
        return Verdict(
            False,
            f"no unit test on {MODEL} shows the case it is for: its given rows for "
            f"ref('{INPUT}') need an order with status return_pending, and its expect rows the "
            "number_of_returns of that order's customer, not counting it",
        )
    statuses = _run_tests(answers)
    names = {u["name"] for u in units}
    if "<dbt>" in statuses:
        return Verdict(False, f"dbt could not run the tests: {statuses['<dbt>']}")
    failed = {n: statuses.get(n, "not run") for n in names if statuses.get(n) != "pass"}
    if failed:
        name, status = next(iter(failed.items()))
        return Verdict(
            False,
            f"unit test {name}: {status}; compare its `expect` rows with what the model computes from `given`",
        )
    return Verdict(
        True,
        f"{len(units)} unit test(s) on {MODEL} pass, a pending return not counted: "
        f"{', '.join(sorted(names))}",
    )


def check_staging_only(answers) -> Verdict:
    results_file = _target() / "run_results.json"
    if not results_file.exists():
        return Verdict(False, "no dbt command has run yet")
    data = json.loads(results_file.read_text())
    which = (data.get("args") or {}).get("which", "")
    results = data.get("results", [])
    ids = [r.get("unique_id", "") for r in results]
    built = {i.split(".")[-1] for i in ids if i.startswith("model.")}
    staging = {
        n["name"]
        for n in _manifest().get("nodes", {}).values()
        if n.get("resource_type") == "model" and "staging" in n.get("fqn", [])
    } or {"stg_customers", "stg_orders"}
    if which != "build":
        return Verdict(
            False,
            f"dbt's last command was `{which or 'unknown'}`, not `build`: build runs the tests too",
        )
    if built != staging:
        extra, missing = sorted(built - staging), sorted(staging - built)
        parts = []
        if missing:
            parts.append(f"it did not build {', '.join(missing)}")
        if extra:
            parts.append(f"it also built {', '.join(extra)}")
        return Verdict(False, f"dbt's last build is not the staging layer: {'; '.join(parts)}")
    tests = [r for r in results if r.get("unique_id", "").startswith(("test.", "unit_test."))]
    bad = [r for r in results if r.get("status") not in ("success", "pass")]
    if not tests:
        return Verdict(False, "the last build ran no tests")
    if bad:
        name = bad[0]["unique_id"].split(".")[2]  # resource.project.name[.hash]
        return Verdict(False, f"the last build did not pass: {name} {bad[0]['status']}")
    return Verdict(
        True,
        f"the last build was the staging layer: {', '.join(sorted(built))} and {len(tests)} tests, all passed",
    )


def start(settings: Settings) -> list[str]:
    said: list[str] = []
    remove([settings.root / FOLDER], settings, said)
    if get_warehouse(settings).table_exists(MODEL):
        get_warehouse(settings).execute(f"drop table if exists {MODEL}")
        said.append(f"the table {MODEL}")
    forget(LESSON, settings)
    return said


EXERCISE = register(
    Exercise(
        lesson=LESSON,
        title="your own mart",
        notebook="02_dbt.ipynb",
        start=start,
        work=f"your models in {FOLDER}/ and the table {MODEL}",
        files=(FOLDER,),
        tasks=[
            Task(
                "1",
                f"write the mart model {MODEL} on ref('{INPUT}') and build it",
                check_model,
                [
                    f"Write the SQL with exercises.write_file('{FOLDER}/{MODEL}.sql', ...), in the shape of models/marts/customer_orders.sql.",
                    f"Read the orders with {{{{ ref('{INPUT}') }}}}: a mart reads the staging layer only (stg_customers may join in), never source() or a raw table such as raw_orders.",
                    "One row per customer_id: count(*) as number_of_orders, and the orders whose status is 'returned' as number_of_returns.",
                    f"Build it with transform.build(select='{MODEL}') and look at run.table(); in a terminal, `lab dbt build --select {MODEL}`.",
                ],
                SOLUTION_SQL,
            ),
            Task(
                "2",
                "give it a YAML file: a description and unique, not_null and relationships tests on customer_id",
                check_yaml_tests,
                [
                    f"The YAML goes beside the model: {FOLDER}/{MODEL}.yml; models/marts/customer_orders.yml shows the form.",
                    "relationships takes arguments: to: ref('stg_customers') and field: customer_id.",
                ],
                SOLUTION_YAML.split("\nunit_tests:")[0],
            ),
            Task(
                "3",
                "add a dbt unit test: a pending return is not a return",
                check_unit_test,
                [
                    f"A `unit_tests:` entry in the same YAML: model: {MODEL}, given (input: ref('{INPUT}') and its rows), expect (the rows out).",
                    "The given rows must hold an order with status return_pending, and expect must not count it: one customer with a returned, a return_pending and a completed order has number_of_orders 3 and number_of_returns 1.",
                ],
                "unit_tests:" + SOLUTION_YAML.split("\nunit_tests:")[1],
            ),
            Task(
                "4",
                "build only the staging layer, with its tests (do this last: the check reads dbt's latest results)",
                check_staging_only,
                [
                    "transform.build(select=...) takes any dbt selector.",
                    "A folder is selected by its path: `path:models/staging`, or by its name: `staging`.",
                ],
                'transform.build(select="staging")',
            ),
        ],
    )
)
