"""The `lab` package's import graph, read with the standard library: no circle, public seams.

Every import of a `lab` module counts, at module level or inside a function (an import moved
into a function still depends on its module). A module that imports another module's private
name (`_name`), or reaches for one through it (`module._name`), is wired to a detail the other
module may change; the fix is a public name, or moving the code to where it belongs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[1] / "lab"


def module_name(path: Path) -> str:
    parts = path.relative_to(LAB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in LAB.rglob("*.py")}


def resolve(importer: str, node: ast.ImportFrom, modules=MODULES) -> str | None:
    """The dotted module a `from ... import` reads from (relative imports resolved)."""
    if not node.level:
        return node.module
    package = importer.split(".")
    if not modules[importer].name == "__init__.py":
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def imports_of(name: str, modules=MODULES) -> list[tuple[str, str | None, int]]:
    """(module imported, name taken from it or None, line) for every lab import in `name`."""
    found = []
    for node in ast.walk(ast.parse(modules[name].read_text())):
        if isinstance(node, ast.ImportFrom):
            source = resolve(name, node, modules)
            if source and (source == "lab" or source.startswith("lab.")):
                for alias in node.names:
                    found.append((source, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lab" or alias.name.startswith("lab."):
                    found.append((alias.name, None, node.lineno))
    return found


def edges() -> dict[str, set[str]]:
    """Module -> the lab modules it imports (`from lab.x import y` is lab.x.y when y is a module)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for source, taken, _ in imports_of(name):
            target = f"{source}.{taken}" if f"{source}.{taken}" in MODULES else source
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def private_crossings(modules=MODULES) -> list[str]:
    """`from lab.x import _name` or `x._name` (x a lab module) in another module."""
    found = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        module_aliases: dict[str, str] = {}
        for source, taken, line in imports_of(name, modules):
            if taken and taken.startswith("_") and not taken.startswith("__"):
                found.append(f"{name}:{line} imports {source}.{taken}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = resolve(name, node, modules)
                for alias in node.names:
                    if f"{source}.{alias.name}" in modules:
                        module_aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in module_aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(
                    f"{name}:{node.lineno} uses {module_aliases[node.value.id]}.{node.attr}"
                )
    return found


def test_the_package_has_modules_in_subpackages():
    packages = {n for n, p in MODULES.items() if p.name == "__init__.py"}
    expected = {"ingest", "datagen", "quality", "observe", "airflow", "sandbox", "cli", "exercises"}
    assert {f"lab.{name}" for name in expected} <= packages


def test_no_import_circle_between_lab_modules():
    found = cycles(edges())
    assert not found, (
        "lab modules import each other in a circle: "
        + "; ".join(" <-> ".join(c) for c in found)
        + ". Fix: move what both need into a lower module, or the code to where it belongs."
    )


def test_no_private_name_crosses_a_module():
    found = private_crossings()
    assert not found, (
        "private names used across modules: " + "; ".join(found)
        + ". Fix: make the name public (it is a seam) or move the code next to it."
    )


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from lab.b import x\n", []),
        ("from lab.b import _x\n", ["lab.a:1 imports lab.b._x"]),
        ("from lab import b\nb._x()\n", ["lab.a:2 uses lab.b._x"]),
    ],
)
def test_the_private_name_reader_sees_both_forms(tmp_path, source, expected):
    root = tmp_path / "graph" / "lab"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text(source)
    (root / "b.py").write_text("def _x(): pass\ndef x(): pass\n")
    modules = {
        ".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in root.rglob("*.py")
    }
    assert private_crossings(modules) == expected


def test_the_cycle_finder_finds_a_circle_and_only_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
