"""The sandbox's own state: prepared once, checked, reset, rewound to a lesson.

state          prepare, health, reset
solve          a lesson's solution state (`lab solve --lesson N`)
rewind         back to the start of a lesson (rewind_plan: what it finds; rewind_keep: the work it keeps)
notebooks      the lesson notebooks, re-executed on a fresh sandbox
"""

from lab.sandbox.state import (
    Check,
    health,
    is_prepared,
    learner_work,
    prepare,
    reset,
)

__all__ = [
    "Check",
    "health",
    "is_prepared",
    "learner_work",
    "prepare",
    "reset",
]
