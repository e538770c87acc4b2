"""Paths in output are relative to the project root (or `~`) when they are inside it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nbformat
import pytest

from lab import exercises, pipeline
from lab.cli_data import summary_text
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
        pipeline.execute_notebook(notebook, output, {}, notebook.parent)
    message = str(info.value)
    assert message.endswith(
        "The executed notebook with the traceback is saved at runs/r1/fails.ipynb."
    ), message
    assert output.exists(), f"expected the executed notebook at {output}"
