"""`lab ingest` loads a learner's own files, one line each; `lab pipeline` checks its input."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from lab import datagen, ingest
from lab.cli import main
from lab.config import RAW_ORDERS
from lab.datagen import csvtext
from lab.profiles import get_warehouse


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_orders(path, day: str, rows: int, dirty: float = 0.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csvtext.to_csv_bytes(datagen.make_orders(day, rows=rows, dirty=dirty)))
    return path


def test_ingest_a_folder_loads_each_file_and_refuses_the_bad_one(capsys, tmp_path, lab_env):
    folder = tmp_path / "inbox"
    write_orders(folder / "date=2026-11-03" / "export.csv", "2026-11-03", 30)
    write_orders(folder / "orders-2026-11-04.csv", "2026-11-04", 20, dirty=0.2)
    (folder / "notes.txt").write_text("no date here")
    code, out, err = run(capsys, "ingest", str(folder), "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1, f"expected exit 1 (a file was refused), got {code}: {out} {err}"
    by_date = {r["date"]: r for r in records}
    assert by_date["2026-11-03"]["loaded"] == 30 and by_date["2026-11-03"]["status"] == "loaded"
    four = by_date["2026-11-04"]
    assert four["rows_in"] == 20 == four["loaded"] + four["quarantined"] and four["quarantined"]
    refused = [r for r in records if r["status"] == "refused"]
    assert len(refused) == 1 and "does not say which date" in refused[0]["message"], refused
    assert set(records[0]) == {
        "file",
        "date",
        "rows_in",
        "loaded",
        "quarantined",
        "status",
        "message",
    }
    assert ingest.loaded_dates() == [dt.date(2026, 11, 3), dt.date(2026, 11, 4)]
    landed = lab_env.home / "lake" / "raw" / "orders" / "date=2026-11-03" / "orders.csv"
    assert landed.read_bytes() == (folder / "date=2026-11-03" / "export.csv").read_bytes()


def test_ingest_prints_one_line_per_file_and_the_same_file_twice_changes_nothing(capsys, tmp_path):
    path = write_orders(tmp_path / "orders.csv", "2026-11-05", 12)
    code, out, _ = run(capsys, "ingest", str(path), "--date", "2026-11-05")
    assert (code, out.count("\n")) == (0, 1), out
    assert "2026-11-05: 12 rows in = 12 loaded + 0 quarantined" in out, out
    code, out, _ = run(capsys, "ingest", str(path), "--date", "2026-11-05")
    assert code == 0 and out.startswith("unchanged") and "nothing changed" in out, out


def test_ingest_a_date_that_is_not_iso_is_a_usage_error(capsys, tmp_path):
    path = write_orders(tmp_path / "orders.csv", "2026-11-05", 3)
    with pytest.raises(SystemExit) as info:
        main(["ingest", str(path), "--date", "2026-11-07garbage"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "is not a date" in err, err


def test_ingest_a_header_only_file_over_a_loaded_day_is_refused_until_allowed(capsys, tmp_path):
    path = write_orders(tmp_path / "orders-2026-11-06.csv", "2026-11-06", 8)
    run(capsys, "ingest", str(path))
    empty = tmp_path / "empty" / "orders-2026-11-06.csv"
    empty.parent.mkdir()
    empty.write_text("order_id,customer_id,order_date,status,amount\n")
    code, out, _ = run(capsys, "ingest", str(empty))
    assert code == 1 and "has no data rows" in out, out
    kept = get_warehouse().scalar(f"select count(*) from {RAW_ORDERS}")
    assert kept == 8, f"expected the 8 rows to stay, got {kept}"
    code, out, _ = run(capsys, "ingest", str(empty), "--allow-empty")
    assert code == 0 and "0 rows in" in out, out


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("missing.csv", "The file missing.csv does not exist"),
        ("missing-2026-11-07.csv", "The file missing-2026-11-07.csv does not exist"),
        ("inbox/", "The folder inbox/ does not exist"),
        ("inbox", "The path inbox does not exist"),
    ],
)
def test_ingest_a_path_that_does_not_exist_says_so_before_anything_else(
    capsys, tmp_path, monkeypatch, name, said
):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "ingest", name)
    expected = f"error: {said} (looked for {tmp_path / name.rstrip('/')})."
    assert (code, out) == (1, ""), f"expected exit 1 and no file line, got {code}: {out!r}"
    assert err.startswith(expected), f"expected {expected!r}, got {err!r}"
    assert "Fix: check the name and the folder you run the command from" in err, err
    assert "which date" not in err and "Traceback" not in err, err


def test_landing_a_source_file_that_does_not_exist_names_it(tmp_path, monkeypatch):
    from lab.errors import BatchFileError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(BatchFileError) as info:
        ingest.land_batch("2026-11-07", source="export.csv")
    assert str(info.value).startswith(
        f"The file export.csv does not exist (looked for {tmp_path / 'export.csv'}). Fix:"
    ), info.value


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["pipeline", "--date", "2026-11-07garbage"], "is not a date"),
        (["pipeline", "--run-id", "../../etc"], "is not a run id"),
        (["pipeline", "--step", "bogus"], "invalid choice: 'bogus'"),
        (["pipeline", "--file", "/nonexistent/orders.csv"], "is not a file"),
    ],
)
def test_pipeline_refuses_bad_input_before_it_runs(capsys, argv, phrase):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and phrase in err and "Traceback" not in err, err


@pytest.mark.slow
def test_a_load_over_a_second_shows_a_progress_bar_on_a_terminal(tmp_path, lab_env):
    import os
    import shutil
    import subprocess
    import sys

    if not shutil.which("script"):
        pytest.skip("needs util-linux's `script` to give the command a terminal")
    path = tmp_path / "orders-2026-11-08.csv"
    datagen.write_orders(path, "2026-11-08", rows=4_000_000)
    command = f"{sys.executable} -m lab.cli ingest {path}"
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )
    screen = done.stdout.replace("\r", "\n")
    assert done.returncode == 0, screen[-2000:]
    assert "100%" in screen and "elapsed" in screen, (
        f"expected DuckDB's progress bar: {screen[-800:]}"
    )
    assert "4000000 rows in = 4000000 loaded + 0 quarantined" in screen, screen[-800:]
