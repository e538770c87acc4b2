"""The shape of the lesson notebooks: stack-only cells in one marked section, slow cells announced."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cells(name: str) -> list[dict]:
    return json.loads((ROOT / "notebooks" / name).read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_lesson_04_has_one_marked_stack_section_and_no_cells_that_do_nothing_on_local():
    cells = _cells("04_monitoring.ipynb")
    guarded = [i for i, c in enumerate(cells) if "if on_stack" in _source(c)]
    assert not guarded, (
        f"expected no `if on_stack:` cells (they do nothing on local), got {guarded}"
    )
    asks = [i for i, c in enumerate(cells) if "lesson.ask_the_stack(" in _source(c)]
    assert len(asks) == 1, f"expected one stack cell, got cells {asks}"
    before = _source(cells[asks[0] - 1])
    assert "Stack profile only" in before and before.startswith("## "), (
        f"expected the stack cell under a heading marked 'Stack profile only', got:\n{before}"
    )


def test_lessons_00_03_and_04_show_what_runs_under_the_hood():
    for name, needle in (
        ("00_welcome.ipynb", "from information_schema.tables"),
        ("03_great_expectations.ipynb", "lesson.show_json("),
        ("04_monitoring.ipynb", "from ops.step_runs"),
    ):
        sources = [_source(c) for c in _cells(name)]
        marked = [i for i, s in enumerate(sources) if "**Under the hood.**" in s]
        assert marked, f"{name}: expected a markdown cell starting '**Under the hood.**'"
        shown = [i for i, s in enumerate(sources) if needle in s and i > marked[0]]
        assert shown, f"{name}: expected a cell with {needle!r} after the 'Under the hood' cell"


def test_lesson_03_try_it_runs_on_a_day_of_its_own_and_says_how_to_restore():
    cells = _cells("03_great_expectations.ipynb")
    params = _source(next(c for c in cells if "parameters" in c["metadata"].get("tags", [])))
    lesson_day = params.split('run_date = "')[1].split('"')[0]
    text = _source(cells[-1])
    assert "lab pipeline --dirty" not in text, f"'Try it' must not dirty the lessons' day:\n{text}"
    try_it = text.split("**Try it:**")[1].split("\n")[0]
    assert "--date " in try_it and lesson_day not in try_it.split("--dirty")[0], try_it
    assert "To restore" in try_it, f"expected 'To restore' in: {try_it}"


def _lesson_paths() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_lesson_00_lists_every_other_lesson_in_its_table_and_counts_them_all():
    sources = [_source(c) for c in _cells("00_welcome.ipynb") if c["cell_type"] == "markdown"]
    table = next(s for s in sources if "| notebook |" in s)
    listed = re.findall(r"^\| `(\d\d_\w+)` \|", table, flags=re.MULTILINE)
    expected = [p.stem for p in _lesson_paths() if p.stem != "00_welcome"]
    assert listed == expected, (
        f"expected lesson 00's table to list {expected} in order, got {listed}. Fix: add a row "
        "for each notebook in notebooks/."
    )
    words = {6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
    count = words.get(len(_lesson_paths()), str(len(_lesson_paths())))
    heading = next(s for s in sources if s.startswith("## One pipeline"))
    assert f"{count} lessons" in heading.splitlines()[0], (
        f"expected the heading to count {count} lessons (00 to {expected[-1][:2]}), got "
        f"{heading.splitlines()[0]!r}"
    )


RECAP_CALL = re.compile(r"`(\w+)\.(\w+)\(")


@pytest.mark.parametrize("path", _lesson_paths(), ids=lambda p: p.name)
def test_every_call_a_recap_names_is_the_call_its_lesson_made(path):
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
    recaps = [_source(c) for c in cells if c["cell_type"] == "markdown" and "Recap" in _source(c)]
    wrong = []
    for name, attribute in (m.groups() for text in recaps for m in RECAP_CALL.finditer(text)):
        if importlib.util.find_spec(f"lab.{name}") is not None:
            called = f"{name}.{attribute}(" in code  # a lab module: the lesson called it so
        else:
            called = f".{attribute}(" in code  # an object the lesson made: its method was called
        if not called:
            wrong.append(f"{name}.{attribute}()")
    assert not wrong, (
        f"{path.name}: the recap names {wrong}, which no code cell of the lesson calls. Fix: name "
        "the call as the lesson's cells make it."
    )
