"""`lab ingest`: a learner's own files, each checked, landed as it arrived and loaded.

The date a file delivers comes from `--date`, else a `date=YYYY-MM-DD` folder, else an ISO date in
its name; a folder is ingested file by file, and a refused file does not stop the rest.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from lab.config import Settings, get_settings
from lab.contract import as_date
from lab.errors import BatchFileError, LabError
from lab.ingest import IngestResult, delivery, land_batch, load_batch, missing_path_error

_DATE_SEGMENT = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})(?:/|$)")
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")


def date_for(path: str | Path, given: dt.date | str | None = None) -> dt.date:
    """The date a file delivers: `given`, else a `date=YYYY-MM-DD` folder, else one in its name."""
    if given is not None:
        return as_date(given)
    text = Path(path).as_posix()
    found = _DATE_SEGMENT.search(text) or _DATE_IN_NAME.search(Path(path).name)
    if found:
        return as_date(found.group(1))
    raise BatchFileError(
        f"The batch file {path} does not say which date it delivers. Fix: pass --date "
        "YYYY-MM-DD, put it in a folder named date=YYYY-MM-DD, or name it like "
        "orders-2026-11-07.csv."
    )


def ingest_file(
    path: str | Path,
    batch_date: dt.date | str | None = None,
    *,
    allow_empty: bool = False,
    run_id: str = "manual",
    settings: Settings | None = None,
    progress: bool = False,
) -> IngestResult:
    """Check a file of your own, land it as it arrived, and load it."""
    settings = settings or get_settings()
    if not Path(path).exists():  # the first thing to say about a path that is not there
        raise missing_path_error(path)
    batch_date = date_for(path, batch_date)
    delivery.inspect(path)  # refuse a file that is no delivery before it reaches the lake
    land_batch(batch_date, source=path, settings=settings)
    result = load_batch(
        batch_date, settings=settings, run_id=run_id, allow_empty=allow_empty, progress=progress
    )
    result.file = str(path)
    return result


def delivered_files(path: str | Path) -> list[Path]:
    """The files to ingest: the file itself, or every visible file below a folder, sorted."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def ingest_path(
    path: str | Path,
    batch_date: dt.date | str | None = None,
    *,
    allow_empty: bool = False,
    run_id: str = "manual",
    progress: bool = False,
) -> list[IngestResult]:
    """`lab ingest`: every file of a folder (or one file); a refused file does not stop the rest.

    A path that does not exist is refused as a whole (BatchFileError), before any date is read.
    """
    if not Path(path).exists():
        raise missing_path_error(path)
    settings = get_settings()
    results, seen = [], {}
    for file in delivered_files(path):
        try:
            day = date_for(file, batch_date)
            if day in seen:
                raise BatchFileError(
                    f"The batch file {file} delivers {day}, like {seen[day]} before it. Fix: "
                    "keep one file per date in the folder (a later delivery replaces the "
                    "earlier one when you load it on its own)."
                )
            seen[day] = file
            results.append(
                ingest_file(
                    file,
                    day,
                    allow_empty=allow_empty,
                    run_id=run_id,
                    settings=settings,
                    progress=progress,
                )
            )
        except LabError as exc:
            results.append(_refused(file, exc))
    return results


def _refused(file: Path, exc: LabError) -> IngestResult:
    try:
        day = date_for(file)
    except LabError:
        day = None
    return IngestResult(day, str(file), 0, 0, 0, status="refused", message=str(exc), file=str(file))
