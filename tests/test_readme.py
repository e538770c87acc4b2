"""The README's map of the `lab` package names every module, once."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_module_table_lists_every_lab_module_and_package_once():
    text = (ROOT / "README.md").read_text()
    table = text.split("### The `lab` package", 1)[1].split("| module or package |", 1)[1]
    table = table.split("\n\n")[0]
    rows = dict(re.findall(r"^\| `(\w+/?)` \|(.*)$", table, flags=re.M))
    listed = re.findall(r"^\| `(\w+/?)` \|", table, flags=re.M)
    lab = ROOT / "lab"
    expected = {p.stem for p in lab.glob("*.py") if p.stem != "__init__"}
    packages = {p.name for p in lab.iterdir() if (p / "__init__.py").exists()}
    expected |= {f"{name}/" for name in packages}
    assert sorted(listed) == sorted(expected), (
        f"missing: {sorted(expected - set(listed))}, not in lab: {sorted(set(listed) - expected)}, "
        f"repeated: {sorted({m for m in listed if listed.count(m) > 1})}"
    )
    for name in packages - {"exercises"}:  # exercises: one check module a lesson, said so
        modules = {p.stem for p in (lab / name).glob("*.py") if not p.stem.startswith("__")}
        unnamed = sorted(m for m in modules if f"`{m}`" not in rows[f"{name}/"])
        assert not unnamed, f"README's row of lab/{name}/ does not name {unnamed}"


def commands_in_code_blocks(text: str) -> list[str]:
    """The command lines of the README's fenced code blocks, comments removed, in order."""
    blocks = re.findall(r"^```(?:bash|sh)?\n(.*?)^```", text, flags=re.M | re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("$")]


def test_the_readme_starts_with_make_lab_then_make_test():
    first = commands_in_code_blocks((ROOT / "README.md").read_text())[:2]
    assert first == ["make lab", "make test"], f"expected make lab, make test first, got {first}"


def test_the_readme_says_how_to_get_lab_on_path_before_its_first_lab_command():
    from lab.cli import build_parser

    text = (ROOT / "README.md").read_text()
    commands = re.search(r"\{([\w,-]+)\}", build_parser().format_usage()).group(1).split(",")
    uses = [
        m.start()
        for m in re.finditer(r"(?:^|`)lab (\w+)", text, flags=re.M)
        if m.group(1) in commands
    ]
    assert uses, "expected the README to show the lab command"
    told = text.find("source .venv/bin/activate")
    assert 0 <= told < uses[0], (
        f"the first `lab` command is at character {uses[0]} ({text[uses[0] : uses[0] + 30]!r}), "
        f"the instruction `source .venv/bin/activate` at {told}: it must come first"
    )
    for target in ("make grade N=1", "make progress", "make doctor"):
        assert target in text[: uses[0] + 400], f"expected {target!r} beside the instruction"
