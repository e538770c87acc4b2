"""The shape of an exercise: tasks, one verdict a task, feedback, and a registry by lesson.

A check never says "done" when something is wrong: every task reports its own verdict with a
message that says what was found, and the exercise passes only when every task is done.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.config import Settings, get_settings
from lab.errors import ExerciseError, LabError


@dataclass(frozen=True)
class Unset:
    """An answer the notebook has not set yet (its cell has not run, or it is computed by code
    the grader cannot run): a check that reads it says "not yet" and which cell to run."""

    name: str
    fix: str = ""

    def message(self) -> str:
        return f"`{self.name}` is not set yet: {self.fix or f'run the cell that sets `{self.name}` first'}"


class Answers(dict):
    """The answers one check reads. Reading an answer that is `Unset` raises an ExerciseError,
    so the task that needs it says "not yet" and names the answer, never a NameError."""

    def get(self, key, default=None):
        value = super().get(key, default)
        if isinstance(value, Unset):
            raise ExerciseError(value.message())
        return value

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, Unset):
            raise ExerciseError(value.message())
        return value


@dataclass
class Verdict:
    """The outcome of one task's check: done or not, and what was found."""

    done: bool
    message: str


@dataclass
class Task:
    """One requirement of an exercise, with its check, its hints and its solution text."""

    key: str
    title: str
    check: Callable[[dict[str, Any]], Verdict]
    hints: list[str] = field(default_factory=list)
    solution: str = ""
    # A task done outside the notebook, the command that does it (an Airflow backfill needs
    # `make airflow` running): `lab solve` runs the notebook's tasks and names this one.
    command: str = ""


@dataclass
class Exercise:
    """One lesson's exercise: its tasks and the functions that move the sandbox's state."""

    lesson: str
    title: str
    notebook: str
    tasks: list[Task]
    answers: tuple[str, ...] = ()  # names of notebook variables the checks read
    files: tuple[str, ...] = ()  # the learner's own files (project-relative): kept, never lost
    start: Callable[[Settings], list[str]] | None = None  # undo the exercise; say what went
    work: str = ""  # what `start` removes, said before it does

    def task(self, key: str) -> Task:
        return next(t for t in self.tasks if t.key == key)

    def check(self, **answers: Any) -> Feedback:
        """Run every task's check; a check that crashes is a verdict too, never a traceback."""
        verdicts = []
        answers = Answers(answers)  # the checks of one call may share work in it
        for task in self.tasks:
            try:
                verdict = task.check(answers)
            except LabError as exc:
                verdict = Verdict(False, str(exc))
            except Exception as exc:  # a learner's broken state must not break the check
                verdict = Verdict(
                    False, f"the check could not inspect this: {type(exc).__name__}: {exc}"
                )
            verdicts.append(verdict)
        feedback = Feedback(self, verdicts)
        record(
            feedback,
            {k: v for k, v in answers.items() if k in self.answers and not isinstance(v, Unset)},
        )
        return feedback


@dataclass
class Feedback:
    """What a check found: one verdict a task, as text, Markdown, or a widget panel."""

    exercise: Exercise
    verdicts: list[Verdict]

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and all(v.done for v in self.verdicts)

    def left_to_run(self) -> list[Task]:
        """The tasks not done yet that are done outside the notebook (their `command`)."""
        return [task for task, verdict in self.items() if not verdict.done and task.command]

    @property
    def notebook_passed(self) -> bool:
        """Every task a notebook can do is done (those left are commands to run elsewhere)."""
        return bool(self.verdicts) and all(
            verdict.done or task.command for task, verdict in self.items()
        )

    @property
    def title(self) -> str:
        return f"Exercise {self.exercise.lesson} · {self.exercise.title}"

    def items(self) -> list[tuple[Task, Verdict]]:
        return list(zip(self.exercise.tasks, self.verdicts, strict=True))

    def table(self):
        """One row a task: key, title, done, message."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"task": t.key, "title": t.title, "done": v.done, "message": v.message}
                for t, v in self.items()
            ]
        )

    def __str__(self) -> str:
        status = "PASSED" if self.passed else "not yet"
        done = sum(v.done for v in self.verdicts)
        lines = [f"{self.title}: {status} ({done} of {len(self.verdicts)} tasks done)"]
        for task, verdict in self.items():
            lines.append(f"  [{'x' if verdict.done else ' '}] {task.key}. {task.title}")
            lines.append(f"      {verdict.message}")
            if not verdict.done and task.hints:
                lines.append(f"      hint: {task.hints[0]}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        status = "passed" if self.passed else "not yet"
        lines = [f"**{self.title}: {status}**", ""]
        for task, verdict in self.items():
            lines.append(
                f"- {'☑' if verdict.done else '☐'} **{task.key}. {task.title}**: {verdict.message}"
            )
            if not verdict.done and task.hints:
                lines.append(f"  - *hint:* {task.hints[0]}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """In a notebook: the widget panel, with the Markdown and text as fallbacks."""
        bundle = {"text/plain": str(self), "text/markdown": self._repr_markdown_()}
        try:
            from lab.exercises.widgets import feedback_panel  # ipywidgets may be absent

            bundle.update(feedback_panel(self)._repr_mimebundle_() or {})
            bundle["text/plain"] = str(self)
        except Exception:  # no ipywidgets or no kernel: the text is the feedback
            pass
        return bundle


@dataclass(frozen=True)
class CallSpec:
    """A call found in an answer cell: the called name and its literal keyword arguments."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


# --- the registry ---------------------------------------------------------------------------

EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    EXERCISES[exercise.lesson] = exercise
    return exercise


def lesson_key(value: str | int) -> str:
    """`1`, `01` and 1 all mean lesson "01"; anything else is refused with the choices."""
    text = str(value).strip()
    key = text.zfill(2) if text.isdigit() else text
    if key not in EXERCISES:
        raise ExerciseError(
            f"There is no exercise {value!r}. Fix: choose one of "
            f"{', '.join(sorted(EXERCISES))} (1 and 01 both work)."
        )
    return key


def get(value: str | int) -> Exercise:
    return EXERCISES[lesson_key(value)]


# --- progress: the latest verdicts, kept in the sandbox state -------------------------------


def progress_file(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home / "exercises" / "progress.json"


def load_progress(settings: Settings | None = None) -> dict[str, dict[str, dict]]:
    path = progress_file(settings)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _jsonable(value: Any) -> Any:
    """An answer as JSON: an expectation object becomes its class name and arguments."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    config = getattr(value, "configuration", None)
    if config is not None:
        kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id" and v is not None}
        return {"call": type(value).__name__, "kwargs": json.loads(json.dumps(kwargs, default=str))}
    try:
        return float(value)  # numpy numbers
    except (TypeError, ValueError):
        return str(value)


def recorded_answers(lesson: str, settings: Settings | None = None) -> dict[str, Any]:
    """The answers the notebook's last check passed in (kept in the sandbox state)."""
    saved = load_progress(settings).get(lesson, {}).get("_answers", {})
    return {
        k: CallSpec(v["call"], v["kwargs"]) if isinstance(v, dict) and "call" in v else v
        for k, v in saved.items()
    }


def record(feedback: Feedback, answers: dict[str, Any] | None = None) -> None:
    """Keep the verdicts (and the answers) of a check so `lab progress` and `lab grade` see them."""
    path = progress_file()
    data = load_progress()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry: dict[str, Any] = {
        t.key: {"done": v.done, "message": v.message, "checked_at": now}
        for t, v in feedback.items()
    }
    entry["_answers"] = {k: _jsonable(v) for k, v in (answers or {}).items()}
    data[feedback.exercise.lesson] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def forget(lesson: str, settings: Settings | None = None) -> None:
    data = load_progress(settings)
    if data.pop(lesson, None) is not None:
        progress_file(settings).write_text(json.dumps(data, indent=1))


# --- a learner's files: moved aside, never deleted --------------------------------------------

SAVED = "exercises/work/saved"  # git-ignored, like all of exercises/work/


def saved_folder(settings: Settings | None = None, stamp: str | None = None) -> Path:
    """`exercises/work/saved/<timestamp>/`: where a command puts the learner's files it replaces."""
    settings = settings or get_settings()
    stamp = stamp or dt.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    return settings.root / SAVED / stamp


def keep_aside(paths: list[Path], folder: Path, settings: Settings | None = None) -> list[str]:
    """Move each existing file or folder into `folder` under its own relative path (project-
    relative; a file of the sandbox state under `state/`); return the paths moved, as shown."""
    settings = settings or get_settings()
    moved = []
    for path in paths:
        if not path.exists() or (path.is_dir() and not any(path.iterdir())):
            continue
        if path.is_relative_to(settings.root):
            relative = path.relative_to(settings.root)
        elif path.is_relative_to(settings.home):
            relative = Path("state") / path.relative_to(settings.home)
        else:
            relative = Path(path.name)
        target, n = folder / relative, 1
        while target.exists():  # kept twice within a second: keep both
            n += 1
            target = folder / relative.with_name(f"{relative.name}.{n}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
        relative = target.relative_to(folder)
        moved.append(relative.as_posix() + ("/" if target.is_dir() else ""))
    return moved


def shown(path: Path, settings: Settings | None = None) -> str:
    """A path as the learner reads it: relative to the project where it is inside it."""
    settings = settings or get_settings()
    return (
        path.relative_to(settings.root).as_posix()
        if path.is_relative_to(settings.root)
        else str(path)
    )


def learner_files(exercises: list[Exercise], settings: Settings | None = None) -> list[Path]:
    """The learner's own files of some exercises, where they are now."""
    settings = settings or get_settings()
    return [settings.root / f for e in exercises for f in e.files]
