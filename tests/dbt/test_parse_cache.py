"""Why the tests' sandbox copies land where the last copy was (tests/helpers.py's
`copy_in_place`): dbt keeps its parse of the project for a copy in the same folder and parses
everything again for a copy in a new one (its cache is keyed on the DuckDB file's path). The
module-scoped prepared copies (tests/conftest.py's `prepared_state`) land in place too."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import cli, transform
from lab.exercises.grading import scratch_root
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


@pytest.mark.slow
def test_a_reset_to_a_lesson_clears_dbts_target_but_keeps_its_parse(
    prepared_state, tmp_path, monkeypatch, capfd
):
    """`lab reset --lesson N` deletes what dbt built and recorded, not its parse cache: the
    rebuild's dbt calls then parse nothing again (a full parse was 3.2 of a reset's 28 CPU-s).
    dbt rewrites the cache only when it parsed something, so the file is still the one from
    before the reset."""
    copy = copy_in_place(prepared_state.base, tmp_path / "copy", CACHE)
    monkeypatch.setenv("LAB_ROOT", str(scratch_root(tmp_path / "scratch")))
    parse_log(copy, monkeypatch, capfd)  # dbt's parse, made where the reset runs
    target = (copy / CACHE).parent
    (target / "run" / "left_by_a_build.sql").parent.mkdir(exist_ok=True)
    (target / "run" / "left_by_a_build.sql").write_text("select 1")  # dbt never rewrites it
    before = (copy / CACHE).stat()

    assert cli.main(["reset", "--lesson", "2", "--yes"]) == 0
    after = (copy / CACHE).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), (
        "the reset parsed the dbt project again: its parse cache was deleted or rewritten"
    )
    assert not (target / "run" / "left_by_a_build.sql").exists(), "the reset must clear target/"
