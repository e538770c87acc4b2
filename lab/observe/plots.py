"""The monitoring lesson's plots, drawn from `ops.step_runs`."""

from __future__ import annotations

import json

import pandas as pd

from lab.steps import STEPS

STEP_COLOURS = {step.name: step.colour for step in STEPS}


def _figure(title: str, width: float = 9, height: float = 3.6):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_title(title, loc="left", fontsize=12)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _done(fig):
    """Lay out and close the figure: the notebook shows the returned figure exactly once."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    plt.close(fig)
    return fig


def _label(run_id: str) -> str:
    return run_id.removeprefix("history_")


def step_durations(runs: pd.DataFrame):
    """Seconds per step for every run, stacked, so a slow step stands out."""
    table = runs.pivot_table(index="run_id", columns="step", values="duration_s", sort=False)
    fig, ax = _figure("Step durations per run (seconds)")
    table.index = table.index.map(_label)
    table.plot.bar(
        stacked=True,
        ax=ax,
        color=[STEP_COLOURS.get(c, "grey") for c in table.columns],
        rot=30,
        width=0.7,
    )
    ax.set_xlabel("")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _done(fig)


def rows_per_run(runs: pd.DataFrame):
    """Rows loaded and quarantined by each ingestion: a dirty day shows at once."""
    ingest = runs[runs["step"] == "ingestion"].set_index("run_id")
    table = (
        ingest[["rows_out", "rows_quarantined"]]
        .astype(float)
        .rename(columns={"rows_out": "loaded", "rows_quarantined": "quarantined"})
    )
    table.index = table.index.map(_label)
    fig, ax = _figure("Rows per ingestion")
    table.plot.bar(stacked=True, ax=ax, color=["#4C72B0", "#C44E52"], rot=30, width=0.7)
    ax.set_xlabel("")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _done(fig)


def quality_over_runs(runs: pd.DataFrame):
    """Expectations passed and failed by each quality gate; the title says how many a gate has."""
    gates = runs[runs["step"] == "quality"].set_index("run_id")
    counts = gates["counts"].map(lambda c: json.loads(c or "{}"))
    table = pd.DataFrame(
        {
            "passed": counts.map(lambda c: c.get("passed", 0)),
            "failed": counts.map(lambda c: c.get("failed", 0)),
        }
    )
    table.index = table.index.map(_label)  # relabel, not re-index: values keep their rows
    sizes = sorted(set(table["passed"] + table["failed"]))
    if len(sizes) > 1:  # gates that ran different suites: say so rather than compare them
        size = f"gates of {', '.join(map(str, sizes))} expectations: not the same checks"
    else:
        size = f"{sizes[0] if sizes else 0} a gate"
    fig, ax = _figure(f"Quality gate: expectations per run ({size})")
    table.plot.bar(stacked=True, ax=ax, color=["#55A868", "#C44E52"], rot=30, width=0.7)
    ax.set_xlabel("")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _done(fig)
