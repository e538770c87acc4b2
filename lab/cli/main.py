"""The `lab` command: setup, pipeline, doctor (--stack), datagen, ingest, reset, grade, progress,
solve, dbt, jupyter, notebooks, airflow.

This module holds the parser and the dispatch; the commands' handlers are in `lab.cli.data`,
`lab.cli.learn` and `lab.cli.tools`, and import what they need only when they run.

Errors the learner can fix are printed as one sentence (no traceback) with exit code 1;
exit code 2 is for usage errors (argparse's own).
"""

from __future__ import annotations

import argparse
import sys

from lab.cli.data import cmd_datagen, cmd_ingest, cmd_pipeline
from lab.cli.learn import (
    cmd_doctor,
    cmd_grade,
    cmd_progress,
    cmd_reset,
    cmd_setup,
    cmd_solve,
    lesson_argument,
)
from lab.cli.tools import cmd_airflow, cmd_dbt, cmd_jupyter, cmd_notebooks
from lab.errors import LabError


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


def build_parser() -> argparse.ArgumentParser:
    # Defaults from the light constant modules only: `lab --help` must not import pandas & co.
    from lab.config import HISTORY_DAYS, JUPYTER_PORT
    from lab.contract import (
        DEFAULT_ROWS,
        DEFAULT_RUN_DATE,
        MAX_ROWS,
        MAX_UPDATES,
        UPDATE_MAX_DAYS_BACK,
    )
    from lab.steps import STEPS

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
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("reset", help="delete the local state (asks first), or one lesson's work")
    p.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    p.add_argument(
        "--lesson",
        type=lesson_argument,
        help="back to the start of this lesson (1 or 01): undo it, later lessons and their exercises",
    )
    p.set_defaults(func=cmd_reset)

    p = sub.add_parser("doctor", help="check every part of the sandbox and say how to fix it")
    p.add_argument(
        "--stack",
        action="store_true",
        help="check this machine before `make up`: Docker, Compose, memory, disk, ports, .env",
    )
    p.set_defaults(func=cmd_doctor)

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
        help="fraction of rows that are status updates of earlier orders, "
        f"0.0-{MAX_UPDATES} (same id, customer, date and amount; a later status)",
    )
    p.add_argument(
        "--reach",
        type=int,
        default=UPDATE_MAX_DAYS_BACK,
        help="how many days back an update may refer, "
        f"1-{UPDATE_MAX_DAYS_BACK} (default {UPDATE_MAX_DAYS_BACK})",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument(
        "--out", help="write the CSV to this file instead of landing it in the lake's raw zone"
    )
    p.set_defaults(func=cmd_datagen)

    p = sub.add_parser("pipeline", help="run notebooks 01-04 as production steps with papermill")
    p.add_argument("--date", type=_iso_date, default=DEFAULT_RUN_DATE, help="run date, YYYY-MM-DD")
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the day's batch")
    p.add_argument("--dirty", type=float, default=0.0, help="fraction of rows with defects")
    p.add_argument("--run-id", type=_run_id, help="run id (default: date and time)")
    p.add_argument(
        "--step",
        action="append",
        choices=[step.name for step in STEPS],
        help="run only this step (repeatable)",
    )
    p.add_argument(
        "--file",
        type=_existing_file,
        help="ingest this delivered CSV file instead of generating the day's batch",
    )
    p.set_defaults(func=cmd_pipeline)

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
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "jupyter", help="prepare the sandbox and start JupyterLab (what `make lab` runs)"
    )
    p.add_argument("--port", type=int, default=JUPYTER_PORT, help=f"default {JUPYTER_PORT}")
    p.add_argument("extra", nargs="*", help="more JupyterLab options, e.g. --no-browser")
    p.set_defaults(func=cmd_jupyter)

    p = sub.add_parser(
        "grade", help="check an exercise (1 or 01), or grade a folder of learners' notebooks"
    )
    p.add_argument(
        "target", help="an exercise number (1 or 01), or a folder with one notebook a learner"
    )
    p.add_argument(
        "--lesson",
        type=lesson_argument,
        help="with a folder: which exercise (default: from file names)",
    )
    p.add_argument("--csv", help="with a folder: where to write the table (default: in it)")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("progress", help="your exercises: lessons x tasks, done or not")
    p.set_defaults(func=cmd_progress)

    p = sub.add_parser("solve", help="load a lesson's exercise solution into the sandbox")
    p.add_argument("--lesson", required=True, type=lesson_argument, help="the lesson (1 or 01)")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("notebooks", help="re-execute the lesson notebooks and save their outputs")
    p.add_argument("names", nargs="*", help="notebook file names (default: all)")
    p.set_defaults(func=cmd_notebooks)

    p = sub.add_parser(
        "dbt",
        help="dbt's command line on the sandbox's warehouse: lab dbt build --select staging",
        description="Everything after `dbt` goes to dbt, with the active profile's warehouse, "
        "--project-dir and --profiles-dir set to dbt/; the exit code is dbt's.",
        add_help=False,
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments of `dbt`")
    p.set_defaults(func=cmd_dbt)

    p = sub.add_parser(
        "airflow",
        help="Airflow on this machine (what `make airflow` runs), or its command line",
        description="`lab airflow start`: Airflow's components on 127.0.0.1 with the login "
        "admin / admin; Ctrl-C stops them. `lab airflow cli ARGS`: the airflow command with "
        "the same settings, e.g. `lab airflow cli dags test notebook_pipeline 2026-11-05`.",
    )
    p.set_defaults(func=cmd_airflow)
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
    if args.command == "dbt":  # everything after `dbt` goes to dbt as written (its --help too)
        args.args, unknown = argv[argv.index("dbt") + 1 :], []
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
