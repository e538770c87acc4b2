"""`lab solve --lesson N`: a lesson's solution state, by running its exercise's solution notebook."""

from __future__ import annotations

from collections.abc import Callable

from lab import exercises
from lab.config import get_settings
from lab.exercises.answers import notebook_answers
from lab.exercises.core import keep_aside, learner_files, saved_folder, shown
from lab.pipeline import run_notebook


def _say(message: str) -> None:
    print(message, flush=True)


def solve(lesson: str, say: Callable[[str], None] = _say):
    """Load a lesson's solution state: run its exercise's solution notebook here, then check it."""
    settings = get_settings()
    exercise = exercises.get(lesson)
    path = settings.exercises_dir / "solutions" / exercise.notebook
    folder = saved_folder(settings)
    moved = keep_aside(learner_files([exercise], settings), folder, settings)
    if moved:
        say(
            f"Your files {', '.join(moved)} are kept in {shown(folder, settings)}/ "
            "(the solution writes its own in their place)."
        )
    say(f"Running {path.relative_to(settings.root)} in this sandbox ...")
    run_notebook(path, timeout=900)
    feedback = exercises.check(exercise.lesson, **_answers(exercise))
    for task in feedback.left_to_run():
        say(f"Task {task.key} is done outside the notebook; run it yourself: {task.command}")
    return feedback


def _answers(exercise) -> dict:
    settings = get_settings()
    return notebook_answers(exercise, settings.exercises_dir / "solutions" / exercise.notebook)
