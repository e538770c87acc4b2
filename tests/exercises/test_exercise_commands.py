"""`lab grade`, `lab progress`, `lab reset [--lesson N]`, `lab solve --lesson N`, and grading a class."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lab import cli, exercises, ingest
from lab.config import get_settings

ROOT = Path(__file__).resolve().parents[2]
DAY = exercises.EXERCISE_DATES["01"]


def test_grade_accepts_1_and_01_and_refuses_an_unknown_exercise(exercise_sandbox, capsys):
    assert cli.main(["grade", "1"]) == 1
    out = capsys.readouterr().out
    assert "Exercise 01 · a dirty day: not yet" in out and "hint:" in out, out
    assert cli.main(["grade", "01"]) == 1
    assert cli.main(["grade", "9"]) == 2
    err = capsys.readouterr().err
    assert "There is no exercise '9'" in err and "Traceback" not in err, err


def test_progress_prints_lessons_by_tasks(exercise_sandbox, capsys):
    cli.main(["grade", "1"])
    capsys.readouterr()
    assert cli.main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "01 a dirty day" in out and "[ ]" in out and "05 orchestrate" in out, out


def test_reset_asks_and_a_no_deletes_nothing_and_exits_0(exercise_sandbox, capsys, monkeypatch):
    home = get_settings().home
    for stdin in ("n\n", ""):  # "no", and no answer at all (no terminal)
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        assert cli.main(["reset"]) == 0
        out = capsys.readouterr().out
        assert "Delete them? [y/N]" in out and "Nothing deleted" in out, out
        assert home.exists(), f"{home} was deleted although the answer was no"


def test_make_reset_declined_does_not_end_in_an_error(exercise_sandbox):
    result = subprocess.run(
        ["make", "-s", "reset"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=120,
    )
    assert result.returncode == 0, (
        f"make reset exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )
    assert "Nothing deleted" in result.stdout and "Error" not in result.stderr, (
        result.stdout + result.stderr
    )
    assert get_settings().home.exists()


def test_reset_lesson_says_what_it_removes_and_a_no_removes_nothing(
    exercise_sandbox, capsys, monkeypatch
):
    from lab.profiles import get_warehouse

    ingest.land_batch(DAY, dirty=0.2)
    ingest.load_batch(DAY)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert cli.main(["reset", "--lesson", "1"]) == 0
    out = capsys.readouterr().out
    assert "Back to the start of lesson 01. This removes:" in out, out
    assert "- exercise 01: the batch of 2026-11-10" in out, out
    assert "as `lab setup` leaves them" in out and "Go ahead? [y/N]" in out, out
    assert "Nothing removed." in out, out
    rows = get_warehouse().scalar("select count(*) from raw_orders where batch_date = ?", [DAY])
    assert rows > 0, "the answer was no: nothing may go"


def _day(day: str) -> dict[str, object]:
    """A day's rows in the day tables (every column, clock times too) and its landed file."""
    from lab.profiles import get_lake
    from lab.sandbox.rewind_plan import DAY_TABLES
    from lab.profiles import get_warehouse

    warehouse = get_warehouse()
    found: dict[str, object] = {
        table: sorted(
            map(str, warehouse.query(f"select * from {table} where batch_date = ?", [day]).values)
        )
        for table in DAY_TABLES
    }
    path = ingest.batch_path(day)
    found["file"] = get_lake().read_bytes(path) if get_lake().exists(path) else None
    return found


@pytest.mark.slow
def test_reset_lesson_keeps_earlier_exercises_work_and_replays_earlier_lessons(
    exercise_sandbox, capsys
):
    import great_expectations.expectations as gxe

    from lab import quality, steps, transform
    from lab.exercises import ex02_dbt, ex04_monitoring
    from lab.exercises.core import load_progress
    from lab.sandbox.rewind_plan import LESSON_DATE
    from lab.profiles import get_warehouse

    settings = get_settings()
    warehouse = get_warehouse()
    day3 = exercises.EXERCISE_DATES["03"]
    # lessons 01 and 02 with their exercises, in a learner's order; then exercises 03 and 04
    steps.ingestion(LESSON_DATE, run_id="lesson")
    ingest.land_batch(DAY, dirty=0.2)
    ingest.load_batch(DAY)
    exercises.check("01")
    steps.transformation(run_id="lesson")
    exercises.write_file(f"{ex02_dbt.FOLDER}/{ex02_dbt.MODEL}.sql", ex02_dbt.SOLUTION_SQL)
    exercises.write_file(f"{ex02_dbt.FOLDER}/{ex02_dbt.MODEL}.yml", ex02_dbt.SOLUTION_YAML)
    assert transform.build(select=ex02_dbt.MODEL).success
    learner_results = (settings.dbt_target_dir / "run_results.json").read_bytes()
    ingest.land_batch(day3, dirty=0.2)
    ingest.load_batch(day3)
    quality.add_expectation(gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0))
    quality.run_gate(day3)
    exercises.check("03")
    exercises.write_file(ex04_monitoring.RULE_FILE, "groups: []")
    exercise_01 = _day(DAY)
    capsys.readouterr()

    assert cli.main(["reset", "--lesson", "3", "--yes"]) == 0
    out = capsys.readouterr().out
    for said in (
        "- exercise 03: the batch of 2026-11-11",
        "removed exercise 03: your expectation orders: ExpectColumnMinToBeBetween",
        "removed exercise 04: exercises/work/quality_alerts.yml",
        f"kept aside: exercise 01's batch of {DAY}",
        "replayed lesson 01: 2026-11-01: 500 rows in = 500 loaded + 0 quarantined",
        f"put back: exercise 01's batch of {DAY}",
        "replayed lesson 02: dbt build: OK",
        "put back: exercise 02's models built again",
    ):
        assert said in out, f"expected {said!r} in the output:\n{out}"
    assert _day(DAY) == exercise_01, "exercise 01's day must come back exactly as it was"
    assert (
        _day(day3)["file"] is None
        and warehouse.scalar("select count(*) from raw_orders where batch_date = ?", [day3]) == 0
    ), "exercise 03's day is lesson 03's work: it must go"
    assert quality.learner_expectations() == []
    assert not (settings.root / ex04_monitoring.RULE_FILE).exists()
    assert [p.read_text() for p in _saved_copies("quality_alerts.yml")] == ["groups: []\n"]
    assert "ExpectColumnMinToBeBetween" in _saved_copies("expectations.json")[0].read_text()
    runs = warehouse.query("select run_id, step, counts from ops.step_runs order by run_id, step")
    assert [tuple(r) for r in runs[["run_id", "step"]].values] == [
        ("history_2026-10-31", "dbt"),
        ("history_2026-10-31", "ingestion"),
        ("history_2026-10-31", "quality"),
        ("lesson", "dbt"),
        ("lesson", "ingestion"),
    ], runs
    lesson_dbt = json.loads(runs[runs.step.eq("dbt") & runs.run_id.eq("lesson")].counts.iloc[0])
    assert lesson_dbt["models"] == 5, f"lesson 02's build is replayed without yours: {lesson_dbt}"
    revenue_days = warehouse.query("select order_date from daily_revenue")["order_date"]
    assert DAY in set(revenue_days.astype(str)), (
        "exercise 01's day goes back before lesson 02's build is replayed: the marts show it"
    )
    assert warehouse.table_exists(ex02_dbt.MODEL), "exercise 02's model is built again"
    assert (settings.dbt_target_dir / "run_results.json").read_bytes() == learner_results, (
        "dbt's latest results are the learner's own last command again"
    )
    assert set(load_progress()) == {"01"}, load_progress()
    assert not settings.rewind_dir.exists()


@pytest.mark.slow
def test_a_reset_that_stops_half_way_finishes_when_run_again(exercise_sandbox, capsys, monkeypatch):
    import great_expectations.expectations as gxe

    from lab import quality, steps
    from lab.errors import TransformError
    from lab.sandbox.rewind_plan import LESSON_DATE
    from lab.profiles import get_warehouse

    settings = get_settings()
    day3 = exercises.EXERCISE_DATES["03"]
    steps.ingestion(LESSON_DATE, run_id="lesson")
    ingest.land_batch(DAY, dirty=0.2)
    ingest.load_batch(DAY)
    ingest.land_batch(day3, dirty=0.2)
    ingest.load_batch(day3)
    quality.add_expectation(gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0))
    quality.run_gate(day3)
    exercise_01, exercise_03 = _day(DAY), _day(day3)

    def broken(*args, **kwargs):
        raise TransformError("dbt could not run: the disk is full.")

    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(steps, "transformation", broken)
        assert cli.main(["reset", "--lesson", "4", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "the disk is full." in err and "stopped half-way" in err, err
    assert "run `lab reset --lesson 04` again" in err, err
    assert (settings.rewind_dir / "complete").exists()
    loaded = [d.isoformat() for d in ingest.loaded_dates()]
    assert DAY not in loaded, f"the reset stopped after clearing the tables: {loaded}"

    assert cli.main(["reset", "--lesson", "4", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "resuming a reset that stopped half-way" in out, out
    assert _day(DAY) == exercise_01 and _day(day3) == exercise_03
    assert [type(e).__name__ for e in quality.learner_expectations()] == [
        "ExpectColumnMinToBeBetween"
    ]
    assert (settings.gx_validations_dir / "orders" / f"orders_{day3}").exists()
    counts = get_warehouse().scalar(
        "select counts from ops.step_runs where run_id = 'lesson' and step = 'quality'"
    )
    declared = sum(len(expectations) for _, expectations in quality.SUITES.values())
    assert json.loads(counts)["evaluated"] == declared, (
        f"lesson 03's gate is replayed before exercise 03's expectation goes back: {counts}"
    )
    assert not settings.rewind_dir.exists()


def _saved_copies(name: str) -> list[Path]:
    return sorted((get_settings().root / "exercises/work/saved").rglob(name))


@pytest.mark.slow
def test_solve_loads_the_solution_state_and_reset_takes_it_away(exercise_sandbox, capsys):
    rules = get_settings().root / "exercises/work/quality_alerts.yml"
    exercises.write_file("exercises/work/quality_alerts.yml", "groups: []  # mine")
    capsys.readouterr()
    assert cli.main(["solve", "--lesson", "4"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "Exercise 04 · watch the pipeline: PASSED" in out, out
    assert re.search(
        r"Your files exercises/work/quality_alerts.yml are kept in "
        r"exercises/work/saved/\d{4}-\d\d-\d\d_\d{6}/ \(the solution writes its own",
        out,
    ), out
    (mine,) = _saved_copies("quality_alerts.yml")
    assert mine.read_text() == "groups: []  # mine\n" and "# mine" not in rules.read_text()
    assert cli.main(["grade", "4"]) == 1, "grading the untouched starter must say not yet"
    capsys.readouterr()
    assert cli.main(["reset", "--lesson", "4", "--yes"]) == 0
    out = capsys.readouterr().out
    assert not rules.exists()
    assert (
        "removed exercise 04: exercises/work/quality_alerts.yml (a copy is in exercises/work/saved/"
        in out
    ), out
    assert len(_saved_copies("quality_alerts.yml*")) == 2, "the solution's rules are kept too"


@pytest.mark.slow
def test_solve_never_overwrites_the_learners_own_model(exercise_sandbox, capsys):
    from lab.exercises import ex02_dbt

    model = f"{ex02_dbt.FOLDER}/{ex02_dbt.MODEL}.sql"
    exercises.write_file(model, "-- my own attempt\nselect 1 as customer_id")
    capsys.readouterr()
    cli.main(["solve", "--lesson", "2"])
    out = capsys.readouterr().out
    assert f"Your files {ex02_dbt.FOLDER}/ are kept in exercises/work/saved/" in out, out
    (mine,) = _saved_copies(f"{ex02_dbt.MODEL}.sql")
    assert mine.read_text().startswith("-- my own attempt"), mine.read_text()
    assert re.search(rf"exercises/work/saved/[\d_-]+/{model}$", mine.as_posix()), mine
    assert "my own attempt" not in (get_settings().root / model).read_text()


def test_a_full_reset_moves_the_learners_files_aside_and_says_so(exercise_sandbox, capsys):
    """A full reset is a clean start: no exercise files left behind, a copy of each kept."""
    from lab.exercises import ex02_dbt, ex04_monitoring, ex05_orchestration

    settings = get_settings()
    model = f"{ex02_dbt.FOLDER}/{ex02_dbt.MODEL}.sql"
    for path in (model, ex04_monitoring.RULE_FILE, ex05_orchestration.DAG_FILE):
        exercises.write_file(path, f"# mine: {path}")
    capsys.readouterr()
    assert cli.main(["reset", "--yes"]) == 0
    out = capsys.readouterr().out
    assert (
        f"Your exercise files ({ex02_dbt.FOLDER}, {ex04_monitoring.RULE_FILE}, "
        f"{ex05_orchestration.DAG_FILE}) move to exercises/work/saved/<date_time>/" in out
    ), out
    assert "Moved your exercise files to exercises/work/saved/" in out, out
    for path in (model, ex04_monitoring.RULE_FILE, ex05_orchestration.DAG_FILE):
        assert not (settings.root / path).exists(), f"{path} is still there after a full reset"
        (copy,) = [p for p in _saved_copies(Path(path).name) if p.as_posix().endswith(path)]
        assert copy.read_text() == f"# mine: {path}\n"
    assert not settings.home.exists()


@pytest.mark.slow
def test_grading_a_folder_runs_each_learner_in_a_sandbox_of_their_own(
    exercise_sandbox, tmp_path, capsys
):
    if shutil.which("promtool") is None and os.environ.get("CI") != "true":
        pytest.skip("promtool is not installed (Debian's prometheus package)")
    submitted = tmp_path / "submitted"
    (submitted / "alice").mkdir(parents=True)
    # the lesson number in a file name says the exercise; bob's says none: the one the others say
    shutil.copy(
        ROOT / "exercises/solutions/04_monitoring.ipynb", submitted / "alice/alice_04_alerts.ipynb"
    )
    shutil.copy(ROOT / "exercises/04_monitoring.ipynb", submitted / "bob.ipynb")
    assert cli.main(["grade", str(submitted)]) == 0
    out = capsys.readouterr().out
    lines = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.split()[:1] in (["alice"], ["bob"])
    }
    assert lines["alice"][1:] == ["done"] * 4 + ["yes"], out
    assert lines["bob"][-1] == "no" and "not" in lines["bob"], out
    with (submitted / "grades_04.csv").open() as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["learner", "task 1", "task 2", "task 3", "task 4", "passed"], table
    assert [row[0] for row in table[1:]] == ["alice", "bob"], table
    assert not (get_settings().root / "exercises/work/quality_alerts.yml").exists(), (
        "a learner's files must stay in their own scratch sandbox"
    )
    single = tmp_path / "bob.csv"
    args = ["grade", str(submitted / "bob.ipynb"), "--lesson", "4", "--csv", str(single)]
    assert cli.main(args) == 0, capsys.readouterr()
    capsys.readouterr()
    with single.open() as fh:
        rows = list(csv.reader(fh))
    assert [row[0] for row in rows[1:]] == ["bob"], rows


def notebooks(folder: Path, *names: str) -> Path:
    """Empty notebook files in `folder` (their names are what is under test)."""
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}")
    return folder


def by_exercise(groups) -> dict[str, list[tuple[str, str]]]:
    return {key: [(s.learner, s.notebook.name) for s in found] for key, found in groups.items()}


def test_a_lesson_number_or_notebook_name_anywhere_in_a_file_name_says_its_exercise(tmp_path):
    from lab.exercises import grading

    folder = notebooks(
        tmp_path,
        "alice_02_dbt.ipynb",
        "bob-02.ipynb",
        "Carol 02_DBT final.ipynb",
        "dan/02_dbt.ipynb",
        "dan/scratch.ipynb",
        "erin.ipynb",
        "frank2024_02.ipynb",
    )
    groups, skipped = grading.find_submissions(folder)
    assert by_exercise(groups) == {
        "02": [
            ("alice", "alice_02_dbt.ipynb"),
            ("bob", "bob-02.ipynb"),
            ("Carol final", "Carol 02_DBT final.ipynb"),
            ("dan", "02_dbt.ipynb"),
            ("erin", "erin.ipynb"),  # says nothing: the one exercise the others say
            ("frank2024", "frank2024_02.ipynb"),
        ]
    }, by_exercise(groups)
    assert skipped == [], skipped


def test_a_file_name_that_says_no_exercise_or_two_gets_its_own_sentence(tmp_path):
    from lab.exercises import grading

    folder = notebooks(tmp_path, "alice_02.ipynb", "bob_04.ipynb", "carol.ipynb", "dan_02_03.ipynb")
    groups, skipped = grading.find_submissions(folder)
    assert by_exercise(groups) == {
        "02": [("alice", "alice_02.ipynb")],
        "04": [("bob", "bob_04.ipynb")],
    }, by_exercise(groups)
    assert skipped == [
        "skipped dan_02_03.ipynb: its name says exercises 02 and 03. Fix: keep one lesson number "
        "in the name, or pass --lesson N.",
        "skipped carol.ipynb: its name does not say which exercise it is (the folder holds "
        "exercises 02 and 04). Fix: put the lesson number in the name, like "
        "alice_02_dbt.ipynb, or pass --lesson N.",
    ], skipped
    groups, skipped = grading.find_submissions(folder, "04")
    assert by_exercise(groups) == {"04": [("bob", "bob_04.ipynb"), ("carol", "carol.ipynb")]}
    assert skipped[0] == (
        "skipped alice_02.ipynb: its name says exercise 02, not 04. Fix: grade it with "
        "--lesson 02, or without --lesson."
    ), skipped


def test_grading_a_folder_whose_names_say_no_exercise_says_so_per_file(tmp_path, capsys):
    folder = notebooks(tmp_path / "submitted", "alice.ipynb", "bob/work.ipynb")
    assert cli.main(["grade", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "skipped alice.ipynb: its name does not say which exercise it is. Fix: put the lesson "
        "number in the name, like alice_02_dbt.ipynb, or pass --lesson N.",
        "skipped bob/work.ipynb: its name does not say which exercise it is. Fix: put the "
        "lesson number in the name, like alice_02_dbt.ipynb, or pass --lesson N.",
        f"No submissions to grade in {folder}.",
    ], out
    assert err == "", err


def test_grading_a_folder_that_does_not_exist_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "submitted") + "/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'submitted'}/ does not exist. Fix:"), err


def test_each_exercise_day_is_the_one_its_notebooks_and_the_readme_name():
    """The exercise dates live in lab.exercises.common.EXERCISE_DATES; the notebooks' text and
    the README's table say them, and nothing says another exercise's day."""
    import re

    from lab.config import get_settings

    root = get_settings().root
    readme = (root / "README.md").read_text()
    for lesson, day in exercises.EXERCISE_DATES.items():
        exercise = exercises.get(lesson)
        for folder in ("exercises", "exercises/solutions"):
            text = (root / folder / exercise.notebook).read_text()
            said = set(re.findall(r"2026-11-1[0-9]", text)) & set(exercises.EXERCISE_DATES.values())
            assert said == {day}, (
                f"{folder}/{exercise.notebook} names {said}, the exercise's day is {day}"
            )
        rows = [r for r in readme.splitlines() if r.startswith(f"| `{exercise.notebook[:-6]}`")]
        assert any(day in row for row in rows), f"README's exercise {lesson} row does not say {day}"


@pytest.mark.parametrize(
    "argv",
    [["grade", "9"], ["reset", "--lesson", "9", "--yes"], ["solve", "--lesson", "9"]],
)
def test_an_exercise_that_does_not_exist_is_a_usage_error_naming_the_choices(argv, capsys):
    from lab.cli import main

    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own usage error
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, f"`lab {' '.join(argv)}` exited {code}; a wrong argument is a usage error (2)"
    assert "no exercise '9'" in err and "01, 02" in err, err


def test_the_lessons_the_cli_offers_are_the_registered_exercises():
    from lab.cli.learn import exercise_lessons

    assert exercise_lessons() == sorted(exercises.EXERCISES)
