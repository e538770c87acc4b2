"""The `lab` command: setup, pipeline, doctor (--stack), datagen, reset, grade, progress, solve.

Errors the learner can fix are printed as one sentence (no traceback) with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from lab.errors import LabError


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
        first = exercises.lesson_key(args.lesson)
        later = [e for k, e in sorted(exercises.EXERCISES.items()) if k >= first]
        print(
            f"Back to the start of lesson {first}. This removes the work of exercises "
            f"{', '.join(e.lesson for e in later)}:"
        )
        for exercise in later:
            print(f"  {exercise.lesson}: {exercise.work}")
        if not _confirm("Remove it?", args.yes):
            print("Nothing removed.")
            return 0
        sandbox.reset_lesson(first)
        print(
            f"Lesson {first} starts afresh; the lessons' own data and earlier exercises are kept."
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


def _cmd_datagen(args) -> int:
    from lab import datagen, ingest

    if args.out:
        frame = datagen.make_orders(args.date, rows=args.rows, dirty=args.dirty)
        with open(args.out, "wb") as fh:
            fh.write(datagen.to_csv_bytes(frame))
        print(f"Wrote {len(frame)} rows to {args.out}")
        return 0
    path = ingest.land_batch(args.date, rows=args.rows, dirty=args.dirty)
    print(f"Landed {args.rows} rows for {args.date} at {path}")
    return 0


def _cmd_pipeline(args) -> int:
    from lab import pipeline, sandbox
    from lab.config import PIPELINE_NOTEBOOKS, get_settings

    settings = get_settings()
    if not sandbox.is_prepared(settings):
        sandbox.prepare()
    total = len([s for s, _ in PIPELINE_NOTEBOOKS if not args.step or s in args.step])
    print(
        f"Pipeline for {args.date} ({settings.profile} profile, {args.rows} rows, dirty={args.dirty})"
    )
    counter = iter(range(1, total + 1))
    t0 = time.perf_counter()

    def progress(nb) -> None:
        mark = "ok" if nb.success else "FAILED"
        print(
            f"  [{next(counter)}/{total}] {nb.notebook:<28} {nb.seconds:5.1f} s  {mark}", flush=True
        )

    run = pipeline.run_pipeline(
        args.date,
        rows=args.rows,
        dirty=args.dirty,
        run_id=args.run_id,
        steps=args.step,
        settings=settings,
        on_step=progress,
    )
    print()
    print(summary_text(run, time.perf_counter() - t0))
    if not run.success:
        failed = next(n for n in run.notebooks if not n.success)
        print(f"\nFAILED: {failed.error}", file=sys.stderr)
        return 1
    return 0


def summary_text(run, seconds: float) -> str:
    """The end-of-run summary: what each step did, and where the executed notebooks are."""
    from lab import metrics

    steps = metrics.step_runs(run.run_id)
    counts = {row.step: json.loads(row.counts or "{}") for row in steps.itertuples()}
    lines = [f"Run {run.run_id}: {'succeeded' if run.success else 'FAILED'} in {seconds:.1f} s"]
    if "ingestion" in counts:
        c = counts["ingestion"]
        lines.append(
            f"  ingestion   {c.get('landed', 0)} rows landed, {c.get('loaded', 0)} loaded, "
            f"{c.get('quarantined', 0)} quarantined"
        )
    if "dbt" in counts:
        c = counts["dbt"]
        lines.append(
            f"  dbt         {c.get('models', 0)} models built, {c.get('tests_passed', 0)} of "
            f"{c.get('tests', 0)} tests passed"
        )
    if "quality" in counts:
        c = counts["quality"]
        lines.append(
            f"  quality     {c.get('passed', 0)} of {c.get('evaluated', 0)} expectations passed"
        )
    if "monitoring" in counts:
        lines.append(f"  monitoring  {counts['monitoring'].get('runs', 0)} runs in the ops tables")
    lines.append(f"  notebooks   {run.folder}")
    return "\n".join(lines)


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
    exercise = exercises.get(args.target)
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


def jupyter_command(port: int, extra: list[str] | None = None, root_dir=None) -> list[str]:
    """The JupyterLab command `make lab` runs: local only, opening on the welcome lesson."""
    import os

    from lab.config import get_settings

    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={root_dir or get_settings().root}",
        "--LabApp.default_url=/lab/tree/notebooks/00_welcome.ipynb",
        # nothing fetched from the internet (the news prompt itself: see jupyter_settings)
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:  # JupyterLab refuses root unless told; containers and CI often are
        command.append("--allow-root")
    return command + list(extra or [])


def jupyter_settings() -> dict[str, str]:
    """JupyterLab's user settings in the sandbox state: no prompt to fetch news from the internet."""
    import json

    from lab.config import get_settings

    folder = get_settings().home / "jupyterlab" / "user-settings"
    notification = (
        folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    if not notification.exists():  # the learner's own choices, once made, are kept
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return {
        "JUPYTERLAB_SETTINGS_DIR": str(folder),
        "JUPYTERLAB_WORKSPACES_DIR": str(folder.parent / "workspaces"),
    }


def _cmd_jupyter(args) -> int:
    import os

    from lab import sandbox

    sandbox.prepare()
    os.environ.update(jupyter_settings())
    command = jupyter_command(args.port, args.extra)
    print("Starting JupyterLab: open the URL with the token printed below.", flush=True)
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return


def _cmd_notebooks(args) -> int:
    from lab import notebooks

    for path in notebooks.refresh(args.names or None):
        print(f"refreshed {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from lab.contract import DEFAULT_ROWS
    from lab.pipeline import DEFAULT_RUN_DATE

    parser = argparse.ArgumentParser(prog="lab", description="The Data Engineering Sandbox.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("setup", help="prepare the sandbox state (quick when it exists)")
    p.add_argument("--force", action="store_true", help="prepare again even if ready")
    p.add_argument("--history-days", type=int, default=7, help="days of order history to load")
    p.set_defaults(func=_cmd_setup)

    p = sub.add_parser("reset", help="delete the local state (asks first), or one lesson's work")
    p.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    p.add_argument(
        "--lesson", help="only back to the start of this lesson (1-5): its exercise and later ones"
    )
    p.set_defaults(func=_cmd_reset)

    p = sub.add_parser("doctor", help="check every part of the sandbox and say how to fix it")
    p.add_argument(
        "--stack",
        action="store_true",
        help="check this machine before `make up`: Docker, Compose, memory, disk, ports, .env",
    )
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("datagen", help="land a generated batch of orders (or write it to a file)")
    p.add_argument("--date", default=DEFAULT_RUN_DATE)
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    p.add_argument("--dirty", type=float, default=0.0, help="fraction of rows with defects")
    p.add_argument("--out", help="write CSV here instead of landing it in the lake")
    p.set_defaults(func=_cmd_datagen)

    p = sub.add_parser("pipeline", help="run notebooks 01-04 as production steps with papermill")
    p.add_argument("--date", default=DEFAULT_RUN_DATE, help="run date, YYYY-MM-DD")
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the day's batch")
    p.add_argument("--dirty", type=float, default=0.0, help="fraction of rows with defects")
    p.add_argument("--run-id", help="run id (default: date and time)")
    p.add_argument("--step", action="append", help="run only this step (repeatable)")
    p.set_defaults(func=_cmd_pipeline)

    p = sub.add_parser(
        "jupyter", help="prepare the sandbox and start JupyterLab (what `make lab` runs)"
    )
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("extra", nargs="*", help="more JupyterLab options, e.g. --no-browser")
    p.set_defaults(func=_cmd_jupyter)

    p = sub.add_parser(
        "grade", help="check an exercise (1-5), or grade a folder of learners' notebooks"
    )
    p.add_argument(
        "target", help="an exercise number (1 or 01), or a folder with one notebook a learner"
    )
    p.add_argument("--lesson", help="with a folder: which exercise (default: from file names)")
    p.add_argument("--csv", help="with a folder: where to write the table (default: in it)")
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("progress", help="your exercises: lessons x tasks, done or not")
    p.set_defaults(func=_cmd_progress)

    p = sub.add_parser("solve", help="load a lesson's exercise solution into the sandbox")
    p.add_argument("--lesson", required=True, help="the lesson (1-5)")
    p.set_defaults(func=_cmd_solve)

    p = sub.add_parser("notebooks", help="re-execute the lesson notebooks and save their outputs")
    p.add_argument("names", nargs="*", help="notebook file names (default: all)")
    p.set_defaults(func=_cmd_notebooks)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "jupyter":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "jupyter":  # everything lab does not know goes to JupyterLab
        args.extra = [*args.extra, *unknown]
    try:
        return args.func(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
