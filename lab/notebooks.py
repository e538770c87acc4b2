"""The lesson notebooks: list them, and re-execute them on a fresh sandbox to save their outputs.

Saved outputs come from a fresh, seeded sandbox, so `make notebooks` gives the same outputs
that nbval compares against in the tests.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.config import Settings, environ, get_settings


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
    from lab import sandbox

    with tempfile.TemporaryDirectory(prefix="lab-fresh-") as tmp:
        env = fresh_env(Path(tmp))
        with environ(env):
            sandbox.prepare(say=lambda _: None)
            yield env


def execute(path: Path, timeout: int = 600):
    """Run a notebook top to bottom in a kernel of its own (cwd: its folder); return it."""
    import nbformat
    from nbclient import NotebookClient

    from lab.pipeline import KERNEL_ARGS

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,  # saved lessons carry no clock times: clean diffs
        extra_arguments=KERNEL_ARGS,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return nb


def refresh(names: list[str] | None = None) -> list[Path]:
    """Execute the lessons in order on a fresh sandbox and save them with their outputs."""
    import nbformat

    settings = get_settings()
    chosen = [p for p in lesson_notebooks(settings) if not names or p.name in names]
    done = []
    with fresh_sandbox():
        for path in lesson_notebooks(settings):
            nb = execute(path)
            if path in chosen:  # earlier lessons still run: later ones build on their state
                nbformat.write(nb, path)
                done.append(path)
    return done
