"""The README's map of the `lab` package names every module, once."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_module_table_lists_every_lab_module_once():
    text = (ROOT / "README.md").read_text()
    table = text.split("### The `lab` package, in the order data flows", 1)[1].split("\n\n")[1]
    listed = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    modules = {p.stem for p in (ROOT / "lab").glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in (ROOT / "lab").iterdir() if (p / "__init__.py").exists()}
    assert sorted(listed) == sorted(modules), (
        f"missing: {sorted(modules - set(listed))}, not in lab: {sorted(set(listed) - modules)}, "
        f"repeated: {sorted({m for m in listed if listed.count(m) > 1})}"
    )
