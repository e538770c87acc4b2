"""The `lab` command.

main         the parser and dispatch (`lab = lab.cli:main`)
data         datagen, ingest, pipeline
learn        setup, reset, doctor, grade, progress, solve
tools        jupyter, notebooks, dbt, airflow
doctor       checks before `make up`; compose_file and dotenv_file read the stack's files
"""

from lab.cli.main import (
    build_parser,
    main,
)

__all__ = [
    "build_parser",
    "main",
]
