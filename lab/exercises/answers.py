"""Read a learner's answers from an exercise notebook without running it.

An answer is a top-level assignment in a code cell (`reconcile_sql = "select ..."`): a literal
(text, number, list, dict), or a call with literal arguments such as
`gxe.ExpectColumnMinToBeBetween(column="amount", min_value=0)`. The last assignment wins, as it
would when the notebook runs top to bottom.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.exercises.core import CallSpec, Unset, recorded_answers


def _value(node: ast.expr) -> Any:
    if isinstance(node, ast.Call):
        func = node.func
        if node.args or not (
            isinstance(func, ast.Name)
            or (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name))
        ):  # `open(path).read()`, `f(x)`: computed, not a constructor with literal keywords
            raise ValueError("not a call with literal keyword arguments")
        name = func.attr if isinstance(func, ast.Attribute) else func.id
        return CallSpec(name, {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg})
    return ast.literal_eval(node)


def read_answers(path: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """The values the notebook assigns to `names` (names it does not assign are left out)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    found: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for statement in tree.body:
            if not isinstance(statement, ast.Assign):
                continue
            for target in statement.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    try:
                        found[target.id] = _value(statement.value)
                    except (ValueError, TypeError, SyntaxError):
                        found[target.id] = _Unreadable(ast.unparse(statement.value))
    return found


@dataclass(frozen=True)
class _Unreadable:
    """An answer computed by code: the grader cannot know its value without running it."""

    source: str

    def __str__(self) -> str:
        return self.source


def notebook_answers(exercise, path: Path) -> dict[str, Any]:
    """The answers to grade, as the saved notebook's answer cells assign them. A blank answer
    (the TODO's None or "") is graded as blank, never replaced by an earlier check's value. An
    answer computed by code is the value the notebook's last check used (kept in the sandbox
    state); without one, or when the notebook does not set it, it is `Unset` (a "not yet")."""

    recorded = recorded_answers(exercise.lesson)
    found = read_answers(path, exercise.answers) if path.exists() else {}
    answers: dict[str, Any] = {}
    for name in exercise.answers:
        value = found.get(name, Unset(name, f"{path.name} has no cell that sets `{name}`"))
        if isinstance(value, _Unreadable):
            value = recorded.get(
                name,
                Unset(
                    name,
                    f"{path.name} computes it ({value.source}): run the notebook's check cell "
                    "once, so the check records its value, then grade again",
                ),
            )
        answers[name] = value
    return answers
