"""Exercise 07 · changing data: an incremental model of your own, and questions the snapshot answers.

The exercise's day (EXERCISE_DATES["07"]) carries status updates of the orders of lesson 07's two
days, so it needs them loaded: `lesson_days()` loads them (and takes a snapshot) when they are not.
"""

from __future__ import annotations

import datetime as dt
import json

from lab import transform
from lab.config import LOAD_BATCHES, RAW_ORDERS, Settings, get_settings
from lab.contract import as_date
from lab.exercises.common import day_of, delete_day, remove, run_learner_sql, same_number
from lab.exercises.core import Exercise, Task, Verdict, forget, register
from lab.exercises.ex02_dbt import FOLDER
from lab.observe import metrics
from lab.profiles import get_warehouse
from lab.steps import STEPS

LESSON = "07"
MODEL = "order_status_latest"
SNAPSHOT = "orders_snapshot"
MODEL_FILE = f"{FOLDER}/{MODEL}.sql"
# Lesson 07's days, as the lesson loads them (date, updates, reach): the exercise's day updates
# their orders, so its snapshot has versions to close.
LESSON_DAYS = (("2026-11-13", 0.0, 1), ("2026-11-14", 0.1, 1))
UPDATES, REACH = 0.1, 2  # how the exercise's day is generated: updates of both lesson days
BUILD = f"transform.build(select={MODEL!r})"
# Task 4's days: three past days no lesson or other exercise loads, run by an Airflow backfill.
BACKFILL_DAYS = ("2026-11-16", "2026-11-17", "2026-11-18")
DAG_ID = "notebook_pipeline"
BACKFILL_COMMAND = (
    f'make airflow-cli ARGS="backfill create --dag-id {DAG_ID} --from-date {BACKFILL_DAYS[0]} '
    f'--to-date {BACKFILL_DAYS[-1]} --max-active-runs 1"'
)
# Airflow names a backfill's runs backfill__<date>; the pipeline records them made safe for paths.
BACKFILL_RUN_PREFIX = "backfill__"
SOLUTION_SQL = """\
{{ config(materialized='incremental', unique_key='order_id') }}

with

-- stg_orders holds each order's latest delivery; on an incremental run, only those of the
-- newest batch this table holds and anything newer: the orders that are new or changed.
orders as (

    select * from {{ ref('stg_orders') }}

    {% if is_incremental() %}
        where batch_date >= (select max(held.batch_date) from {{ this }} as held)
    {% endif %}

),

final as (

    select
        order_id,
        status,
        batch_date

    from orders

)

select * from final"""


def _day() -> dt.date:
    return day_of(LESSON)


def _the_day_before() -> dt.date:
    return _day() - dt.timedelta(days=1)


def lesson_days(say=print) -> None:
    """Load lesson 07's two days if they are not loaded yet, and take a snapshot after each."""
    from lab import ingest

    warehouse = get_warehouse()
    loaded = 0
    for day, updates, reach in LESSON_DAYS:
        if int(
            warehouse.scalar(
                f"select count(*) from {RAW_ORDERS} where batch_date = ?", [as_date(day)]
            )
            or 0
        ):
            continue
        ingest.land_batch(day, updates=updates, reach=reach)
        say(ingest.load_batch(day))
        transform.build(select=SNAPSHOT).raise_on_failure()
        loaded += 1
    if not loaded:
        say(f"lesson 07's days ({', '.join(d for d, _, _ in LESSON_DAYS)}) are loaded")


# --- task 1: an incremental model -------------------------------------------------------------


def _manifest() -> dict:
    path = get_settings().dbt_target_dir / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _node(manifest: dict) -> dict | None:
    return next(
        (
            n
            for n in manifest.get("nodes", {}).values()
            if n.get("resource_type") == "model" and n.get("name") == MODEL
        ),
        None,
    )


def _unique_key(node: dict) -> list[str]:
    key = (node.get("config") or {}).get("unique_key")
    if key is None:
        return []
    return [str(k).strip().lower() for k in (key if isinstance(key, list) else [key])]


def _run_again() -> str | None:
    """Run the learner's model once more (an incremental run), keeping dbt's latest results
    as they were; return dbt's error, if any."""
    target = get_settings().dbt_target_dir
    saved = {
        name: (target / name).read_bytes()
        for name in ("run_results.json", "manifest.json")
        if (target / name).exists()
    }
    try:
        run = transform.run(select=MODEL)
        return run.error or next(
            (
                f"{r['name']} {r['status']}: {r['message']}"
                for r in run.rows
                if r["status"] != "success"
            ),
            None,
        )
    finally:
        for name, data in saved.items():
            (target / name).write_bytes(data)


def check_model(answers) -> Verdict:
    node = _node(_manifest())
    if node is None:
        if (get_settings().root / MODEL_FILE).exists():
            return Verdict(
                False, f"{MODEL_FILE} exists, but dbt has not read it yet: build it with {BUILD}"
            )
        return Verdict(
            False,
            f"dbt does not know a model {MODEL!r} yet: write its SQL to {MODEL_FILE} "
            f"(exercises.write_file in task 1's cell), then build it with {BUILD}",
        )
    materialized = (node.get("config") or {}).get("materialized")
    if materialized != "incremental":
        return Verdict(
            False,
            f"{MODEL} is materialized as {materialized!r}: every run rebuilds it from everything; "
            "make it incremental with {{ config(materialized='incremental', ...) }} at the top, "
            f"and build it again",
        )
    warehouse = get_warehouse()
    if not warehouse.table_exists(MODEL):
        return Verdict(
            False, f"dbt knows the model {MODEL} but it is not built: build it with {BUILD}"
        )
    error = _run_again()
    if error:
        return Verdict(
            False,
            f"the check ran {MODEL} once more and dbt said: {error}; fix the SQL, and if the "
            "table was built before from other SQL, rebuild it from scratch: "
            f"transform.build(select={MODEL!r}, full_refresh=True)",
        )
    counts = warehouse.query(
        f"select count(*) as n, count(distinct order_id) as orders from {MODEL}"
    ).iloc[0]
    rows, orders = int(counts["n"]), int(counts["orders"])
    key = _unique_key(node)
    if rows != orders:
        why = (
            f"its unique_key is {', '.join(key)}, not order_id"
            if key
            else "it has no unique_key, so each run appends the rows it reads beside the old ones"
        )
        return Verdict(
            False,
            f"after one more run, {MODEL} holds {rows} rows for {orders} orders: {why}; "
            "set unique_key='order_id' in its config and rebuild it with "
            f"transform.build(select={MODEL!r}, full_refresh=True)",
        )
    if key != ["order_id"]:
        return Verdict(
            False,
            f"{MODEL}'s unique_key is {', '.join(key) or 'not set'}: set unique_key='order_id', so "
            "an order's new row replaces its old one",
        )
    if "is_incremental()" not in (node.get("raw_code") or "").replace(" ", ""):
        return Verdict(
            False,
            f"{MODEL} has no {{% if is_incremental() %}} filter: every run reads every order; "
            "on incremental runs read only the rows from the newest batch_date the table holds "
            "({{ this }}) on",
        )
    wrong = int(
        warehouse.scalar(
            f"select count(*) from stg_orders s left join {MODEL} m on m.order_id = s.order_id "
            "where m.order_id is null or m.status is distinct from s.status"
        )
        or 0
    )
    if wrong or rows != int(warehouse.scalar("select count(*) from stg_orders") or 0):
        return Verdict(
            False,
            f"{MODEL} holds {rows} orders and {wrong} of stg_orders' orders are missing from it or "
            "have another status: keep one row per order with its latest status (order_id, status, "
            "batch_date from ref('stg_orders')), and rebuild it",
        )
    return Verdict(
        True,
        f"{MODEL} is incremental (unique_key order_id, an is_incremental() filter); run once more, "
        f"it still holds {rows} orders, one row each, every status current",
    )


# --- task 2: how many orders changed status on the exercise's day ----------------------------


def _changed_reference(day: dt.date) -> int:
    """The orders the day delivered again: they had an earlier delivery (from raw_orders)."""
    return int(
        get_warehouse().scalar(
            f"select count(*) from {RAW_ORDERS} d where d.batch_date = ? and exists ("
            f"select 1 from {RAW_ORDERS} e where e.order_id = d.order_id and e.batch_date < d.batch_date)",
            [day],
        )
        or 0
    )


def _day_is_in_snapshot(day: dt.date) -> str | None:
    """Why the snapshot cannot answer for the day yet, or None when it can."""
    warehouse = get_warehouse()
    if not int(
        warehouse.scalar(f"select count(*) from {RAW_ORDERS} where batch_date = ?", [day]) or 0
    ):
        return (
            f"{day} is not loaded: land and load it (ingest.land_batch('{day}', updates={UPDATES}, "
            f"reach={REACH}) then ingest.load_batch('{day}')), then take a snapshot"
        )
    if not warehouse.table_exists(SNAPSHOT) or not int(
        warehouse.scalar(
            f"select count(*) from {SNAPSHOT} where cast(dbt_valid_from as date) = ?", [day]
        )
        or 0
    ):
        return (
            f"{SNAPSHOT} holds no version from {day}: take a snapshot after loading the day "
            f"(transform.build(select='{SNAPSHOT}'))"
        )
    return None


def check_changed(answers) -> Verdict:
    day = _day()
    problem = _day_is_in_snapshot(day)
    if problem:
        return Verdict(False, problem)
    query = answers.get("changed_sql")
    frame = run_learner_sql(query, "changed_sql")
    if SNAPSHOT not in str(query).lower():
        return Verdict(False, f"`changed_sql` does not read {SNAPSHOT}: answer from the snapshot")
    if frame.shape != (1, 1):
        return Verdict(
            False,
            f"`changed_sql` returns {frame.shape[0]} rows of {frame.shape[1]} columns: one number",
        )
    want, have = _changed_reference(day), frame.iloc[0, 0]
    if want == 0:
        return Verdict(
            False,
            f"{day} brought no status updates: land it with updates={UPDATES}, reach={REACH} "
            "and load it again, then take a snapshot",
        )
    if not same_number(want, have):
        return Verdict(
            False,
            f"`changed_sql` counts {have}, not the orders whose status changed on {day}: "
            "a change closes the order's earlier version on that day; a new order only opens one",
        )
    return Verdict(True, f"{want} orders changed status on {day}, as raw_orders says too")


# --- task 3: an order's status on the day before ---------------------------------------------


def _first_changed(day: dt.date) -> tuple[int, str, dt.date] | None:
    """The smallest order id the day changed, with its status and batch date on the day before."""
    frame = get_warehouse().query(
        f"with changed as (select min(d.order_id) as order_id from {RAW_ORDERS} d "
        f"where d.batch_date = ? and exists (select 1 from {RAW_ORDERS} e "
        "where e.order_id = d.order_id and e.batch_date < d.batch_date)) "
        f"select r.order_id, r.status, r.batch_date from {RAW_ORDERS} r join changed using (order_id) "
        "where r.batch_date < ? order by r.batch_date desc limit 1",
        [day, day],
    )
    if frame.empty:
        return None
    row = frame.iloc[0]
    return int(row["order_id"]), str(row["status"]), as_date(str(row["batch_date"])[:10])


def check_status_then(answers) -> Verdict:
    day, before = _day(), _the_day_before()
    problem = _day_is_in_snapshot(day)
    if problem:
        return Verdict(False, problem)
    found = _first_changed(day)
    if found is None:
        return Verdict(False, f"no order changed status on {day}: load it with updates={UPDATES}")
    order_id, status, since = found
    have_status = answers.get("status_then")
    have_since = answers.get("status_since")
    if not isinstance(have_status, str) or not have_status.strip():
        return Verdict(
            False, '`status_then` is empty: write the status as text, e.g. status_then = "shipped"'
        )
    if have_status.strip().lower() != status:
        return Verdict(
            False,
            f"order {order_id} did not have the status {have_status!r} on {before}: take its "
            f"version in {SNAPSHOT} that was valid then (dbt_valid_from <= '{before}' and "
            f"dbt_valid_to > '{before}' or null)",
        )
    if str(have_since or "")[:10] != since.isoformat():
        return Verdict(
            False,
            f"the status is right, but `status_since` {have_since!r} is not the day that version "
            "began: its dbt_valid_from, as 'YYYY-MM-DD'",
        )
    return Verdict(
        True, f"order {order_id} was {status} on {before}, a version valid from {since} to {day}"
    )


# --- task 4: a backfill of three days -------------------------------------------------------


def _backfill_loads() -> dict[dt.date, dict]:
    """Each backfill day's latest load record."""
    warehouse = get_warehouse()
    if not warehouse.table_exists(LOAD_BATCHES):
        return {}
    days = [as_date(d) for d in BACKFILL_DAYS]
    frame = warehouse.query(
        f"select batch_date, run_id, rows_loaded from {LOAD_BATCHES} "
        "where batch_date between ? and ? order by loaded_at",
        [days[0], days[-1]],
    )
    return {as_date(str(r["batch_date"])[:10]): r for r in frame.to_dict("records")}


def check_backfill(answers) -> Verdict:
    days = [as_date(d) for d in BACKFILL_DAYS]
    loads = _backfill_loads()
    missing = [d.isoformat() for d in days if d not in loads]
    if missing:
        return Verdict(
            False,
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not loaded: with "
            "`make airflow` running in a terminal, run in another one: "
            f"{BACKFILL_COMMAND}; the Runs tab of the UI shows its runs",
        )
    for day in days:
        run_id = str(loads[day]["run_id"] or "")
        if not run_id.startswith(BACKFILL_RUN_PREFIX):
            return Verdict(
                False,
                f"{day} was loaded by the run {run_id!r}, not by a backfill (whose runs Airflow "
                f"names {BACKFILL_RUN_PREFIX}...): `lab reset --lesson {LESSON}` removes the three "
                f"days, then run {BACKFILL_COMMAND} with --reprocess-behavior completed",
            )
        steps = metrics.step_runs(run_id)
        done = set(steps.loc[steps["outcome"] == "success", "step"])
        unfinished = [s.name for s in STEPS if s.name not in done]
        if unfinished:
            return Verdict(
                False,
                f"the backfill's run {run_id} loaded {day}, but its steps "
                f"{', '.join(unfinished)} did not succeed (yet): wait for the run to finish, "
                "and look at its failed task's log in the Airflow UI",
            )
    runs = ", ".join(str(loads[d]["run_id"]) for d in days)
    return Verdict(
        True,
        f"{days[0]} to {days[-1]}: each loaded once by a backfill run of {DAG_ID}, every step "
        f"successful ({runs})",
    )


# --- undo ---------------------------------------------------------------------------------------


def start(settings: Settings) -> list[str]:
    said: list[str] = []
    root = settings.root
    remove([root / MODEL_FILE, root / FOLDER / f"{MODEL}.yml"], settings, said)
    warehouse = get_warehouse(settings)
    if warehouse.table_exists(MODEL):
        warehouse.execute(f"drop table if exists {MODEL}")
        said.append(f"the table {MODEL}")
    day = day_of(LESSON)
    if warehouse.table_exists(SNAPSHOT):
        opened = int(
            warehouse.scalar(
                f"select count(*) from {SNAPSHOT} where cast(dbt_valid_from as date) = ?", [day]
            )
            or 0
        )
        if opened:
            warehouse.execute(
                f"delete from {SNAPSHOT} where cast(dbt_valid_from as date) = ?", [day]
            )
            warehouse.execute(
                f"update {SNAPSHOT} set dbt_valid_to = null where cast(dbt_valid_to as date) = ?",
                [day],
            )
            said.append(f"{opened} versions of {day} in {SNAPSHOT}")
    delete_day(day, settings, said)
    for backfilled in BACKFILL_DAYS:
        delete_day(as_date(backfilled), settings, said)
    if warehouse.table_exists(LOAD_BATCHES):
        first, last = as_date(BACKFILL_DAYS[0]), as_date(BACKFILL_DAYS[-1])
        records = int(
            warehouse.scalar(
                f"select count(*) from {LOAD_BATCHES} where batch_date between ? and ?",
                [first, last],
            )
            or 0
        )
        if records:
            warehouse.execute(
                f"delete from {LOAD_BATCHES} where batch_date between ? and ?", [first, last]
            )
            said.append(f"{records} load records of {first} to {last}")
    forget(LESSON, settings)
    return said


_DAY = day_of(LESSON)
_BEFORE = _DAY - dt.timedelta(days=1)
CHANGED_SQL = f"select count(*) from {SNAPSHOT} where cast(dbt_valid_to as date) = '{_DAY}'"
STATUS_SQL = f"""\
select order_id, status, cast(dbt_valid_from as date) as status_since
from {SNAPSHOT}
where order_id = (
    select min(order_id) from {SNAPSHOT} where cast(dbt_valid_to as date) = '{_DAY}'
)
and dbt_valid_from <= '{_BEFORE}' and (dbt_valid_to > '{_BEFORE}' or dbt_valid_to is null)"""


EXERCISE = register(
    Exercise(
        lesson=LESSON,
        title="changing data",
        notebook="07_changing_data.ipynb",
        start=start,
        work=(
            f"your model {MODEL_FILE}, the table {MODEL}, the day {day_of(LESSON)} and its "
            f"snapshot versions, the backfilled days {BACKFILL_DAYS[0]} to {BACKFILL_DAYS[-1]}"
        ),
        files=(MODEL_FILE,),
        answers=("changed_sql", "status_then", "status_since"),
        tasks=[
            Task(
                "1",
                f"write an incremental model {MODEL} (one row per order, its latest status) with a unique_key",
                check_model,
                [
                    f"Write it with exercises.write_file('{MODEL_FILE}', ...); dbt/models/marts/orders.sql is an incremental model to read.",
                    "Its config: {{ config(materialized='incremental', unique_key='order_id') }}. Without unique_key, a run appends the rows it reads, and an order appears twice.",
                    "Read {{ ref('stg_orders') }} (its latest row per order); inside {% if is_incremental() %} ... {% endif %} keep only the rows whose batch_date is on or after the newest one the table holds: (select max(batch_date) from {{ this }}).",
                    f"Build it with {BUILD}; the check runs it once more and looks for orders that appear twice.",
                ],
                SOLUTION_SQL,
            ),
            Task(
                "2",
                f"count, from {SNAPSHOT}, the orders whose status changed on the exercise's day",
                check_changed,
                [
                    f"Load the day first (ingest.land_batch with updates={UPDATES}, reach={REACH}, then ingest.load_batch), then take a snapshot: transform.build(select='{SNAPSHOT}').",
                    "A change closes the order's current version: its dbt_valid_to becomes the day. A new order only opens a version (dbt_valid_from = the day), so counting dbt_valid_from counts new orders too.",
                    "dbt_valid_to is a timestamp: compare cast(dbt_valid_to as date) with the day.",
                ],
                f'changed_sql = "{CHANGED_SQL}"',
            ),
            Task(
                "3",
                "the status of the first changed order on the day before, and since when it had it",
                check_status_then,
                [
                    "The first changed order is the smallest order_id among those whose version the day closed (task 2).",
                    "The version valid on a date D: dbt_valid_from <= D and (dbt_valid_to > D or dbt_valid_to is null).",
                    "status_since is that version's dbt_valid_from, as text: 'YYYY-MM-DD'.",
                ],
                f'exercises.sql("""\n{STATUS_SQL}\n""")\nstatus_then = "..."  # the status it shows\nstatus_since = "..."  # its status_since, as YYYY-MM-DD',
            ),
            Task(
                "4",
                f"backfill the notebook pipeline with Airflow for {BACKFILL_DAYS[0]} to {BACKFILL_DAYS[-1]}",
                check_backfill,
                [
                    "Start Airflow in a terminal of its own: make airflow (http://127.0.0.1:8080, admin / admin). Wait until the UI lists notebook_pipeline.",
                    f"In another terminal: {BACKFILL_COMMAND}. It queues one run a day; the scheduler runs them, oldest first (--max-active-runs 1), each step in turn.",
                    "Each run takes about a minute: the Runs tab of notebook_pipeline shows them; the check passes once the three runs have succeeded.",
                    "A day that already has a run gets none (Airflow says so): add --reprocess-behavior completed to run it again; loading a day twice changes nothing.",
                ],
                f"# in a terminal, with `make airflow` running in another one:\n# {BACKFILL_COMMAND}",
                command=f"{BACKFILL_COMMAND} (with `make airflow` running in another terminal)",
            ),
        ],
    )
)
