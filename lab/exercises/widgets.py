"""The feedback and progress panels shown in a notebook (ipywidgets).

A checklist a task; a "hint" button under every open task reveals one more hint per click;
the solution appears only when "show solution" is clicked. The same content is available as
text (`str(feedback)`) for terminals and saved outputs.
"""

from __future__ import annotations

import html

import ipywidgets as w

DONE, OPEN = "☑", "☐"  # in the fonts every browser has (emoji fonts are not)
GREEN, AMBER = "#2e7d32", "#b26a00"


def _task_row(task, verdict) -> w.VBox:
    head = w.HTML(
        f"<div><span style='color:{GREEN if verdict.done else AMBER}'>"
        f"{DONE if verdict.done else OPEN}</span> <b>{html.escape(task.key)}. "
        f"{html.escape(task.title)}</b><br><span style='margin-left:1.6em'>"
        f"{html.escape(verdict.message)}</span></div>"
    )
    if verdict.done:
        return w.VBox([head])
    hints = w.HTML("", layout=w.Layout(margin="0 0 0 1.6em"))
    hints.add_class("lab-hints")
    shown: list[str] = []
    hint_button = w.Button(description="hint", icon="lightbulb-o", layout=w.Layout(width="auto"))
    hint_button.add_class("lab-hint-button")

    def more_hint(_=None) -> None:
        if len(shown) < len(task.hints):
            shown.append(task.hints[len(shown)])
        items = "".join(f"<li>{html.escape(h)}</li>" for h in shown)
        last = len(shown) >= len(task.hints)
        note = "<i>No more hints: “show solution” shows a working answer.</i>" if last else ""
        hints.value = f"<ol class='lab-hint-list'>{items}</ol>{note}"
        hint_button.description = f"hint ({len(shown)} of {len(task.hints)})"
        hint_button.disabled = last

    hint_button.on_click(more_hint)
    solution = w.HTML("", layout=w.Layout(margin="0 0 0 1.6em"))
    solution_button = w.Button(description="show solution", layout=w.Layout(width="auto"))
    solution_button.add_class("lab-solution-button")

    def show_solution(_=None) -> None:
        solution.value = f"<pre>{html.escape(task.solution or 'no solution text')}</pre>"
        solution_button.disabled = True

    solution_button.on_click(show_solution)
    buttons = w.HBox([hint_button, solution_button], layout=w.Layout(margin="0 0 0 1.6em"))
    return w.VBox([head, buttons, hints, solution])


def feedback_panel(feedback) -> w.VBox:
    """The checklist of one exercise's check, with hint and solution buttons."""
    status = "passed" if feedback.passed else "not yet"
    colour = GREEN if feedback.passed else AMBER
    title = w.HTML(
        f"<h4 style='margin:0.2em 0'>{html.escape(feedback.title)}: "
        f"<span style='color:{colour}'>{status}</span></h4>"
    )
    panel = w.VBox([title, *(_task_row(t, v) for t, v in feedback.items())])
    panel.add_class("lab-feedback")
    return panel


def progress_panel(tasks: list, lessons: list[tuple[str, list]]) -> w.HTML:
    """Lessons x tasks: ☑ done (True), ☐ not yet (False), · not checked yet (None), "" no task."""
    marks = {True: DONE, False: OPEN, None: "·", "": ""}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in tasks)
    rows = "".join(
        f"<tr><th>{html.escape(str(lesson))}</th>"
        + "".join(f"<td style='text-align:center'>{marks[state]}</td>" for state in states)
        + "</tr>"
        for lesson, states in lessons
    )
    widget = w.HTML(f"<table><tr><th>lesson</th>{head}</tr>{rows}</table>")
    widget.add_class("lab-progress")
    return widget
