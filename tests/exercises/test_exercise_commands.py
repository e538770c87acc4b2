"""`lab grade`, `lab progress`, `lab reset [--lesson N]`, `lab solve --lesson N`, and grading a class."""

from __future__ import annotations

import csv
import io
import os
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


def test_reset_lesson_says_what_it_removes_then_removes_only_that(exercise_sandbox, capsys):
    from lab.warehouse import get_warehouse

    ingest.land_batch(DAY, dirty=0.2)
    ingest.load_batch(DAY)
    exercises.write_file("exercises/work/quality_alerts.yml", "groups: []")
    assert cli.main(["reset", "--lesson", "2", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "This removes the work of exercises 02, 03, 04, 05" in out, out
    assert "removed exercise 04: exercises/work/quality_alerts.yml" in out, out
    assert not (get_settings().root / "exercises/work/quality_alerts.yml").exists()
    rows = get_warehouse().scalar("select count(*) from raw_orders where batch_date = ?", [DAY])
    assert rows > 0, "exercise 01's day is earlier than lesson 02: it must be kept"
    assert cli.main(["reset", "--lesson", "1", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"removed exercise 01: the landed batch of {DAY}" in out, out
    assert (
        get_warehouse().scalar("select count(*) from raw_orders where batch_date = ?", [DAY]) == 0
    )


@pytest.mark.slow
def test_solve_loads_the_solution_state_and_reset_takes_it_away(exercise_sandbox, capsys):
    assert cli.main(["solve", "--lesson", "4"]) == 0, capsys.readouterr().out
    assert "Exercise 04 · watch the pipeline: PASSED" in capsys.readouterr().out
    assert cli.main(["grade", "4"]) == 1, "grading the untouched starter must say not yet"
    capsys.readouterr()
    assert cli.main(["reset", "--lesson", "4", "--yes"]) == 0
    assert not (get_settings().root / "exercises/work/quality_alerts.yml").exists()


@pytest.mark.slow
def test_grading_a_folder_runs_each_learner_in_a_sandbox_of_their_own(
    exercise_sandbox, tmp_path, capsys
):
    if shutil.which("promtool") is None and os.environ.get("CI") != "true":
        pytest.skip("promtool is not installed (Debian's prometheus package)")
    submitted = tmp_path / "submitted"
    (submitted / "alice").mkdir(parents=True)
    shutil.copy(ROOT / "exercises/solutions/04_monitoring.ipynb", submitted / "alice")
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
