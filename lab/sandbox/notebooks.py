"""The lesson notebooks: list them, and re-execute them on a fresh sandbox to save their outputs.

Saved outputs come from a fresh, seeded sandbox, so `make notebooks` gives the same outputs
that nbval compares against in the tests.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lab import sandbox
from lab.config import Settings, environ, get_settings
from lab.pipeline import run_notebook


def lesson_notebooks(settings: Settings | None = None) -> list[Path]:
    """`notebooks/NN_*.ipynb` in reading order."""
    settings = settings or get_settings()
    return sorted(settings.notebooks_dir.glob("[0-9][0-9]_*.ipynb"))


def fresh_env(base: Path, settings: Settings | None = None) -> dict[str, str]:
    """Environment for a brand-new `local` sandbox under `base` (state, runs, a GX copy)."""
    settings = settings or get_settings()
    gx_copy = base / "great_expectations"
    shutil.copytree(
        settings.gx_root, gx_copy, ignore=shutil.ignore_patterns("uncommitted"), dirs_exist_ok=True
    )
    return {
        "LAB_PROFILE": "local",
        "LAB_HOME": str(base / "state"),
        "LAB_RUNS_DIR": str(base / "runs"),
        "LAB_GX_ROOT": str(gx_copy),
        "LAB_ROOT": str(settings.root),
    }


@contextmanager
def fresh_sandbox() -> Iterator[dict[str, str]]:
    """A prepared sandbox in a temporary folder, active in this process while the block runs."""

    with tempfile.TemporaryDirectory(prefix="lab-fresh-") as tmp:
        env = fresh_env(Path(tmp))
        with environ(env):
            sandbox.prepare(say=lambda _: None)
            yield env


SLOW_SECONDS = 10  # a cell slower than this says so in the markdown cell before it
_ANNOUNCED = re.compile(r"\b(\d+ (s|seconds?)|(a|about a|half a) minute|minutes?)\b", re.IGNORECASE)


def unannounced_slow_cells(nb, seconds: dict[int, float], limit: float = SLOW_SECONDS) -> list[str]:
    """Code cells slower than `limit` whose markdown cell before them does not give the time."""
    found = []
    for index, took in sorted(seconds.items()):
        if took <= limit:
            continue
        before = next(
            (c.source for c in reversed(nb.cells[:index]) if c.cell_type == "markdown"), ""
        )
        if not _ANNOUNCED.search(before):
            first = nb.cells[index].source.strip().splitlines()[0][:60]
            found.append(f"cell {index} `{first}` ({took:.0f} s)")
    return found


def refresh(names: list[str] | None = None, say: Callable[[str], None] = print) -> list[Path]:
    """Execute the lessons in order on a fresh sandbox and save them with their outputs.

    Says how long each saved lesson's slow cells took, and names every cell over SLOW_SECONDS
    that the markdown cell before it does not announce.
    """
    import nbformat

    settings = get_settings()
    chosen = [p for p in lesson_notebooks(settings) if not names or p.name in names]
    done = []
    last = max(chosen, default=None)
    with fresh_sandbox():
        for path in lesson_notebooks(settings):
            if last is None or path > last:  # later lessons change nothing that is saved
                break
            seconds: dict[int, float] = {}
            nb = run_notebook(path, timeout=600, seconds=seconds)
            saved = path in chosen  # earlier lessons still run: later ones build on their state
            slow = ", ".join(f"[{i}] {t:.1f} s" for i, t in sorted(seconds.items()) if t > 2)
            say(
                f"{path.name}{'' if saved else ' (not saved)'}: {sum(seconds.values()):.1f} s "
                f"in cells; over 2 s: {slow or 'none'}"
            )
            for cell in unannounced_slow_cells(nb, seconds):
                say(
                    f"  NOTE {cell} is over {SLOW_SECONDS} s and the markdown before it does not "
                    "say so: add how long it takes (e.g. 'this takes about 20 seconds')."
                )
            if not saved:
                continue
            nbformat.write(nb, path)
            done.append(path)
    return done
