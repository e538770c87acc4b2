"""Exercises: one a lesson, checked against the state the learner produced.

    from lab import exercises
    exercises.check("01")        # in a notebook: reads the answers (reconcile_sql) from it
    exercises.check("01", reconcile_sql="select ...")    # or takes them as keywords
    exercises.progress()                                 # lessons x tasks

`lab grade 01`, `lab progress`, `lab reset --lesson 01` and `lab solve --lesson 01` do the same
from a terminal.
"""

from __future__ import annotations

import sys

from lab.exercises.common import EXERCISE_DATES, sql, write_file
from lab.exercises.core import (
    EXERCISES,
    Exercise,
    ExerciseError,
    Feedback,
    Task,
    Unset,
    Verdict,
    get,
    lesson_key,
    load_progress,
)

# each module registers its exercise in EXERCISES when imported
from lab.exercises import (  # noqa: F401
    ex01_ingestion,
    ex02_dbt,
    ex03_quality,
    ex04_monitoring,
    ex05_orchestration,
    ex07_changing,
)
from lab.exercises.ex03_quality import gate_details

__all__ = [
    "EXERCISES",
    "EXERCISE_DATES",
    "Exercise",
    "ExerciseError",
    "Feedback",
    "Task",
    "Verdict",
    "check",
    "gate_details",
    "get",
    "lesson_key",
    "progress",
    "sql",
    "write_file",
]


def check(lesson: str | int, **answers) -> Feedback:
    """Check an exercise by its lesson number (`"01"`, `"1"` or 1). Without keyword answers, in
    a notebook, the answers are the notebook's variables the exercise names (`Exercise.answers`);
    one not defined yet is a "not yet" that says which cell to run, never a NameError."""
    exercise = get(lesson)
    if not answers:
        answers = notebook_namespace_answers(exercise)
    return exercise.check(**answers)


def notebook_namespace_answers(exercise: Exercise) -> dict:
    """The exercise's answers from the running notebook's namespace (empty outside a kernel)."""
    ipython = sys.modules.get("IPython")  # imported by every kernel; never imported here
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return {}
    namespace = shell.user_ns
    return {name: namespace.get(name, Unset(name)) for name in exercise.answers}


def cell_state(value):
    """True done, False not yet, None not checked yet, "" no such task (pandas may say NaN)."""
    if isinstance(value, float) and value != value:
        return None
    return value if value in (True, False, "") else None


class Progress:
    """Lessons x tasks from the latest checks: a table, a widget in a notebook, text elsewhere."""

    def __init__(self, table):
        self.table = table

    def __str__(self) -> str:
        marks = {True: "[x]", False: "[ ]", None: "[-]", "": ""}
        width = max(len(c) for c in self.table.columns) if len(self.table.columns) else 1
        first = max([len("lesson"), *(len(str(i)) for i in self.table.index)])
        header = f"{'lesson':<{first}}  " + "  ".join(f"{c:^{width}}" for c in self.table.columns)
        lines = [header]
        for lesson, row in self.table.iterrows():
            cells = "  ".join(f"{marks[cell_state(v)]:^{width}}" for v in row)
            lines.append(f"{lesson:<{first}}  {cells}".rstrip())
        lines.append("[x] done  [ ] not yet  [-] not checked yet")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/plain": str(self), "text/html": self.table.to_html()}
        try:
            from lab.exercises.widgets import progress_panel

            lessons = [
                (lesson, [cell_state(v) for v in row]) for lesson, row in self.table.iterrows()
            ]
            panel = progress_panel(list(self.table.columns), lessons)
            bundle.update(panel._repr_mimebundle_() or {})
            bundle["text/plain"] = str(self)
        except ImportError:  # no ipywidgets: the table is the progress
            pass
        return bundle


def progress() -> Progress:
    """Where you are: every lesson's tasks, done or not, from the checks you ran."""
    import pandas as pd

    saved = load_progress()
    width = max(len(e.tasks) for e in EXERCISES.values())
    rows = {}
    for lesson, exercise in sorted(EXERCISES.items()):
        verdicts = saved.get(lesson, {})
        row = [verdicts.get(t.key, {}).get("done") for t in exercise.tasks]
        rows[f"{lesson} {exercise.title}"] = row + [""] * (width - len(row))
    table = pd.DataFrame.from_dict(
        rows, orient="index", columns=[f"task {i + 1}" for i in range(width)]
    )
    return Progress(table)
