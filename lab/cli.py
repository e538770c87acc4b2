"""The `lab` command: setup, pipeline, doctor (--stack), datagen, reset, grade, progress, solve.

Errors the learner can fix are printed as one sentence (no traceback) with exit code 1;
exit code 2 is for usage errors (argparse's own).
"""

from __future__ import annotations

import argparse
import json
import os
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


def _cmd_datagen(args) -> int:
    from lab import datagen, ingest

    knobs = {"rows": args.rows, "dirty": args.dirty, "updates": args.updates, "seed": args.seed}
    if args.out:
        rows = datagen.write_orders(args.out, args.date, **knobs)
        print(f"Wrote {rows} rows to {args.out}")
        return 0
    path = ingest.land_batch(args.date, **knobs)
    print(f"Landed {args.rows} rows for {args.date} at {path}")
    return 0


def _cmd_ingest(args) -> int:
    from lab import ingest_files as ingest

    results = ingest.ingest_path(
        args.path, args.date, allow_empty=args.allow_empty, progress=sys.stderr.isatty()
    )
    if not results:
        print(f"error: {args.path} holds no files to ingest.", file=sys.stderr)
        return 1
    for result in results:
        if args.json:
            print(json.dumps(result.as_dict()))
        else:
            mark = "REFUSED" if result.status == "refused" else result.status
            print(f"{mark:<9} {result.file}: {result.message or result}")
    return 1 if any(r.status == "refused" for r in results) else 0


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
        source_file=args.file,
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


def jupyter_command(port: int, extra: list[str] | None = None, root_dir=None) -> list[str]:
    """The JupyterLab command `make lab` runs: local only, opening on the welcome lesson.

    It logs warnings and errors only; `lab jupyter` prints the one line a learner needs (the URL).
    """
    import os

    from lab.config import get_settings

    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",  # a busy port is an error, never a silent move to the next
        f"--ServerApp.root_dir={root_dir or get_settings().root}",
        "--LabApp.default_url=/lab/tree/notebooks/00_welcome.ipynb",
        # nothing fetched from the internet (the news prompt itself: see jupyter_settings)
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.log_level=WARN",
        "--LabApp.log_level=WARN",
    ]
    if not _has_browser():  # a server or container: no "No web browser found" warning
        command.append("--ServerApp.open_browser=False")
    if os.geteuid() == 0:  # JupyterLab refuses root unless told; containers and CI often are
        command.append("--allow-root")
    return command + list(extra or [])


def _has_browser() -> bool:
    import webbrowser

    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


# The kernel JupyterLab starts: it logs errors only (ipykernel warns about plain TCP on every
# start, though the ports listen on 127.0.0.1 alone), and multiprocessing's resource tracker does
# not report the semaphores dbt's thread pools leave when a kernel is shut down.
KERNEL_LOG_LEVEL = "ERROR"
KERNEL_WARNINGS = "ignore::UserWarning:multiprocessing.resource_tracker"


def jupyter_settings() -> dict[str, str]:
    """JupyterLab's settings in the sandbox state: no news prompt, and a quiet python3 kernel."""
    import json

    from lab.config import get_settings

    home = get_settings().home
    folder = home / "jupyterlab" / "user-settings"
    notification = (
        folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    if not notification.exists():  # the learner's own choices, once made, are kept
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    data = home / "jupyter"
    kernel = data / "kernels" / "python3" / "kernel.json"
    kernel.parent.mkdir(parents=True, exist_ok=True)
    kernel.write_text(json.dumps(kernel_spec(), indent=1))
    jupyter_path = os.environ.get("JUPYTER_PATH", "")
    return {
        "JUPYTERLAB_SETTINGS_DIR": str(folder),
        "JUPYTERLAB_WORKSPACES_DIR": str(folder.parent / "workspaces"),
        # first on the path: this python3 kernel wins over the environment's own
        "JUPYTER_PATH": os.pathsep.join(p for p in (str(data), jupyter_path) if p),
    }


def kernel_spec() -> dict:
    """The python3 kernel of this environment, quiet about what is not the learner's concern."""
    return {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            f"--IPKernelApp.log_level={KERNEL_LOG_LEVEL}",
        ],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "env": {"PYTHONWARNINGS": KERNEL_WARNINGS},
        "metadata": {"debugger": True},
    }


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (what JupyterLab is about to bind)."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _token(extra: list[str]) -> tuple[str, list[str]]:
    """The token the learner gave (`--ServerApp.token=...`), or a new one passed to JupyterLab."""
    import secrets

    for option in extra:
        for name in ("--ServerApp.token=", "--IdentityProvider.token="):
            if option.startswith(name):
                return option.removeprefix(name), []
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    return token, [f"--IdentityProvider.token={token}"]


def _prepare_in_a_child() -> None:
    """`lab setup` in a process of its own, printing one line; its own words when it fails.

    A child, because the JupyterLab started next replaces this process (execve) without the
    interpreter's exit: the locks dbt creates would be reported as leaked semaphores.
    """
    import subprocess

    t0 = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "lab.cli", "setup"], capture_output=True, text=True
    )
    if result.returncode:
        print("failed:", flush=True)
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(result.returncode)
    print(f"done in {time.perf_counter() - t0:.0f} s.", flush=True)


def _cmd_jupyter(args) -> int:
    from lab import sandbox
    from lab.errors import ConfigError

    if not port_is_free(args.port):
        raise ConfigError(
            f"Port {args.port} on 127.0.0.1 is in use, probably by another JupyterLab. "
            f"Fix: make lab PORT={args.port + 1} (or `lab jupyter --port {args.port + 1}`), "
            "or stop the program that holds it."
        )
    print("Preparing the sandbox ...", end=" ", flush=True)
    if sandbox.is_prepared():
        print("ready.", flush=True)
    else:
        _prepare_in_a_child()
    env = {**os.environ, **jupyter_settings()}  # for JupyterLab only: this process is replaced
    token, token_option = _token(args.extra)
    command = jupyter_command(args.port, [*token_option, *args.extra])
    print(
        f"Starting JupyterLab at http://127.0.0.1:{args.port}/lab?token={token} "
        "(open it in your browser; Ctrl-C stops it)",
        flush=True,
    )
    os.execve(command[0], command, env)
    return 0  # pragma: no cover - execve does not return


def _cmd_notebooks(args) -> int:
    from lab import notebooks

    for path in notebooks.refresh(args.names or None):
        print(f"refreshed {path}")
    return 0


def _iso_date(text: str) -> str:
    from lab.contract import as_date

    try:
        return as_date(text).isoformat()
    except LabError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_id(text: str) -> str:
    from lab.pipeline import safe_run_id

    if "/" in text or "\\" in text or len(text) > 100:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a run id. Fix: use letters, digits, '.', '_' and '-' (at most 100 "
            "characters, no '/'), e.g. 2026-11-05_backfill."
        )
    try:
        safe_run_id(text)
    except LabError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _existing_file(text: str) -> str:
    from pathlib import Path

    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text} is not a file. Fix: give the path of a CSV file.")
    return text


def _cmd_airflow(args) -> int:
    from lab import airflow_local

    if args.airflow_command == "start":
        return airflow_local.standalone(port=args.port)
    return airflow_local.run_cli(args.args)


def build_parser() -> argparse.ArgumentParser:
    # Defaults from the light constant modules only: `lab --help` must not import pandas & co.
    from lab.config import HISTORY_DAYS, JUPYTER_PORT, PIPELINE_NOTEBOOKS
    from lab.contract import DEFAULT_ROWS, DEFAULT_RUN_DATE, MAX_ROWS

    parser = argparse.ArgumentParser(prog="lab", description="The Data Engineering Sandbox.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("setup", help="prepare the sandbox state (quick when it exists)")
    p.add_argument("--force", action="store_true", help="prepare again even if ready")
    p.add_argument(
        "--history-days",
        type=int,
        default=HISTORY_DAYS,
        help=f"days of order history to load (default {HISTORY_DAYS})",
    )
    p.set_defaults(func=_cmd_setup)

    p = sub.add_parser("reset", help="delete the local state (asks first), or one lesson's work")
    p.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    p.add_argument(
        "--lesson",
        help="back to the start of this lesson (1-5): undo it, later lessons and their exercises",
    )
    p.set_defaults(func=_cmd_reset)

    p = sub.add_parser("doctor", help="check every part of the sandbox and say how to fix it")
    p.add_argument(
        "--stack",
        action="store_true",
        help="check this machine before `make up`: Docker, Compose, memory, disk, ports, .env",
    )
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser(
        "datagen",
        help="land a generated batch of orders (or write it to a file), any size",
        description="Generate one day's orders deterministically: the same arguments always "
        "give the same bytes. Order ids are day * 1e9 + n, so days never collide.",
    )
    p.add_argument("--date", default=DEFAULT_RUN_DATE, help="batch date, YYYY-MM-DD")
    p.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_ROWS,
        help=f"rows in the batch (default {DEFAULT_ROWS}, at most {MAX_ROWS:_}; streamed in chunks)",
    )
    p.add_argument(
        "--dirty",
        type=float,
        default=0.0,
        help="fraction of rows with a defect, 0.0-1.0 (see lab.datagen.DEFECTS)",
    )
    p.add_argument(
        "--updates",
        type=float,
        default=0.0,
        help="fraction of rows that are status updates of orders from the previous 1-7 days, "
        "0.0-0.5 (same id, customer, date and amount; a later status)",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument(
        "--out", help="write the CSV to this file instead of landing it in the lake's raw zone"
    )
    p.set_defaults(func=_cmd_datagen)

    p = sub.add_parser("pipeline", help="run notebooks 01-04 as production steps with papermill")
    p.add_argument("--date", type=_iso_date, default=DEFAULT_RUN_DATE, help="run date, YYYY-MM-DD")
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the day's batch")
    p.add_argument("--dirty", type=float, default=0.0, help="fraction of rows with defects")
    p.add_argument("--run-id", type=_run_id, help="run id (default: date and time)")
    p.add_argument(
        "--step",
        action="append",
        choices=[step for step, _ in PIPELINE_NOTEBOOKS],
        help="run only this step (repeatable)",
    )
    p.add_argument(
        "--file",
        type=_existing_file,
        help="ingest this delivered CSV file instead of generating the day's batch",
    )
    p.set_defaults(func=_cmd_pipeline)

    p = sub.add_parser(
        "ingest",
        help="load your own CSV file(s): land, validate, load, quarantine, reconcile",
        description="Load a delivered orders CSV file, or every file in a folder. The date comes "
        "from --date, else a date=YYYY-MM-DD folder, else an ISO date in the file name. Exit "
        "code 0: all loaded; 1: a file was refused (the others still load); 2: usage.",
    )
    p.add_argument("path", help="a CSV file, or a folder of them")
    p.add_argument("--date", type=_iso_date, help="the date the file delivers, YYYY-MM-DD")
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="let a file with no data rows empty a date that has rows",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser(
        "jupyter", help="prepare the sandbox and start JupyterLab (what `make lab` runs)"
    )
    p.add_argument("--port", type=int, default=JUPYTER_PORT, help=f"default {JUPYTER_PORT}")
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

    p = sub.add_parser(
        "airflow",
        help="Airflow on this machine (what `make airflow` runs), or its command line",
        description="`lab airflow start`: Airflow's components on 127.0.0.1 with the login "
        "admin / admin; Ctrl-C stops them. `lab airflow cli ARGS`: the airflow command with "
        "the same settings, e.g. `lab airflow cli dags test notebook_pipeline 2026-11-05`.",
    )
    p.set_defaults(func=_cmd_airflow)
    airflow = p.add_subparsers(dest="airflow_command", required=True)
    start = airflow.add_parser("start", help="start Airflow (make airflow)")
    start.add_argument("--port", type=int, default=None, help="default: AIRFLOW_PORT, else 8080")
    cli = airflow.add_parser(
        "cli", help="the airflow command line of `make airflow`", add_help=False
    )
    cli.add_argument("args", nargs=argparse.REMAINDER, help="arguments of `airflow`")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "airflow" and args.airflow_command == "cli":
        # everything after `cli` goes to airflow as written (its own --help too)
        args.args, unknown = argv[argv.index("cli") + 1 :], []
    if unknown and args.command != "jupyter":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "jupyter":  # everything lab does not know goes to JupyterLab
        args.extra = [*args.extra, *unknown]
    try:
        return args.func(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
