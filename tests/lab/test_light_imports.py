"""What importing `lab` costs: never airflow, and the `lab` command's parser none of the data stack.

Each check runs in a fresh interpreter, so what earlier tests imported does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys

# What `lab --help` must not wait for (pandas alone is ~0.3 s; GX ~4 s).
HEAVY = ("pandas", "numpy", "duckdb", "pyarrow", "great_expectations", "dbt", "papermill", "s3fs")


def imported_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running `code` in a new interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_the_lab_command_and_its_parser_import_none_of_the_data_stack():
    loaded = imported_after("import lab.cli\nlab.cli.build_parser()")
    pulled = sorted(loaded & set(HEAVY))
    assert not pulled, (
        f"`lab --help` imports {pulled}. Fix: import them inside the command handlers, and "
        "take defaults from lab.config or lab.contract (light modules)."
    )


def test_no_lab_module_imports_airflow_when_imported():
    loaded = imported_after(
        "import importlib, pkgutil, lab\n"
        "for m in pkgutil.walk_packages(lab.__path__, 'lab.'):\n"
        "    importlib.import_module(m.name)"
    )
    assert "airflow" not in loaded, (
        "a lab module imports airflow at import time; lab is used without Airflow (notebooks, "
        "tests, the CLI). Fix: import airflow inside the function that needs it, or in dags/."
    )


def test_lab_setup_loads_as_many_days_of_history_as_the_sandbox_does_by_default():
    import inspect

    from lab import sandbox
    from lab.cli import build_parser

    cli_default = build_parser().parse_args(["setup"]).history_days
    prepare_default = inspect.signature(sandbox.prepare).parameters["history_days"].default
    assert cli_default == prepare_default, (
        f"`lab setup` loads {cli_default} days, sandbox.prepare() {prepare_default}; "
        "Fix: both take lab.config.HISTORY_DAYS"
    )


def test_jsonschema_loads_no_iri_grammar():
    """Airflow, dbt, nbformat, Great Expectations and Jupyter Server all import jsonschema; with
    rfc3987-syntax installed, that import alone builds its Lark grammars (0.9 s of CPU)."""
    loaded = imported_after("import jsonschema")
    assert "rfc3987_syntax" not in loaded, (
        "rfc3987-syntax is installed: every airflow, dbt and notebook process spends 0.9 s "
        "building its grammars. Fix: keep pyproject.toml's [tool.uv] override-dependencies "
        "entry for it and run `make env`."
    )


def test_papermill_and_great_expectations_load_no_cloud_clients():
    """papermill[all] (asked for by Airflow's papermill provider) brings Azure, Google Cloud
    Storage and GitHub clients and black; installed, papermill and GX import them all."""
    loaded = imported_after(
        "import papermill.iorw, papermill.translators, great_expectations\n"
        "papermill.translators.PythonTranslator.codify({'run_date': '2026-11-04'})"
    )
    pulled = sorted(loaded & {"azure", "gcsfs", "github", "black"})
    assert not pulled, (
        f"importing papermill and Great Expectations loads {pulled}: ~1.5 s of CPU in every "
        "notebook task and check, for notebooks kept in clouds this sandbox never uses. Fix: keep "
        "pyproject.toml's [tool.uv] override-dependencies entries for them and run `make env`."
    )
