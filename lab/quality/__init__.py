"""Data quality with Great Expectations 1.x.

gate           the GX project and the gate that runs the suites
sources        where GX reads a table: pandas frames on `local`, SQL on `stack`
suites         the expectation suites as code declares them
learner_suite  a learner's own expectations (exercise 03)
report         the gate's results, readable
"""

from lab.quality.gate import (
    build_data_docs,
    data_docs_path,
    ensure_project,
    frame_batch,
    get_context,
    run_gate,
    run_name,
    suites_table,
    validate_frame,
)
from lab.quality.learner_suite import (
    add_expectation,
    learner_expectations,
    remove_expectations,
)
from lab.quality.suites import SUITES

__all__ = [
    "SUITES",
    "add_expectation",
    "learner_expectations",
    "remove_expectations",
    "build_data_docs",
    "data_docs_path",
    "ensure_project",
    "frame_batch",
    "get_context",
    "run_gate",
    "run_name",
    "suites_table",
    "validate_frame",
]
