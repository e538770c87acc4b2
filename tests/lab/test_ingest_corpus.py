"""Hostile deliveries: every file gets a correct load or one sentence, never a traceback.

Each case is a file this test writes, loaded on DuckDB and on PostgreSQL with the same loader.
A refused file names itself, the problem and the fix, and changes nothing; a loaded file
reconciles (rows in = loaded + quarantined) and its quarantine keeps the raw text, the file's
own line number and the reason.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lab import ingest
from lab.config import QUARANTINE_ORDERS, RAW_ORDERS
from lab.errors import BatchFileError
from lab.ingest import loading
from lab.warehouse import DuckDBWarehouse

DAY = dt.date(2026, 11, 1)
HEADER = "order_id,customer_id,order_date,status,amount"


def rows(*lines: str, header: str = HEADER, end: str = "\n") -> bytes:
    return end.join([header, *lines, ""]).encode()


def good(n: int, **changes: str) -> str:
    values = {"order_id": str(n), "customer_id": "7", "order_date": "2026-11-01"}
    values |= {"status": "placed", "amount": "10.00"} | changes
    return ",".join(values[c] for c in HEADER.split(","))


@dataclass
class Loads:
    """A file that loads: how many rows load, and the reason of each quarantined line."""

    data: bytes
    loaded: int
    quarantined: dict[int, str] = field(default_factory=dict)


@dataclass
class Refused:
    data: bytes
    phrase: str


LOADS = {
    "header-only": Loads(rows(), 0),
    "blank-lines": Loads(rows(good(1), "", good(2), "", ""), 2),
    "extra-column": Loads(rows(good(1) + ",gift", header=HEADER + ",note"), 1),
    "reordered-columns": Loads(
        rows("10.00,placed,2026-11-01,7,1", header="amount,status,order_date,customer_id,order_id"),
        1,
    ),
    "differently-cased-columns": Loads(rows(good(1), header=HEADER.upper()), 1),
    "trailing-delimiter-on-rows": Loads(
        rows(good(1) + ",", good(2, status="lost") + ",", good(3) + ",x"),
        1,
        {3: "status is not one of", 4: "a value after the last column"},
    ),
    "trailing-delimiter-everywhere": Loads(rows(good(1) + ",", header=HEADER + ","), 1),
    "quoted-delimiters-and-newlines": Loads(
        rows(good(1, status='"placed"'), good(2, status='"ship\nped"'), good(3, status='"a,b"')),
        1,
        {3: "status is not one of", 5: "status is not one of"},
    ),
    "bom": Loads(b"\xef\xbb\xbf" + rows(good(1), good(2)), 2),
    "latin-1": Loads(
        rows(good(1)) + "2,7,2026-11-01,plé,1.00\n".encode("latin-1") + good(3).encode() + b"\n",
        2,
        {3: "not valid UTF-8"},
    ),
    "invalid-utf-8": Loads(
        rows(good(1), good(2)) + b"3,7,2026-11-01,\xff\xfe,1.00\n", 2, {4: "UTF-8"}
    ),
    "crlf": Loads(rows(good(1), good(2), end="\r\n"), 2),
    "truncated-last-line": Loads(rows(good(1)) + b"2,7,2026-11-0", 1, {3: "fewer fields"}),
    "ragged-rows": Loads(
        rows(good(1), good(2) + ",extra", "3,7"), 1, {3: "more fields", 4: "fewer fields"}
    ),
    "unterminated-quote": Loads(rows(good(1)) + b'2,7,2026-11-01,placed,"10.00\n', 1, {3: "quote"}),
    # a whole number in any spelling is that number; a fraction or hex is refused, never rounded
    "keys-in-other-formats": Loads(
        rows(
            good(1),
            *(good(0, order_id=k) for k in ("1e3", "0x10", "+5", "007", "12.0", "12.5")),
        ),
        5,
        {4: "not a whole number", 8: "not a whole number"},
    ),
    "empty-and-odd-keys": Loads(
        rows(good(1, order_id=""), good(2, customer_id="abc"), good(0), good(3)),
        1,
        {
            2: "order_id is empty",
            3: "customer_id is empty or not a whole number",
            4: "order_id is not a positive number",
        },
    ),
    "key-beyond-int64": Loads(
        rows(good(1, order_id="99999999999999999999"), good(2, order_id="99999999999999999999")),
        0,
        {2: "beyond the largest key", 3: "beyond the largest key"},
    ),
    "key-beyond-2-to-the-53": Loads(
        rows(good(9007199254740993), good(2, customer_id="")), 1, {3: "customer_id"}
    ),
    "amounts": Loads(
        rows(
            good(1, amount="1e2"),
            good(2, amount="inf"),
            good(3, amount="nan"),
            good(4, amount="123456789012.00"),
            good(5, amount='"12,50"'),
            good(6, amount="-5.00"),
            good(7, amount="999999.99"),
        ),
        3,
        {
            3: "not a finite number",
            4: "not a finite number",
            5: "does not fit decimal(12, 2)",
            6: "amount is not a number",
        },
    ),
    "dates": Loads(
        rows(
            good(1, order_date="11/01/2026"),
            good(2, order_date="2026-11-01T00:00:00+05:00"),
            good(3, order_date="2026-02-30"),
            good(4, order_date="1990-01-01"),
            good(5, order_date="2026-11-02"),
            good(6, order_date="2026-10-30"),
        ),
        1,
        {
            2: "not a date",
            3: "not a date",
            4: "not a date",
            5: "more than 365 days before",
            6: "after the batch date",
        },
    ),
    "duplicate-keys": Loads(
        rows(good(1), good(2), good(1), good(1)), 2, {4: "repeats", 5: "repeats"}
    ),
    "duplicate-of-a-bad-row": Loads(
        rows(good(1, customer_id=""), good(1), good(2)),
        1,
        {2: "customer_id is empty", 3: "repeats an earlier row"},
    ),
    # a line the reader cannot parse has no key it can compare: the readable repeat loads
    "repeat-of-an-unreadable-line": Loads(
        rows(good(1, amount="n/a"), good(1), good(2)), 2, {2: "amount is not a number"}
    ),
    "one-megabyte-field": Loads(rows(good(1), good(2, status="x" * 1_000_000)), 1, {3: "status"}),
    "nul-byte": Loads(rows(good(1), good(2, status="pla\x00ced")), 1, {3: "NUL byte"}),
}


def parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"order_id": [1]}), buffer)
    return buffer.getvalue()


REFUSED = {
    "empty": Refused(b"", "is empty (0 bytes)"),
    "blank-only": Refused(b"\n\n", "has no header line"),
    "missing-column": Refused(
        rows(header="order_id,customer_id,order_date,status"), "lacks the column(s) amount"
    ),
    "renamed-column": Refused(
        rows(header="id,customer_id,order_date,status,amount"),
        "lacks the column(s) order_id on line 1 (found: id,",
    ),
    "duplicated-column": Refused(rows(header=HEADER + ",amount"), "has the column 'amount' twice"),
    "semicolons": Refused(rows(header=HEADER.replace(",", ";")), "with semicolons"),
    "tabs": Refused(rows(header=HEADER.replace(",", "\t")), "with tabs"),
    "gzip": Refused(gzip.compress(rows(good(1))), "gunzip it first"),
    "parquet": Refused(parquet_bytes(), "is a Parquet file"),
    "json": Refused(b'[{"order_id": 1}]', "is JSON, not CSV"),
    "png": Refused(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a PNG image"),
    "latin-1-header": Refused(b"order_id,customer_id,order_date,st\xe4tus,amount\n", "not UTF-8"),
}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", sorted(LOADS))
def test_a_hostile_file_loads_and_reconciles(case, warehouse, tmp_path):
    expected = LOADS[case]
    path = write(tmp_path, case, expected.data)
    result = ingest.load_file(path, DAY, warehouse=warehouse)
    assert result.reconciled, str(result)
    quarantine = warehouse.query(
        f"select line_number, order_id, status, record, reason from {QUARANTINE_ORDERS} "
        "order by line_number"
    )
    got = dict(zip(quarantine["line_number"].astype(int), quarantine["reason"], strict=True))
    assert result.rows_loaded == expected.loaded, f"{case}: {result}; quarantine {got}"
    assert sorted(got) == sorted(expected.quarantined), (
        f"{case}: expected quarantined lines {sorted(expected.quarantined)}, got {got}"
    )
    for line, phrase in expected.quarantined.items():
        assert phrase in got[line], f"{case}: line {line}: expected {phrase!r} in {got[line]!r}"
    in_raw = int(warehouse.scalar(f"select count(*) from {RAW_ORDERS}"))
    assert in_raw == expected.loaded, (
        f"{case}: expected {expected.loaded} rows in raw, got {in_raw}"
    )


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_file_that_is_no_delivery_is_refused_in_one_sentence(case, warehouse, tmp_path):
    expected = REFUSED[case]
    path = write(tmp_path, case, expected.data)
    with pytest.raises(BatchFileError) as info:
        ingest.load_file(path, DAY, warehouse=warehouse)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"The batch file {path} "), message
    assert expected.phrase in message and "Fix:" in message, f"{case}: {message}"


def test_quarantine_keeps_the_raw_text_of_a_field_with_a_delimiter_and_the_real_key(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    path = write(tmp_path, "t", rows(good(41) + ",", good(42, status='"a,b"') + ","))
    ingest.load_file(path, DAY, warehouse=warehouse)
    row = warehouse.query(f"select * from {QUARANTINE_ORDERS}").iloc[0]
    assert (row["order_id"], row["status"], row["line_number"]) == ("42", "a,b", 3), row.to_dict()
    assert row["record"] == "42,7,2026-11-01,a,b,10.00,", row["record"]


def test_a_key_above_2_to_the_53_is_stored_exactly(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    path = write(tmp_path, "t", rows(good(9007199254740993), good(2, customer_id="")))
    ingest.load_file(path, DAY, warehouse=warehouse)
    stored = warehouse.query(f"select order_id from {RAW_ORDERS}")["order_id"].tolist()
    assert stored == [9007199254740993], stored


def test_a_nul_byte_is_kept_visible_in_the_quarantine(warehouse, tmp_path):
    path = write(tmp_path, "t", rows(good(1, status="pla\x00ced")))
    ingest.load_file(path, DAY, warehouse=warehouse)
    status = warehouse.scalar(f"select status from {QUARANTINE_ORDERS}")
    assert status == "pla\\x00ced", repr(status)


def test_a_directory_and_a_missing_path_are_refused(tmp_path):
    for path, phrase in ((tmp_path, "is a folder"), (tmp_path / "nope.csv", "does not exist")):
        with pytest.raises(BatchFileError) as info:
            ingest.load_file(path, DAY, warehouse=DuckDBWarehouse(tmp_path / "w.duckdb"))
        assert phrase in str(info.value), str(info.value)


def test_the_reader_errors_have_words():
    assert set(loading.READER_ERRORS) >= {"UNQUOTED VALUE", "TOO MANY COLUMNS", "MISSING COLUMNS"}


@pytest.mark.parametrize("where", ["file-mode-000", "folder-not-enterable"])
def test_an_unreadable_file_is_refused_in_one_sentence(where, tmp_path):
    """Run as the unprivileged user `nobody` (root reads every file whatever its mode)."""
    import shutil
    import subprocess
    import sys
    import tempfile

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to act as another user")
    folder = Path(tempfile.mkdtemp(prefix="lab-unreadable-"))
    folder.chmod(0o755 if where == "file-mode-000" else 0o700)
    path = folder / "locked.csv"
    path.write_bytes(rows(good(1)))
    path.chmod(0 if where == "file-mode-000" else 0o644)
    script = "from lab.ingest import delivery\ndelivery.inspect(__import__('sys').argv[1])"
    done = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            "import sys\ntry:\n    " + script.replace("\n", "\n    ") + "\nexcept Exception as e:\n"
            "    print(type(e).__name__, e)",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.startswith(f"BatchFileError The batch file {path} cannot be read"), (
        done.stdout + done.stderr
    )
    assert "chmod a+r" in done.stdout, done.stdout
    shutil.rmtree(folder)
