"""Saved notebook outputs carry no path of the machine that saved them, and cells whose output
differs run to run say so in their tags (nbval honours them), never in comments a learner reads.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest

from tests.helpers import run_nbval

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(
    p for folder in ("notebooks", "exercises") for p in (ROOT / folder).rglob("*.ipynb")
)
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IGNORE_TAG = "nbval-ignore-output"
MACHINE_PATH = re.compile(r"(/tmp/|/root/|/home/[^/\s'\"]+|/work/)")


def _output_texts(output: dict) -> list[str]:
    if output["output_type"] == "stream":
        return ["".join(output["text"])]
    if output["output_type"] == "error":
        return ["\n".join(output.get("traceback", [])), output.get("evalue", "")]
    data = output.get("data", {})
    return [
        "".join(v) if isinstance(v, list) else str(v) for k, v in data.items() if "image" not in k
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_saved_outputs_hold_no_machine_paths(path):
    found = []
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        for output in cell.get("outputs", []):
            for text in _output_texts(output):
                for match in MACHINE_PATH.finditer(text):
                    line = (
                        text[: match.end()].rsplit("\n", 1)[-1]
                        + text[match.end() :].split("\n", 1)[0]
                    )
                    found.append(f"cell {index}: {line.strip()[:160]}")
    assert not found, (
        f"{path.relative_to(ROOT)}: expected no machine paths (/tmp/, /root/, /home/<user>, /work/) "
        "in saved outputs; show paths relative to the project (lab.lesson.portable) and re-run "
        "`lab notebooks`. Found:\n" + "\n".join(found)
    )


def test_the_scan_finds_every_lesson_and_exercise():
    names = {p.relative_to(ROOT).as_posix() for p in NOTEBOOKS}
    assert "notebooks/00_welcome.ipynb" in names and any(
        n.startswith("exercises/") for n in names
    ), f"expected lessons and exercises to be scanned, got {sorted(names)}"


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_code_cells_carry_no_nbval_comment_markers(path):
    marked = [
        (i, line.strip())
        for i, cell in enumerate(_code_cells(path))
        for line in "".join(cell["source"]).splitlines()
        if line.strip().startswith("#") and "NBVAL_" in line
    ]
    assert not marked, (
        f"{path.name}: code cells {marked} show nbval markers to learners. Fix: delete the "
        f"comment and tag the cell {IGNORE_TAG!r} (cell metadata 'tags') instead."
    )


def test_lesson_06_tags_its_timing_cells_to_ignore_their_output():
    cells = _code_cells(ROOT / "notebooks" / "06_scale.ipynb")
    timed = [i for i, c in enumerate(cells) if "timings" in "".join(c["source"])]
    untagged = [i for i in timed if IGNORE_TAG not in cells[i]["metadata"].get("tags", [])]
    assert timed and not untagged, (
        f"expected every cell that shows timings tagged {IGNORE_TAG!r}; code cells {untagged} "
        f"of {timed} are not"
    )


def _notebook_with_a_changing_output(path: Path, tags: list[str]) -> Path:
    """One cell that prints a new number every run, saved with an output it will not reproduce."""
    cell = nbformat.v4.new_code_cell(
        "import time\nprint(time.time_ns())",
        metadata={"tags": tags},
        execution_count=1,
        outputs=[nbformat.v4.new_output("stream", name="stdout", text="12345\n")],
    )
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_the_nbval_runner_ignores_the_output_of_a_tagged_cell_and_compares_the_rest(tmp_path):
    tagged = _notebook_with_a_changing_output(tmp_path / "tagged.ipynb", [IGNORE_TAG])
    plain = _notebook_with_a_changing_output(tmp_path / "plain.ipynb", [])
    passed, failed = run_nbval(tagged, env={}, timeout=300), run_nbval(plain, env={}, timeout=300)
    assert passed.returncode == 0, f"expected the tagged cell ignored, got:\n{passed.stdout}"
    assert failed.returncode != 0 and "12345" in failed.stdout, (
        f"expected the untagged cell's output compared and found different, got:\n{failed.stdout}"
    )
