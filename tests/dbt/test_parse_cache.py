"""Why the tests' sandbox copies land where the last copy was (tests/helpers.py's
`copy_in_place`): dbt keeps its parse of the project for a copy in the same folder and parses
everything again for a copy in a new one (its cache is keyed on the DuckDB file's path). The
module-scoped prepared copies (tests/conftest.py's `prepared_state`) land in place too."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import transform
from tests.conftest import PreparedTemplates
from tests.helpers import DBT_PARSE_CACHE, copy_in_place

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


@pytest.mark.slow
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


def test_an_in_place_prepared_copy_is_fresh_where_the_last_was_and_keeps_dbts_parse(
    tmp_path_factory,
):
    templates, builds = PreparedTemplates(tmp_path_factory), []

    def build(folder: Path) -> None:
        builds.append(folder)
        (folder / "home").mkdir()
        (folder / "home" / "warehouse.duckdb").write_text("prepared")

    first = templates.copy(("lab", 9), build, "prepared", in_place="module")
    (first / CACHE).parent.mkdir(parents=True)
    (first / CACHE).write_text("parsed here")
    (first / "home" / "warehouse.duckdb").write_text("changed by a module")
    (first / "left-behind").write_text("x")

    second = templates.copy(("lab", 9), build, "prepared", in_place="module")
    assert second == first and len(builds) == 1, (first, second, builds)
    assert (second / CACHE).read_text() == "parsed here", "dbt's parse must stay"
    assert (second / "home" / "warehouse.duckdb").read_text() == "prepared"
    assert not (second / "left-behind").exists() and not (second / ".built").exists()
    elsewhere = templates.copy(("lab", 9), build, "prepared")
    assert elsewhere != first and not (elsewhere / CACHE).exists(), elsewhere
