"""Every exercise notebook runs top to bottom: the starter says "not yet" with a reason and a
hint and raises nothing; the solution passes every task. Run in one sandbox, lesson by lesson."""

from __future__ import annotations

import nbformat
import pytest

from lab import exercises
from lab.config import get_settings
from lab.exercises import grading

pytestmark = pytest.mark.slow
PREPARED_HISTORY_DAYS = 2
LESSONS = ["01", "02", "03", "04", "05"]


def _run(path):
    ok = grading.run_notebook(path)
    nb = nbformat.read(path, as_version=4)
    errors = [
        f"{o.ename}: {o.evalue}"
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert ok and not errors, f"{path.name} raised: {errors}"
    last = nb.cells[-1]
    assert "check" in last.metadata.get("tags", []), f"{path.name}: the last cell must be the check"
    return "".join(o.get("data", {}).get("text/plain", "") for o in last.outputs), last.outputs


@pytest.mark.parametrize("lesson", LESSONS)
def test_starter_says_not_yet_and_solution_passes(exercise_sandbox, lesson):
    exercise = exercises.get(lesson)
    settings = get_settings()
    text, outputs = _run(settings.exercises_dir / exercise.notebook)
    assert "not yet" in text and "PASSED" not in text, f"{exercise.notebook} starter:\n{text}"
    assert "hint:" in text, f"{exercise.notebook} starter must give a hint:\n{text}"
    data = outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in data and "text/markdown" in data, (
        f"the check cell must show the widget panel with a Markdown fallback, got {sorted(data)}"
    )
    text, _ = _run(settings.exercises_dir / "solutions" / exercise.notebook)
    assert "PASSED" in text and "[ ]" not in text, f"{exercise.notebook} solution:\n{text}"
