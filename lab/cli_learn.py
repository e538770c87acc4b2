"""`lab setup`, `reset`, `doctor`, `grade`, `progress` and `solve`: the learner's sandbox, and
the exercises."""

from __future__ import annotations

import sys


def _cmd_setup(args) -> int:
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


def _cmd_reset(args) -> int:
    from lab import exercises, sandbox
    from lab.config import get_settings

    settings = get_settings()
    if args.lesson:
        from lab import rewind_plan

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
        sandbox.reset_lesson(first)
        print(
            f"Lesson {first} starts afresh: notebooks/{exercises.get(first).notebook} finds the "
            "sandbox as the lessons before it left it."
        )
        return 0
    print(
        f"This deletes {settings.home} and {settings.runs_dir}: the warehouse, the lake folder, "
        "your exercise progress and saved runs."
    )
    if not _confirm("Delete them?", args.yes):
        print("Nothing deleted. (`lab reset --yes` deletes without asking.)")
        return 0
    sandbox.reset()
    print("Reset done. `lab setup` (or `make lab`) prepares a fresh sandbox.")
    return 0


def _cmd_doctor(args) -> int:
    from lab import doctor, sandbox

    table = doctor.stack_checks() if args.stack else sandbox.health()
    width = max(map(len, table.index))
    for part, row in table.iterrows():
        print(f"{'ok ' if row.ok else 'FIX'}  {part:<{width}}  {row.detail}")
    return 0 if table["ok"].all() else 1


def _cmd_grade(args) -> int:
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
    try:
        exercise = exercises.get(args.target)
    except exercises.ExerciseError as exc:  # the argument names no exercise: a usage error
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from lab.exercises.answers import notebook_answers

    notebook = get_settings().exercises_dir / exercise.notebook
    feedback = exercise.check(**notebook_answers(exercise, notebook))
    print(
        f"(answers read from {notebook.name}: its answer cells, and the values its last check used)"
    )
    print(feedback)
    return 0 if feedback.passed else 1


def _grade_folder(folder, args) -> int:
    import re
    import tempfile
    from pathlib import Path

    from lab.exercises import grading

    lesson = args.lesson
    if lesson is None:
        books = [folder] if folder.is_file() else folder.rglob("*.ipynb")
        names = {m.group(1) for p in books if (m := re.match(r"(\d\d)_", p.name))}
        if len(names) != 1:
            raise exercises_error(
                f"Cannot tell which exercise the notebooks in {folder} are (found {sorted(names) or 'none'}). "
                "Fix: add --lesson N."
            )
        lesson = names.pop()
    source = folder if folder.is_dir() else folder.parent
    with tempfile.TemporaryDirectory(prefix="lab-grade-") as work:
        header, rows = grading.grade_folder(lesson, folder, Path(work))
    if not rows:
        print(f"No submissions found in {source}.")
        return 1
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    out = Path(args.csv) if args.csv else source / f"grades_{lesson}.csv"
    grading.write_csv(out, header, rows)
    print(f"Wrote {out}")
    return 0


def exercises_error(message: str):
    from lab.exercises import ExerciseError

    return ExerciseError(message)


def _cmd_progress(args) -> int:
    from lab import exercises

    print(exercises.progress())
    return 0


def _cmd_solve(args) -> int:
    from lab import exercises, sandbox

    key = exercises.lesson_key(args.lesson)
    feedback = sandbox.solve_lesson(key)
    print(feedback)
    return 0 if feedback.passed else 1
