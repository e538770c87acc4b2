"""Exercise sandboxes: a prepared state plus a scratch project root (copies of dbt/, dags/,
exercises/), so what a learner writes there never lands in this checkout.

- `exercise_state` (module): a copy of a state prepared once a session, PREPARED_HISTORY_DAYS
  days of history (1).
- `exercise_sandbox`: a private copy of it, active for one test, in the same folder for every
  test of a process (tests/helpers.py's `copy_in_place`); yields its base folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lab.config import environ
from tests.helpers import DBT_PARSE_CACHE, copy_in_place


def layout(base: Path) -> dict[str, str]:
    return {
        "LAB_PROFILE": "local",
        "LAB_HOME": str(base / "state"),
        "LAB_RUNS_DIR": str(base / "runs"),
        "LAB_GX_ROOT": str(base / "great_expectations"),
        "LAB_ROOT": str(base / "project"),
    }


@pytest.fixture(scope="module")
def exercise_state(request: pytest.FixtureRequest, prepared_templates) -> Path:
    """A module's copy of the exercise state, prepared once a session for each number of days."""
    days = getattr(request.module, "PREPARED_HISTORY_DAYS", 1)

    def build(base: Path) -> None:
        from lab import sandbox
        from lab.exercises import grading

        env = grading.scratch_env(base)
        assert env["LAB_ROOT"] == layout(base)["LAB_ROOT"], env
        with environ({**env, "GX_ANALYTICS_ENABLED": "false"}):
            sandbox.prepare(history_days=days, say=lambda _: None)

    return prepared_templates.copy(("exercise", days), build, "exercise")


@pytest.fixture
def exercise_sandbox(lab_env, exercise_state: Path, tmp_path_factory, monkeypatch) -> Path:
    base = tmp_path_factory.getbasetemp() / "exercise-sandbox"
    copy_in_place(exercise_state, base, Path("state") / DBT_PARSE_CACHE)
    for name, value in layout(base).items():
        monkeypatch.setenv(name, value)
    return base


def verdict_of(feedback, task: str):
    return dict(zip((t.key for t in feedback.exercise.tasks), feedback.verdicts, strict=True))[task]


def not_done(feedback, task: str, *phrases: str) -> None:
    """Assert that a task is reported not done and that its message names the problem."""
    verdict = verdict_of(feedback, task)
    assert not verdict.done, f"task {task} should be not done, got done: {verdict.message}"
    for phrase in phrases:
        assert phrase in verdict.message, (
            f"task {task}: expected {phrase!r} in the message, got: {verdict.message}"
        )
    assert not feedback.passed, str(feedback)


def done(feedback, task: str) -> None:
    verdict = verdict_of(feedback, task)
    assert verdict.done, f"task {task} should be done, got: {verdict.message}"
