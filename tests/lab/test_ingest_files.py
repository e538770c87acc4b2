"""lab.ingest.files: which date a learner's file delivers, which files a folder holds, one per date."""

from __future__ import annotations

import datetime as dt

import pytest

from lab import datagen, ingest
from lab.datagen import csvtext
from lab.errors import BatchFileError
from lab.ingest.files import date_for, delivered_files, ingest_path


@pytest.mark.parametrize(
    ("path", "given", "expected"),
    [
        ("inbox/date=2026-11-03/export.csv", None, dt.date(2026, 11, 3)),
        ("inbox/orders-2026-11-04.csv", None, dt.date(2026, 11, 4)),
        ("date=2026-11-03/orders-2026-11-04.csv", None, dt.date(2026, 11, 3)),
        ("date=2026-11-03/orders-2026-11-04.csv", "2026-11-05", dt.date(2026, 11, 5)),
    ],
    ids=["folder", "name", "folder-before-name", "given-before-all"],
)
def test_date_for_takes_the_given_date_then_the_folder_then_the_name(path, given, expected):
    assert date_for(path, given) == expected


@pytest.mark.parametrize("path", ["inbox/orders.csv", "inbox/orders-20261104.csv"])
def test_a_file_without_a_date_is_refused_with_the_fix(path):
    with pytest.raises(BatchFileError) as info:
        date_for(path)
    message = str(info.value)
    assert message.startswith(f"The batch file {path} does not say which date"), message
    assert "Fix: pass --date YYYY-MM-DD" in message, message


def test_delivered_files_are_the_visible_files_below_a_folder_sorted(tmp_path):
    inbox = tmp_path / "inbox"
    for name in ("b/2.csv", "a/1.csv", ".hidden/3.csv", "a/.4.csv"):
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_text("x")
    assert delivered_files(inbox) == [inbox / "a/1.csv", inbox / "b/2.csv"]
    assert delivered_files(inbox / "a/1.csv") == [inbox / "a/1.csv"]


def test_a_second_file_of_the_same_date_is_refused_and_the_first_loads(tmp_path):
    inbox = tmp_path / "inbox"
    first = inbox / "date=2026-11-03" / "a.csv"
    second = inbox / "orders-2026-11-03.csv"
    for path, rows in ((first, 4), (second, 6)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(csvtext.to_csv_bytes(datagen.make_orders("2026-11-03", rows=rows)))
    results = {r.file: r for r in ingest_path(inbox)}
    assert list(results) == [str(first), str(second)], list(results)
    assert (results[str(first)].status, results[str(first)].rows_loaded) == ("loaded", 4)
    refused = results[str(second)]
    assert refused.status == "refused", refused
    assert refused.message.startswith(
        f"The batch file {second} delivers 2026-11-03, like {first} before it."
    ), refused.message
    assert ingest.loaded_dates() == [dt.date(2026, 11, 3)]
