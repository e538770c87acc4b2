"""Why the tests' sandbox copies land where the last copy was (tests/helpers.py's
`copy_in_place`): dbt keeps its parse of the project for a copy in the same folder and parses
everything again for a copy in a new one (its cache is keyed on the DuckDB file's path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import transform
from tests.helpers import DBT_PARSE_CACHE, copy_in_place

pytestmark = pytest.mark.slow
CACHE = Path("home") / DBT_PARSE_CACHE
REPARSE = "Unable to do partial parsing because profile has changed"


def parse_log(base: Path, monkeypatch, capfd) -> str:
    """dbt's own account of `dbt parse` on the sandbox copied to `base`."""
    monkeypatch.setenv("LAB_HOME", str(base / "home"))
    monkeypatch.setenv("LAB_RUNS_DIR", str(base / "runs"))
    monkeypatch.setenv("LAB_GX_ROOT", str(base / "great_expectations"))
    capfd.readouterr()
    assert transform.command_line(["parse", "--log-level", "debug"]) == 0
    return capfd.readouterr().out


def test_a_copy_where_the_last_one_was_keeps_dbts_parse_and_one_elsewhere_does_not(
    prepared_state, tmp_path, monkeypatch, capfd
):
    assert (prepared_state.base / CACHE).is_file(), "the prepared sandbox has dbt's parse cache"
    # The first copy is elsewhere: the template was parsed in its own folder.
    copy = tmp_path / "copy"
    moved = parse_log(copy_in_place(prepared_state.base, copy, CACHE), monkeypatch, capfd)
    assert REPARSE in moved, moved[-3000:]

    again = parse_log(copy_in_place(prepared_state.base, copy, CACHE), monkeypatch, capfd)
    assert REPARSE not in again and "Partial parsing enabled" in again, again[-3000:]
