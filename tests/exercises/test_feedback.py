"""Feedback as text, Markdown and widgets; the registry; progress; hints that never loop."""

from __future__ import annotations

import pytest

from lab import exercises
from lab.exercises.core import Exercise, ExerciseError, Task, Verdict


def _exercise() -> Exercise:
    return Exercise(
        lesson="99",
        title="demo",
        notebook="99_demo.ipynb",
        tasks=[
            Task("1", "first", lambda a: Verdict(True, "fine"), ["h1"], "sol1"),
            Task(
                "2",
                "second",
                lambda a: Verdict(False, "still wrong: x"),
                ["h1", "h2", "h3"],
                "sol2",
            ),
            Task("3", "broken", lambda a: 1 / 0, ["h"], "sol3"),
        ],
    )


def test_every_lesson_is_registered_and_numbers_are_accepted_in_both_forms():
    for value in ("1", "01", 1, "5", "05"):
        assert exercises.get(value).lesson == f"{int(value):02d}"
    with pytest.raises(ExerciseError, match="There is no exercise '9'. Fix: choose one of 01, 02"):
        exercises.get("9")
    for exercise in exercises.EXERCISES.values():
        assert 3 <= len(exercise.tasks) <= 5, f"{exercise.lesson}: {len(exercise.tasks)} tasks"
        for task in exercise.tasks:
            assert task.hints and task.solution, (
                f"{exercise.lesson}.{task.key} needs hints and a solution"
            )
            assert task.solution not in task.hints[0], (
                f"{exercise.lesson}.{task.key}: the first hint gives it away"
            )


def test_text_and_markdown_show_each_verdict_and_a_crashing_check_is_a_verdict():
    feedback = _exercise().check()
    text = str(feedback)
    assert text.startswith("Exercise 99 · demo: not yet (1 of 3 tasks done)"), text
    assert "[x] 1. first" in text and "[ ] 2. second" in text and "still wrong: x" in text, text
    assert "hint: h1" in text and "sol2" not in text, text
    assert "ZeroDivisionError" in text, text
    assert "☐ **2. second**: still wrong: x" in feedback._repr_markdown_()


def test_the_hint_button_reveals_one_more_hint_per_click_and_the_solution_only_on_request():
    from lab.exercises.widgets import feedback_panel

    panel = feedback_panel(_exercise().check())
    row = panel.children[2]  # task 2
    head, buttons, hints, solution = row.children
    hint_button, solution_button = buttons.children
    assert hints.value == "" and solution.value == ""
    hint_button.click()
    assert "h1" in hints.value and "h2" not in hints.value, hints.value
    assert hint_button.description == "hint (1 of 3)"
    hint_button.click()
    hint_button.click()
    assert "h3" in hints.value and "No more hints" in hints.value and hint_button.disabled
    assert "sol2" not in solution.value
    solution_button.click()
    assert "sol2" in solution.value


def test_progress_shows_checked_tasks(lab_env):
    from lab.exercises.core import Feedback, record

    def line_of(lesson: str) -> str:
        text = str(exercises.progress())
        return next(line for line in text.splitlines() if line.startswith(lesson))

    assert line_of("04").split()[-4:] == ["[-]"] * 4, line_of("04")
    exercise = exercises.get("04")
    verdicts = [
        Verdict(True, "ok"),
        Verdict(False, "no"),
        Verdict(True, "ok"),
        Verdict(False, "no"),
    ]
    record(Feedback(exercise, verdicts))
    assert line_of("04").endswith("[x]     [ ]     [x]     [ ]"), line_of("04")
    assert line_of("05").split()[-3:] == ["[-]"] * 3, line_of("05")
    bundle = exercises.progress()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle, sorted(bundle)
