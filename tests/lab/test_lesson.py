"""lab.lesson: the helpers that make the lessons read well show no machine paths."""

import json

import nbformat
import pytest

from lab import lesson
from lab.config import get_settings
from lab.observe import monitoring
from lab.sandbox import notebooks

PREPARED_HISTORY_DAYS = 0


def test_health_shows_no_absolute_path_of_this_machine(prepared_sandbox):
    settings = get_settings()
    table = lesson.health()
    details = " ".join(table["detail"])
    for folder in (settings.home, settings.gx_root, settings.root):
        assert str(folder) not in details, f"expected no {folder} in the health table:\n{table}"
    assert "$LAB_HOME/lake" in details, f"expected the lake as $LAB_HOME/lake, got:\n{table}"
    assert table["ok"].all(), f"expected a healthy prepared sandbox:\n{table}"


def test_portable_names_folders_inside_the_project_relative_to_it(monkeypatch):
    root = get_settings().root
    monkeypatch.setenv("LAB_HOME", str(root / ".state"))
    text = lesson.portable(f"DuckDB file {root / '.state' / 'warehouse.duckdb'} in {root}")
    assert text == "DuckDB file .state/warehouse.duckdb in .", text


def test_show_json_prints_a_gx_suite_without_ids_and_with_its_project_path(capsys):
    path = get_settings().gx_root / "gx" / "expectations" / "orders.json"
    lesson.show_json(path, drop=("id", "meta", "severity"))
    out = capsys.readouterr().out
    header, body = out.split("\n", 1)
    assert header == "# great_expectations/gx/expectations/orders.json", header
    shown = json.loads(body)
    stored = json.loads(path.read_text())
    assert len(shown["expectations"]) == len(stored["expectations"]), body
    assert '"id"' not in body and "/tmp/" not in out, body


def test_ask_the_stack_on_local_lists_every_query_it_would_ask(capsys):
    assert lesson.ask_the_stack() is None
    out = capsys.readouterr().out
    assert out.startswith("Profile local: there is no Prometheus or Loki to ask."), out
    for query in (
        monitoring.STEP_DURATION,
        monitoring.GATE_SUCCESS,
        monitoring.SINCE_LAST_SUCCESS,
        monitoring.PIPELINE_LOGS,
        monitoring.LOG_LINES_PER_SERVICE,
    ):
        assert query in out, f"expected the query {query!r} in:\n{out}"


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(s) if kind == "md" else nbformat.v4.new_code_cell(s)
        for kind, s in cells
    ]
    return nb


@pytest.mark.parametrize(
    ("markdown", "unannounced"),
    [
        ("Now run the whole pipeline:", 1),
        ("Now run the whole pipeline (this takes about 20 seconds):", 0),
        ("This takes about a minute.", 0),
    ],
)
def test_a_slow_cell_must_be_announced_in_the_markdown_before_it(markdown, unannounced):
    nb = _nb(("md", markdown), ("code", "run_pipeline()"), ("md", "Done."), ("code", "x"))
    found = notebooks.unannounced_slow_cells(nb, {1: 14.2, 3: 0.1})
    assert len(found) == unannounced, f"markdown {markdown!r}: got {found}"
    if found:
        assert found[0] == "cell 1 `run_pipeline()` (14 s)", found


def test_a_pipeline_run_inside_jupyterlab_gets_a_kernel_that_starts(lab_env, monkeypatch, tmp_path):
    """Inside JupyterLab (or the grader) the sandbox's quiet kernel spec is first on
    JUPYTER_PATH; the pipeline's own quietening argument must then not be added again
    (ipykernel dies on a log level given twice: lesson 05's pipeline cell did). A request sent
    as soon as the kernel is up gets its reply: before `shared_kernel` waited for the kernel
    to be ready, 3 of 8 such requests here lost it and waited out their timeout."""
    from lab import pipeline
    from lab.cli.tools import jupyter_settings

    monkeypatch.setenv("JUPYTER_PATH", jupyter_settings()["JUPYTER_PATH"])
    assert pipeline.kernel_args() == [], pipeline.kernel_args()
    for attempt in range(8):  # ~0.5 s each
        with pipeline.shared_kernel(tmp_path) as kernel:
            try:
                reply = kernel.client.execute_interactive(
                    "6 * 7", timeout=20, output_hook=lambda _: None
                )
            except TimeoutError:
                pytest.fail(f"start {attempt + 1}: the kernel's reply to a first request was lost")
        assert reply["content"]["status"] == "ok", reply["content"]
