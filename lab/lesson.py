"""Small helpers that make the lesson notebooks read well (no pipeline logic lives here)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from lab.config import Settings, get_settings


def start(profile: str | None = None) -> Settings:
    """Begin a lesson or a pipeline step: pick the profile, quiet the libraries, say where we are."""
    if profile:
        os.environ["LAB_PROFILE"] = profile
    settings = get_settings()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import pandas as pd

    pd.set_option("display.max_columns", 20)
    pd.set_option("display.width", 120)
    print(
        f"Profile: {settings.profile} — warehouse: {_warehouse_kind(settings)}, "
        f"object storage: {'a local folder' if settings.is_local else 'S3'}"
    )
    return settings


def _warehouse_kind(settings: Settings) -> str:
    return "DuckDB" if settings.is_local else "PostgreSQL"


def show_file(relative: str) -> None:
    """Print a project file (a dbt model, a config) so the lesson shows the real, tested code."""
    path = get_settings().root / relative
    print(f"# {relative}")
    print(path.read_text().rstrip())


def tree(relative: str, pattern: str = "*") -> None:
    """Print the files below a project folder, one per line, sorted."""
    root = get_settings().root
    base = root / relative
    for path in sorted(p for p in base.rglob(pattern) if p.is_file()):
        print(Path(path).relative_to(root))
