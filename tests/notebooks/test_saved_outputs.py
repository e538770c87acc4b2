"""Saved notebook outputs carry no path of the machine that saved them."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(
    p for folder in ("notebooks", "exercises") for p in (ROOT / folder).rglob("*.ipynb")
)
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
