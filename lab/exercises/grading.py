"""Grading: one learner's exercise notebook, or a class's folder of them, each in a sandbox of its own.

A scratch sandbox is a prepared state (warehouse, lake, GX project) plus a scratch project root
whose `dbt/`, `dags/` and `exercises/` are copies, so what a learner's notebook writes (a dbt
model, a DAG, an alert rule) stays in that sandbox; everything else links to the real project.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab.config import Settings, environ, get_settings

COPIED = ("dbt", "dags", "exercises")
IGNORED = shutil.ignore_patterns(
    "target", "logs", "__pycache__", "work", "my_first_dag.py", ".ipynb_checkpoints"
)


def scratch_root(base: Path, settings: Settings | None = None) -> Path:
    """A project root under `base`: copies of dbt/, dags/, exercises/; links to the rest."""
    settings = settings or get_settings()
    root = base / "project"
    root.mkdir(parents=True, exist_ok=True)
    for item in settings.root.iterdir():
        if item.name.startswith(".") or (root / item.name).exists():
            continue
        if item.name in COPIED:
            shutil.copytree(item, root / item.name, ignore=IGNORED)
            if item.name == "dbt":
                shutil.rmtree(root / "dbt" / "models" / "marts" / "exercises", ignore_errors=True)
        else:
            (root / item.name).symlink_to(item)
    return root


def scratch_env(base: Path, settings: Settings | None = None) -> dict[str, str]:
    """The environment of a fresh scratch sandbox under `base` (not prepared yet)."""
    from lab.notebooks import fresh_env

    settings = settings or get_settings()
    env = fresh_env(base, settings)
    env["LAB_ROOT"] = str(scratch_root(base, settings))
    return env


def run_notebook(path: Path, timeout: int = 900) -> bool:
    """Run a notebook in place, top to bottom, going on past failing cells (as a grader must);
    save it with its outputs; return whether every cell ran without error."""
    import nbformat
    from nbclient import NotebookClient

    from lab.pipeline import KERNEL_ARGS

    nb = nbformat.read(path, as_version=4)
    try:
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            allow_errors=True,
            extra_arguments=KERNEL_ARGS,
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    finally:
        nbformat.write(nb, path)
    return not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


@dataclass
class Submission:
    learner: str
    notebook: Path


def submissions(folder: Path, lesson: str) -> list[Submission]:
    """One notebook a learner: `folder/<learner>/<NN>_*.ipynb` or `folder/<learner>.ipynb`."""
    found = []
    for item in sorted(folder.iterdir()):
        if item.is_dir():
            books = sorted(item.rglob(f"{lesson}_*.ipynb")) or sorted(item.rglob("*.ipynb"))
            books = [b for b in books if ".ipynb_checkpoints" not in b.parts]
            if books:
                found.append(Submission(item.name, books[0]))
        elif item.suffix == ".ipynb":
            found.append(Submission(item.stem, item))
    return found


def grade_notebook(lesson: str, notebook: Path, base: Path, template: Path | None = None):
    """Run a learner's notebook in a scratch sandbox under `base`; return the check's Feedback."""
    from lab import exercises, sandbox
    from lab.exercises.answers import notebook_answers

    exercise = exercises.get(lesson)
    env = scratch_env(base)
    if template is not None:  # a prepared state to start from: copy it (much quicker)
        shutil.rmtree(env["LAB_HOME"], ignore_errors=True)
        shutil.copytree(template, env["LAB_HOME"])
    with environ(env):
        if template is None:
            sandbox.prepare(say=lambda _: None)
        target = Path(env["LAB_ROOT"]) / "exercises" / exercise.notebook
        target.unlink(missing_ok=True)
        shutil.copy(notebook, target)
        run_notebook(target)
        return exercise.check(**notebook_answers(exercise, target))


def grade_folder(
    lesson: str, folder: Path, work: Path, say: Callable[[str], None] = print
) -> tuple[list[str], list[list[str]]]:
    """Grade every learner's notebook in `folder` (or the one notebook `folder` names); return
    the header and rows of learners x tasks."""
    from lab import exercises, sandbox

    exercise = exercises.get(lesson)
    if folder.is_file():  # one notebook: one learner, named after the file
        found = [Submission(folder.stem, folder)]
    else:
        found = submissions(folder, exercise.lesson)
    template_base = work / "_template"
    with environ(scratch_env(template_base)):
        sandbox.prepare(say=lambda _: None)
        template = get_settings().home
    header = ["learner", *(f"task {t.key}" for t in exercise.tasks), "passed"]
    rows = []
    for number, submission in enumerate(found, 1):
        say(f"[{number}/{len(found)}] {submission.learner}: {submission.notebook.name}")
        feedback = grade_notebook(
            exercise.lesson, submission.notebook, work / submission.learner, template
        )
        rows.append(
            [
                submission.learner,
                *("done" if v.done else "not yet" for v in feedback.verdicts),
                "yes" if feedback.passed else "no",
            ]
        )
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
