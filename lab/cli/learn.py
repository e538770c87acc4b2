"""`lab setup`, `reset`, `doctor`, `grade`, `progress` and `solve`: the learner's sandbox, and
the exercises."""

from __future__ import annotations

import argparse
import sys


def exercise_lessons() -> list[str]:
    """The lessons that have an exercise: one notebook each in exercises/ (`01_ingestion.ipynb`)."""
    from lab.config import get_settings

    folder = get_settings().exercises_dir
    return sorted({path.name[:2] for path in folder.glob("[0-9][0-9]_*.ipynb")})


def lesson_argument(text: str) -> str:
    """An exercise's lesson, `1` or `01`; anything else is a usage error naming the choices."""
    key = text.strip().zfill(2) if text.strip().isdigit() else text.strip()
    lessons = exercise_lessons()
    if key not in lessons:
        raise argparse.ArgumentTypeError(
            f"there is no exercise {text!r}. Fix: choose one of {', '.join(lessons)} "
            "(1 and 01 both work)."
        )
    return key


def cmd_setup(args) -> int:
    from lab import sandbox

    sandbox.prepare(force=args.force, history_days=args.history_days)
    return 0


def _confirm(question: str, yes: bool) -> bool:
    """Ask before deleting; `--yes` answers for scripts. No answer (no terminal) means no."""
    if yes:
        return True
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_reset(args) -> int:
    from lab import exercises, sandbox
    from lab.config import get_settings

    settings = get_settings()
    if args.lesson:
        from lab.sandbox import rewind, rewind_plan

        first = exercises.lesson_key(args.lesson)
        plan = rewind_plan.plan(first, settings)
        print(f"Back to the start of lesson {first}. This removes:")
        for line in plan.removes or [f"nothing: lesson {first} and later left nothing here"]:
            print(f"  - {line}")
        print(plan.rebuilds)
        print(plan.keeps)
        if not _confirm("Go ahead?", args.yes):
            print("Nothing removed.")
            return 0
        rewind.rewind(first)
        print(
            f"Lesson {first} starts afresh: notebooks/{exercises.get(first).notebook} finds the "
            "sandbox as the lessons before it left it."
        )
        return 0
    print(
        f"This deletes {settings.home} and {settings.runs_dir}: the warehouse, the lake folder, "
        "your exercise progress and saved runs."
    )
    from lab.exercises.core import SAVED, shown

    mine = [shown(p, settings) for p in sandbox.learner_work(settings) if p.exists()]
    if mine:
        print(
            f"Your exercise files ({', '.join(mine)}) move to {SAVED}/<date_time>/, "
            "so the next setup starts every exercise afresh."
        )
    if not _confirm("Delete them?", args.yes):
        print("Nothing deleted. (`lab reset --yes` deletes without asking.)")
        return 0
    sandbox.reset()
    print("Reset done. `lab setup` (or `make lab`) prepares a fresh sandbox.")
    return 0


def cmd_doctor(args) -> int:
    from lab import sandbox
    from lab.cli import doctor

    table = doctor.stack_checks() if args.stack else sandbox.health()
    width = max(map(len, table.index))
    for part, row in table.iterrows():
        print(f"{'ok ' if row.ok else 'FIX'}  {part:<{width}}  {row.detail}")
    return 0 if table["ok"].all() else 1


def cmd_grade(args) -> int:
    from pathlib import Path

    from lab import exercises
    from lab.config import get_settings

    target = Path(args.target)
    if (
        target.exists()
        and (target.is_dir() or target.suffix == ".ipynb")
        and not args.target.isdigit()
    ):
        return _grade_folder(target, args)
    if not args.target.isdigit() and ("/" in args.target or target.suffix == ".ipynb"):
        print(
            f"error: {args.target} does not exist. Fix: give an exercise number "
            f"({', '.join(exercise_lessons())}), or the "
            "path of a folder of learners' notebooks (or of one notebook).",
            file=sys.stderr,
        )
        return 2
    try:
        exercise = exercises.get(args.target)
    except exercises.ExerciseError as exc:  # the argument names no exercise: a usage error
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from lab.exercises.answers import notebook_answers

    notebook = get_settings().exercises_dir / exercise.notebook
    feedback = exercise.check(**notebook_answers(exercise, notebook))
    print(
        f"(answers read from {notebook.name}'s answer cells; one computed by code: the value "
        "its last check used)"
    )
    print(feedback)
    return 0 if feedback.passed else 1


def _grade_folder(folder, args) -> int:
    import tempfile
    from pathlib import Path

    from lab import exercises
    from lab.config import get_settings, shown_path
    from lab.exercises import grading

    lesson = exercises.lesson_key(args.lesson) if args.lesson else None
    source = folder if folder.is_dir() else folder.parent
    groups, skipped = grading.find_submissions(folder, lesson)
    for line in skipped:
        print(line)
    if not groups:
        print(f"No submissions to grade in {shown_path(source, get_settings().root)}.")
        return 1
    if args.csv and len(groups) > 1:
        raise exercises.ExerciseError(
            f"{folder} holds notebooks of exercises {' and '.join(groups)}, and --csv names one "
            "file. Fix: grade one exercise at a time with --lesson N."
        )
    for key, found in groups.items():
        print(f"Exercise {key}: {len(found)} notebook{'s' if len(found) > 1 else ''}")
        with tempfile.TemporaryDirectory(prefix="lab-grade-") as work:
            header, rows = grading.grade_submissions(key, found, Path(work))
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        out = Path(args.csv) if args.csv else source / f"grades_{key}.csv"
        grading.write_csv(out, header, rows)
        print(f"Wrote {shown_path(out.resolve(), get_settings().root)}")
    return 1 if skipped else 0


def cmd_progress(args) -> int:
    from lab import exercises

    print(exercises.progress())
    return 0


def cmd_solve(args) -> int:
    from lab import exercises
    from lab.sandbox import solve

    key = exercises.lesson_key(args.lesson)
    feedback = solve.solve(key)
    print(feedback)
    return 0 if feedback.notebook_passed else 1
