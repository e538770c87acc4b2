"""Paths in output are relative to the project root (or `~`) when they are inside it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nbformat
import pytest

from lab import exercises, pipeline
from lab.cli.data import summary_text
from lab.config import get_settings, shown_path
from lab.errors import NotebookStepError


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project root of its own, with the runs folder inside it as in a checkout."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.setenv("LAB_ROOT", str(root))
    monkeypatch.setenv("LAB_RUNS_DIR", str(root / "runs"))
    return root


def test_shown_path_is_relative_inside_the_root_then_under_home_then_absolute(tmp_path):
    root = tmp_path / "project"
    assert shown_path(root / "runs" / "r1", root) == "runs/r1"
    assert shown_path(Path.home() / "data" / "x.csv", root) == "~/data/x.csv"
    assert shown_path("relative/x.csv", root) == "relative/x.csv"
    outside = Path("/srv/elsewhere/x.csv")
    assert shown_path(outside, root) == "/srv/elsewhere/x.csv"


def test_write_file_prints_the_path_from_the_project_root_and_returns_nothing(project, capsys):
    target = "dbt/models/marts/exercises/customer_returns.sql"
    assert exercises.write_file(target, "select 1 as one\n") is None
    assert exercises.write_file(project / "exercises/work/rules.yml", "groups: []") is None
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"wrote {target} (1 lines)",
        "wrote exercises/work/rules.yml (1 lines)",
    ], out
    assert (project / target).read_text() == "select 1 as one\n"


def test_the_pipeline_summary_names_the_runs_folder_from_the_project_root(project):
    folder = get_settings().runs_dir / "2026-11-01_x"
    run = pipeline.PipelineRun("2026-11-01_x", dt.date(2026, 11, 1), folder)
    text = summary_text(run, 1.0)
    assert text.splitlines()[-1] == "  notebooks   runs/2026-11-01_x", text
    assert str(project) not in text, text


@pytest.mark.slow
def test_a_failed_step_names_its_saved_notebook_from_the_project_root(project):
    notebook = project / "notebooks" / "fails.ipynb"
    notebook.parent.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('no')")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, notebook)
    output = project / "runs" / "r1" / "fails.ipynb"
    with pytest.raises(NotebookStepError) as info:
        pipeline.run_notebook(notebook, output)
    message = str(info.value)
    assert message.endswith(
        "The executed notebook with the traceback is saved at runs/r1/fails.ipynb."
    ), message
    assert output.exists(), f"expected the executed notebook at {output}"


def test_one_notebook_runner_takes_parameters_goes_on_past_errors_and_times_cells(tmp_path):
    """lab.pipeline.run_notebook is how lab executes every notebook (pipeline steps, DAG tasks,
    grading, `lab notebooks`, `lab solve`); the differences are its parameters."""
    import nbformat

    from lab import pipeline

    cells = [
        nbformat.v4.new_code_cell("n = 1"),
        nbformat.v4.new_code_cell("assert n == 2, n"),
        nbformat.v4.new_code_cell("done = True"),
    ]
    cells[0].metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook = tmp_path / "steps.ipynb"
    nbformat.write(nb, notebook)
    seconds: dict[int, float] = {}
    ran = pipeline.run_notebook(notebook, parameters={"n": 2, "unknown": 1}, seconds=seconds)
    assert not pipeline.has_errors(ran) and sorted(seconds) == [0, 1, 2, 3], seconds
    assert "unknown" not in ran.cells[1].source, "only the parameters the notebook declares"
    assert all("execution" not in c.metadata for c in ran.cells), "no clock times saved"
    graded = pipeline.run_notebook(notebook, tmp_path / "graded.ipynb", allow_errors=True)
    assert pipeline.has_errors(graded) and graded.cells[2].outputs == [], "ran past the error"
    assert "done" in nbformat.read(tmp_path / "graded.ipynb", as_version=4).cells[2].source
