"""Exercise 02 · your own mart: a model, its YAML tests, a unit test, and one layer built."""

from __future__ import annotations

import json
from pathlib import Path

from lab.config import Settings, get_settings
from lab.exercises.common import remove
from lab.exercises.core import Exercise, Task, Verdict, forget, register
from lab.warehouse import get_warehouse

LESSON = "02"
MODEL = "customer_returns"
FOLDER = "dbt/models/marts/exercises"  # git-ignored: the learner's own models
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


def check_model(answers) -> Verdict:
    node = _model_node(_manifest())
    if node is None:
        return Verdict(
            False, f"dbt does not know a model {MODEL!r}: write {FOLDER}/{MODEL}.sql, then build it"
        )
    warehouse = get_warehouse()
    if not warehouse.table_exists(MODEL):
        return Verdict(False, f"the model {MODEL} is not built: transform.build(select={MODEL!r})")
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
    from lab import transform

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
        to = str((rel.get("test_metadata") or {}).get("kwargs", {}).get("to", ""))
        if "stg_customers" not in to:
            problems.append(
                f"the relationships test points to {to or 'nothing'}, not stg_customers"
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


def check_unit_test(answers) -> Verdict:
    manifest = _manifest()
    units = [u for u in manifest.get("unit_tests", {}).values() if u.get("model") == MODEL]
    if not units:
        return Verdict(
            False,
            f"no unit test for {MODEL} in its YAML (a `unit_tests:` entry with model: {MODEL})",
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
    return Verdict(True, f"{len(units)} unit test(s) on {MODEL} pass: {', '.join(sorted(names))}")


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
        tasks=[
            Task(
                "1",
                f"write the mart model {MODEL} and build it",
                check_model,
                [
                    f"Write the SQL with exercises.write_file('{FOLDER}/{MODEL}.sql', ...), in the shape of models/marts/customer_orders.sql.",
                    "One row per customer_id from stg_orders: count(*) as number_of_orders, and the orders whose status is 'returned' as number_of_returns.",
                    f"Build it with transform.build(select='{MODEL}') and look at run.table().",
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
                    "A `unit_tests:` entry in the same YAML: model, given (input rows for ref('stg_orders')), expect (the rows out).",
                    "Given one customer with a returned, a return_pending and a completed order, expect number_of_orders 3 and number_of_returns 1.",
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
