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


def test_an_answer_not_set_yet_is_a_not_yet_naming_the_cell_to_run(lab_env):
    from lab.exercises.core import Unset

    seen = Exercise(
        lesson="98",
        title="answers",
        notebook="98_demo.ipynb",
        answers=("my_answer",),
        tasks=[Task("1", "uses it", lambda a: Verdict(a.get("my_answer") == 1, "read"), ["h"])],
    )
    feedback = seen.check(my_answer=Unset("my_answer"))
    assert not feedback.passed
    assert feedback.verdicts[0].message == (
        "`my_answer` is not set yet: run the cell that sets `my_answer` first"
    ), feedback.verdicts[0].message
    assert seen.check(my_answer=1).passed


@pytest.mark.slow
@pytest.mark.parametrize("lesson", ["01", "02", "03", "04", "05"])
def test_a_check_cell_run_on_its_own_says_not_yet_and_raises_nothing(exercise_sandbox, lesson):
    """A learner runs the check cell first, before any answer cell: a "not yet", no NameError."""
    import nbformat
    from nbclient import NotebookClient

    from lab.config import get_settings
    from lab.pipeline import kernel_args

    exercise = exercises.get(lesson)
    folder = get_settings().exercises_dir
    starter = nbformat.read(folder / exercise.notebook, as_version=4)
    alone = nbformat.v4.new_notebook(cells=[starter.cells[-1]], metadata=starter.metadata)
    NotebookClient(
        alone,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        extra_arguments=kernel_args(),
        resources={"metadata": {"path": str(folder)}},
    ).execute()
    outputs = alone.cells[0].outputs
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, f"{exercise.notebook}'s check cell alone raised: {errors}"
    text = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert f"Exercise {lesson}" in text and "not yet" in text and "PASSED" not in text, text
    named = [n for n in exercise.answers if f"`{n}` is not set yet: run the cell that sets" in text]
    assert named or not exercise.answers, f"no answer of {exercise.answers} named:\n{text}"
