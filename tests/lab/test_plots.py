"""Every plot of the monitoring lesson draws the sandbox's run metrics, not an empty frame."""

import json
import math

import pandas as pd
import pytest

from lab.observe import metrics, plots
from lab.quality.suites import SUITES

PREPARED_HISTORY_DAYS = 3
PLOTS = [plots.step_durations, plots.rows_per_run, plots.quality_over_runs]


def _drawn_values(ax) -> list[float]:
    """The numbers an Axes draws: bar heights, line points, scatter offsets."""
    values = [patch.get_height() for patch in ax.patches]
    for line in ax.lines:
        values.extend(line.get_ydata())
    for collection in ax.collections:
        values.extend(v for point in collection.get_offsets() for v in point)
    return [float(v) for v in values]


@pytest.mark.parametrize("plot", PLOTS, ids=lambda f: f.__name__)
def test_every_plot_draws_finite_values_from_a_prepared_sandbox(prepared_sandbox, plot):
    runs = metrics.step_runs()
    fig = plot(runs)
    ax = fig.axes[0]
    values = _drawn_values(ax)
    finite = [v for v in values if math.isfinite(v)]
    assert values, f"{plot.__name__} drew nothing: no bars, lines or points"
    assert len(finite) == len(values), (
        f"{plot.__name__}: expected only finite values, got {len(values) - len(finite)} NaN of "
        f"{len(values)}: {values}"
    )
    assert any(v > 0 for v in finite), f"{plot.__name__}: every drawn value is 0: {values}"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert all(label and not label.startswith("history_") for label in labels), (
        f"{plot.__name__}: expected run labels without the 'history_' prefix, got {labels}"
    )


def test_quality_plot_stacks_passed_and_failed_expectations_per_gate(prepared_sandbox):
    runs = metrics.step_runs()
    gates = runs[runs["step"] == "quality"]
    ax = plots.quality_over_runs(runs).axes[0]
    heights = [p.get_height() for p in ax.patches]
    counts = [json.loads(text) for text in gates["counts"]]
    expected = sorted(float(c[kind]) for c in counts for kind in ("passed", "failed"))
    assert sorted(heights) == expected, f"expected bar heights {expected}, drew {heights}"


def test_every_gate_of_the_history_checks_every_suite_so_the_quality_chart_compares_like(
    prepared_sandbox,
):
    runs = metrics.step_runs()
    gates = runs[runs["step"] == "quality"]
    evaluated = {
        run_id: json.loads(text)["evaluated"]
        for run_id, text in zip(gates["run_id"], gates["counts"], strict=True)
    }
    expected = sum(len(expectations) for _, expectations in SUITES.values())
    assert len(evaluated) == PREPARED_HISTORY_DAYS and set(evaluated.values()) == {expected}, (
        f"expected each history gate to evaluate the {expected} expectations of the suites "
        f"{sorted(SUITES)}, as the pipeline's gate does; got {evaluated}"
    )


def test_quality_plot_title_says_when_gates_ran_different_checks():
    def runs(*counts):
        return pd.DataFrame(
            {
                "run_id": [f"history_2026-10-2{i}" for i in range(len(counts))],
                "step": "quality",
                "counts": [json.dumps({"passed": p, "failed": f}) for p, f in counts],
            }
        )

    same = plots.quality_over_runs(runs((12, 0), (11, 1))).axes[0].get_title(loc="left")
    mixed = plots.quality_over_runs(runs((7, 0), (12, 0))).axes[0].get_title(loc="left")
    assert same == "Quality gate: expectations per run (12 a gate)", same
    assert mixed.endswith("(gates of 7, 12 expectations: not the same checks)"), mixed
