"""Grading: one learner's exercise notebook, or a class's folder of them, each in a sandbox of its own.

A scratch sandbox is a prepared state (warehouse, lake, GX project) plus a scratch project root
whose `dbt/`, `dags/` and `exercises/` are copies, so what a learner's notebook writes (a dbt
model, a DAG, an alert rule) stays in that sandbox; everything else links to the real project.
"""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab import exercises, pipeline, sandbox
from lab.cli.tools import jupyter_settings
from lab.config import Settings, environ, get_settings
from lab.exercises import EXERCISES
from lab.exercises.answers import notebook_answers
from lab.sandbox.notebooks import fresh_env

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

    settings = settings or get_settings()
    env = fresh_env(base, settings)
    env["LAB_ROOT"] = str(scratch_root(base, settings))
    return env


def run_notebook(path: Path, timeout: int = 900) -> bool:
    """Run a notebook in place, top to bottom, going on past failing cells (as a grader must);
    save it with its outputs; return whether every cell ran without error."""
    # the sandbox's python3 kernel, as JupyterLab runs it (and so do the kernels it starts)
    env = {"JUPYTER_PATH": jupyter_settings()["JUPYTER_PATH"]}
    nb = pipeline.run_notebook(path, path, timeout=timeout, allow_errors=True, env=env)
    return not pipeline.has_errors(nb)


@dataclass
class Submission:
    learner: str
    notebook: Path


_NUMBER = re.compile(r"(?<!\d)(\d\d)(?!\d)")  # a two-digit lesson number standing on its own


def lessons_named(name: str) -> list[str]:
    """The exercises a file name says: an exercise notebook's stem anywhere in it (`02_dbt`),
    else two-digit lesson numbers (`alice_02.ipynb`). Several: the name is ambiguous."""

    lower = name.lower()
    stems = sorted(k for k, e in EXERCISES.items() if Path(e.notebook).stem.lower() in lower)
    return stems or sorted({n for n in _NUMBER.findall(name) if n in EXERCISES})


def _learner(stem: str) -> str:
    """`alice_02_dbt` -> `alice`: the name without the exercise it names (else the stem)."""

    rest = stem
    for key, exercise in EXERCISES.items():
        rest = re.sub(re.escape(Path(exercise.notebook).stem), "", rest, flags=re.I)
        rest = re.sub(rf"(?<!\d){key}(?!\d)", "", rest)
    return re.sub(r"([_\-. ])[_\-. ]+", r"\1", rest).strip("_-. ") or stem


def _notebooks(folder: Path) -> list[Path]:
    return [b for b in sorted(folder.rglob("*.ipynb")) if ".ipynb_checkpoints" not in b.parts]


def find_submissions(
    folder: Path, lesson: str | None = None
) -> tuple[dict[str, list[Submission]], list[str]]:
    """The notebooks in `folder` by exercise, and one sentence for each that cannot be graded.

    One notebook a learner: `folder/<learner>.ipynb` or `folder/<learner>/...ipynb` (or `folder`
    is the one notebook). Without `lesson`, a notebook's name says its exercise (`lessons_named`);
    a name that says none belongs to the one exercise the other names say, when they agree.
    """
    entries = [(_learner(folder.stem), folder, [folder])] if folder.is_file() else []
    for item in [] if folder.is_file() else sorted(folder.iterdir()):
        if item.is_dir() and (books := _notebooks(item)):
            entries.append((item.name, item, books))
        elif item.suffix == ".ipynb":
            entries.append((_learner(item.stem), item, [item]))
    groups: dict[str, dict[str, Submission]] = {}
    unnamed, skipped = [], []
    base = folder.parent if folder.is_file() else folder

    def add(key: str, learner: str, book: Path) -> None:
        chosen = groups.setdefault(key, {})
        if learner in chosen:  # two notebooks of one exercise: the file stems tell them apart
            learner = book.stem if learner != book.stem else f"{learner}-{len(chosen)}"
        chosen.setdefault(learner, Submission(learner, book))

    for learner, item, books in entries:
        named = {book: lessons_named(book.name) for book in books}
        if lesson is not None:  # the notebooks that say this exercise, else those that say none
            own = [b for b in books if lesson in named[b]] or [b for b in books if not named[b]]
            if own or item == folder:  # a notebook named on the command line is graded as told
                add(lesson, learner, (own or books)[0])
            elif item.is_dir():
                skipped.append(
                    f"skipped {item.relative_to(base)}/: no notebook of exercise {lesson} in it "
                    f"(found {', '.join(b.name for b in books)}). Fix: name it like "
                    f"{learner}_{lesson}.ipynb."
                )
            else:
                says = ("exercises " if len(named[item]) > 1 else "exercise ") + " and ".join(
                    named[item]
                )
                skipped.append(
                    f"skipped {item.relative_to(base)}: its name says {says}, not "
                    f"{lesson}. Fix: grade it with --lesson {named[item][0]}, or without --lesson."
                )
            continue
        found = [b for b in books if len(named[b]) == 1]
        for book in found:
            if learner not in groups.get(named[book][0], {}):
                add(named[book][0], learner, book)
        for book in books:
            if len(named[book]) > 1:
                skipped.append(
                    f"skipped {book.relative_to(base)}: its name says exercises "
                    f"{' and '.join(named[book])}. Fix: keep one lesson number in the name, or "
                    "pass --lesson N."
                )
        if not found and (nameless := [b for b in books if not named[b]]):
            unnamed.append((learner, nameless[0]))
    for learner, book in unnamed:
        if len(groups) == 1:
            add(next(iter(groups)), learner, book)
            continue
        holds = f" (the folder holds exercises {' and '.join(sorted(groups))})" if groups else ""
        skipped.append(
            f"skipped {book.relative_to(base)}: its name does not say which exercise it is"
            f"{holds}. Fix: put the lesson number in the name, like alice_02_dbt.ipynb, or "
            "pass --lesson N."
        )
    by_name = {k: sorted(v.values(), key=lambda s: s.learner.lower()) for k, v in groups.items()}
    return dict(sorted(by_name.items())), skipped


def grade_notebook(lesson: str, notebook: Path, base: Path, template: Path | None = None):
    """Run a learner's notebook in a scratch sandbox under `base`; return the check's Feedback."""

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


def grade_submissions(
    lesson: str, found: list[Submission], work: Path, say: Callable[[str], None] = print
) -> tuple[list[str], list[list[str]]]:
    """Grade each learner's notebook of one exercise, each in a scratch sandbox under `work`;
    return the header and rows of learners x tasks."""

    exercise = exercises.get(lesson)
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


def grade_folder(
    lesson: str, folder: Path, work: Path, say: Callable[[str], None] = print
) -> tuple[list[str], list[list[str]]]:
    """Grade every learner's notebook in `folder` (or the one notebook `folder` names) as
    exercise `lesson`; return the header and rows of learners x tasks."""

    key = exercises.lesson_key(lesson)
    groups, _ = find_submissions(folder, key)
    return grade_submissions(key, groups.get(key, []), work, say)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
