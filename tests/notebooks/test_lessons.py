"""Every lesson notebook runs top to bottom on a fresh sandbox and reproduces its saved outputs.

nbval runs in its own pytest process so its kernels see the fresh sandbox's environment; it
compares outputs (`--nbval`, not `--nbval-lax`), with volatile values sanitized. The run is the
session's lesson walk (tests/lesson_walk.py), which also gives `lab reset` its reference.
"""

import json
from pathlib import Path

import pytest

from lab.sandbox.notebooks import lesson_notebooks
from lab.steps import STEPS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_lessons_are_numbered_and_start_with_a_title_and_goals():
    names = [p.name for p in lesson_notebooks()]
    pipeline = [name for name in (s.notebook for s in STEPS)]
    assert names[:6] == ["00_welcome.ipynb", *pipeline, "05_orchestration.ipynb"], names
    for path in lesson_notebooks():
        cells = json.loads(path.read_text())["cells"]
        assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith(
            "# "
        ), f"{path.name}: cell 0 must be the title"
        assert "What you will learn" in "".join(cells[1]["source"]), (
            f"{path.name}: cell 1 must say what you will learn"
        )
        assert "Recap" in "".join(cells[-1]["source"]) or "Recap" in "".join(cells[-2]["source"]), (
            f"{path.name}: a lesson ends with a recap"
        )


def test_pipeline_lessons_have_a_parameters_cell():
    for name in (s.notebook for s in STEPS):
        cells = json.loads((ROOT / "notebooks" / name).read_text())["cells"]
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, (
            f"{name}: expected one cell tagged 'parameters', found {len(tagged)}"
        )
        assert "run_date" in "".join(tagged[0]["source"])


def test_saved_lessons_have_outputs_and_no_errors():
    for path in lesson_notebooks():
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        unexecuted = [i for i, c in enumerate(cells) if c.get("execution_count") is None]
        errors = [o for c in cells for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not unexecuted, (
            f"{path.name}: code cells {unexecuted} were saved unexecuted; run `make notebooks`"
        )
        assert not errors, f"{path.name}: saved with an error output; run `make notebooks`"


def test_lessons_reproduce_their_saved_outputs_under_nbval(lesson_walk):
    """nbval over every lesson, in order, on the sandbox `lab setup` prepares (the walk that
    tests/lab/test_rewind.py takes its reference states from)."""
    result = lesson_walk.nbval
    assert result["returncode"] == 0, (
        "nbval found differences or errors; if the change is intended, run `make notebooks`.\n"
        + result["stdout"][-6000:]
        + result["stderr"][-2000:]
    )
