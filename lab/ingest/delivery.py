"""A delivered file, looked at before anything is loaded from it.

`inspect` reads only the first bytes: it names what the file is when it is not CSV, checks the
header against the data contract, and notices a trailing delimiter. `scan` reads the whole file
once for its sha256 and its line count. `raw_records` finds the original text of the few records
a load quarantines, with the line of the file where each starts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from lab.contract import CSV_COLUMNS
from lab.errors import BatchFileError

csv.field_size_limit(1 << 30)  # a 1 MB field is odd data, not a reason to crash

PEEK_BYTES = 1 << 16
CHUNK_BYTES = 1 << 23
BOM = b"\xef\xbb\xbf"

# What a file is when its first bytes say so: (magic, description, fix).
_NOT_CSV = (
    (b"\x1f\x8b", "gzip-compressed", "gunzip it first, then load the .csv"),
    (b"PK\x03\x04", "a ZIP archive (or an Excel .xlsx workbook)", "unzip it or save it as CSV"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook", "save it as CSV (UTF-8)"),
    (b"PAR1", "a Parquet file", "export it as CSV, or read it with duckdb.read_parquet()"),
    (b"\x89PNG", "a PNG image", "load the orders CSV export instead"),
    (b"\xff\xd8\xff", "a JPEG image", "load the orders CSV export instead"),
    (b"%PDF", "a PDF document", "load the orders CSV export instead"),
)


@dataclass(frozen=True)
class Delivery:
    """What the header of a delivered CSV file says."""

    path: Path
    size: int
    header: tuple[str, ...]  # the names as written, normalised (trimmed, lower case)
    trailing_delimiter: bool = False
    ignored_columns: tuple[str, ...] = field(default=())

    @property
    def width(self) -> int:
        """The fields a data row has (the header's, plus one for a trailing delimiter)."""
        return len(self.header) + (1 if self.trailing_delimiter else 0)

    def column_types(self, types: dict[str, str]) -> dict[str, str]:
        """DuckDB `columns=` for read_csv: the contract's columns typed, any other as text."""
        columns = {}
        for i, name in enumerate(self.header):
            columns[name if name in types else f"_extra_{i}"] = types.get(name, "VARCHAR")
        if self.trailing_delimiter:
            columns["_trailing"] = "VARCHAR"
        return columns


def _refuse(path: Path, problem: str, fix: str) -> BatchFileError:
    return BatchFileError(f"The batch file {path} {problem}. Fix: {fix}.")


def open_checked(path: Path):
    """Open a file for reading, with one sentence for a missing, odd or unreadable path."""
    try:
        exists, folder = path.exists(), path.is_dir()
    except PermissionError:  # a folder on the way cannot be entered
        raise _refuse(
            path, "cannot be read (permission denied)", f"make it readable: chmod a+r {path}"
        ) from None
    if not exists:
        raise _refuse(path, "does not exist", "check the path (a folder loads every file in it)")
    if folder:
        raise _refuse(
            path, "is a folder, not a file", "name a file, or pass the folder to `lab ingest`"
        )
    try:
        return path.open("rb")
    except PermissionError:
        raise _refuse(
            path, "cannot be read (permission denied)", f"make it readable: chmod a+r {path}"
        ) from None
    except OSError as exc:
        raise _refuse(path, f"cannot be read ({exc.strerror})", "check the file") from None


def inspect(path: str | os.PathLike) -> Delivery:
    """Check that a file is a CSV export with the contract's header; refuse it in one sentence."""
    path = Path(path)
    with open_checked(path) as f:
        head = f.read(PEEK_BYTES)
    size = path.stat().st_size
    if not head:
        raise _refuse(
            path, "is empty (0 bytes)", "ask for the export again; an empty file is no delivery"
        )
    for magic, what, fix in _NOT_CSV:
        if head.startswith(magic):
            raise _refuse(path, f"is {what}, not a CSV file", fix)
    text = head.removeprefix(BOM)
    first = text.lstrip()[:1]
    if first in (b"{", b"["):
        raise _refuse(path, "is JSON, not CSV", "export the orders as CSV with a header line")
    line_end = text.find(b"\n")
    header_bytes = text if line_end < 0 else text[:line_end]
    if b"\x00" in header_bytes:
        raise _refuse(path, "is a binary file, not CSV", "load the orders CSV export instead")
    try:
        header_text = header_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(
            path,
            "has a header line that is not UTF-8 text",
            "re-export the file as UTF-8 (from Latin-1: iconv -f latin1 -t utf-8)",
        ) from None
    if not header_text.strip():
        raise _refuse(
            path,
            "has no header line (line 1 is blank)",
            f"the first line must be {','.join(CSV_COLUMNS)}",
        )
    names = next(csv.reader([header_text.rstrip("\r")]))
    header = tuple(n.strip().lower() for n in names)
    if len(header) == 1:
        for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if delimiter in header_text:
                raise _refuse(
                    path,
                    f"separates its columns with {name}, not commas",
                    "re-export it as comma-separated CSV",
                )
    trailing = False
    if len(header) > 1 and header[-1] == "":
        header, trailing = header[:-1], True
    _check_header(path, header)
    if not trailing:
        trailing = _rows_have_trailing_delimiter(text, len(header))
    ignored = tuple(n for n in header if n not in CSV_COLUMNS)
    return Delivery(path, size, header, trailing, ignored)


def _check_header(path: Path, header: tuple[str, ...]) -> None:
    expected = ",".join(CSV_COLUMNS)
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name in seen:
            raise _refuse(
                path,
                f"has the column {name!r} twice in its header (columns {seen[name]} and {position})",
                f"keep one of them; the header must be {expected}",
            )
        seen[name] = position
    missing = [c for c in CSV_COLUMNS if c not in seen]
    if missing:
        found = ", ".join(n or "(blank)" for n in header) or "none"
        raise _refuse(
            path,
            f"lacks the column(s) {', '.join(missing)} on line 1 (found: {found})",
            f"the header must be {expected}",
        )


def _rows_have_trailing_delimiter(text: bytes, width: int) -> bool:
    """True when the first data row has one field more than the header, and it is empty."""
    lines = text.decode("utf-8", errors="replace").splitlines()[1:3]
    rows = [r for r in csv.reader(lines) if r]
    return bool(rows) and len(rows[0]) == width + 1 and rows[0][-1] == ""


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    lines: int  # physical lines, a last line without a newline included


def scan(path: Path) -> FileFacts:
    """The file's sha256 and its number of lines, in one pass of large reads."""
    digest = hashlib.sha256()
    newlines = 0
    last = b""
    with open_checked(path) as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return FileFacts(digest.hexdigest(), newlines + (1 if last not in (b"", b"\n") else 0))


def locate(
    path: Path, records: set[int], rejects: set[int], *, simple: bool
) -> tuple[dict[int, tuple[int, list[str]]], dict[int, tuple[int, list[str]]]]:
    """The file line and original fields of some loaded records and of some rejected ones.

    `records` are 0-based positions among the records the reader kept; `rejects` are the
    reader's own numbers for the records it refused (1 is the header; every record and every
    blank line after it counts one). `simple` says no record spans lines and no line is
    blank, so positions map to lines by arithmetic and only the wanted lines are decoded.
    """
    if not records and not rejects:
        return {}, {}
    if simple:
        skipped = sorted(rejects)
        lines = {}
        for position in records:
            line = 2 + position
            for refused in skipped:
                if refused <= line:
                    line += 1
            lines[position] = line
        text = _lines(path, set(lines.values()) | rejects)
        return (
            {p: (n, _fields(text.get(n, ""))) for p, n in lines.items()},
            {n: (n, _fields(text.get(n, ""))) for n in rejects},
        )
    kept: dict[int, tuple[int, list[str]]] = {}
    refused: dict[int, tuple[int, list[str]]] = {}
    with open_checked(path) as f:
        stream = io.TextIOWrapper(f, encoding="utf-8", errors="backslashreplace", newline="")
        reader = csv.reader(stream)
        number, position, start = 0, 0, 1
        for record in reader:
            number += 1
            if number > 1 and record:
                if number in rejects:
                    refused[number] = (start, record)
                else:
                    if position in records:
                        kept[position] = (start, record)
                    position += 1
            start = reader.line_num + 1
            if len(kept) == len(records) and len(refused) == len(rejects):
                break
    return kept, refused


def _lines(path: Path, wanted: set[int]) -> dict[int, str]:
    """The text of some lines (1-based), skipping over chunks that hold none of them."""
    out: dict[int, str] = {}
    first = 1  # number of the first line that starts in `pending`
    pending = b""
    with open_checked(path) as f:
        while True:
            chunk = f.read(CHUNK_BYTES)
            data = pending + chunk
            complete = data.count(b"\n")
            if not chunk:
                complete += 1 if data else 0
            if any(first <= n < first + complete for n in wanted):
                for offset, raw in enumerate(data.split(b"\n")[:complete]):
                    if first + offset in wanted:
                        out[first + offset] = raw.rstrip(b"\r").decode("utf-8", "backslashreplace")
            if not chunk:
                return out
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            first += complete


def _fields(line: str) -> list[str]:
    return next(csv.reader([line]), [])
