"""Small helpers that make the lesson notebooks read well (no pipeline logic lives here)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

from lab import sandbox
from lab.config import Settings, choose_profile, get_settings
from lab.observe import monitoring
from lab.profiles import profile_of


def start(profile: str | None = None) -> Settings:
    """Begin a lesson or a pipeline step: pick the profile, quiet the libraries, say where we are."""
    if profile:
        choose_profile(profile)
    settings = get_settings()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import pandas as pd

    pd.set_option("display.max_columns", 20)
    pd.set_option("display.width", 120)
    print(profile_of(settings).describe())
    return settings


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


def show_json(path: Path, drop: tuple[str, ...] = ("id",)) -> None:
    """Print a JSON config (a GX suite, a checkpoint) compactly: one line a list item.

    `drop` leaves out keys that only identify the object (GX's generated ids).
    """
    settings = get_settings()
    path = Path(path)
    data = _without(json.loads(path.read_text()), drop)
    label = _relative(path, settings)
    print(f"# {label}")
    print(_compact(data))


def _relative(path: Path, settings: Settings) -> str:
    """A path as a learner would find it in the project (never this machine's absolute path)."""
    for base, name in ((settings.gx_root, "great_expectations"), (settings.root, "")):
        if path.is_relative_to(base):
            rest = path.relative_to(base).as_posix()
            return f"{name}/{rest}" if name else rest
    return path.name


def _without(data: Any, drop: tuple[str, ...]) -> Any:
    if isinstance(data, dict):
        return {k: _without(v, drop) for k, v in data.items() if k not in drop}
    if isinstance(data, list):
        return [_without(v, drop) for v in data]
    return data


def _compact(data: Any) -> str:
    """Top-level keys one a line; the items of a list one a line each."""
    if not isinstance(data, dict):
        return json.dumps(data)
    lines = ["{"]
    for i, (key, value) in enumerate(data.items()):
        comma = "," if i < len(data) - 1 else ""
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {json.dumps(v)}" for v in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines)


def stack_questions() -> list[tuple[str, str, str]]:
    """Lesson 04's questions to Prometheus and Loki: (what it shows, language, query)."""

    return [
        ("each step's last duration in seconds", "PromQL", monitoring.STEP_DURATION),
        (
            "1 per suite when its quality gate passed, 0 when it failed",
            "PromQL",
            monitoring.GATE_SUCCESS,
        ),
        (
            "seconds since each step last succeeded (over a day: DataStale)",
            "PromQL",
            monitoring.SINCE_LAST_SUCCESS,
        ),
        (
            "step durations over the last six hours, as lines",
            "PromQL range",
            monitoring.STEP_DURATION,
        ),
        (
            "the latest log lines that mention an error or a failure",
            "LogQL",
            monitoring.PIPELINE_LOGS,
        ),
        (
            "log lines per service in 5-minute windows, as lines",
            "LogQL metric",
            monitoring.LOG_LINES_PER_SERVICE,
        ),
    ]


def ask_the_stack(settings: Settings | None = None) -> None:
    """Lesson 04's stack section: ask Prometheus and Loki on `stack`; on `local`, list the questions."""
    settings = settings or get_settings()
    questions = stack_questions()
    if not profile_of(settings).monitoring:
        print(
            "Profile local: there is no Prometheus or Loki to ask. On the stack (`make up`) "
            "this cell shows the answers to these questions:"
        )
        for shows, language, query in questions:
            print(f"\n- {shows}\n  {language}: {query}")
        return
    _answer(questions)


def _answer(questions) -> None:  # pragma: no cover - needs the stack's Prometheus and Loki
    import datetime as dt

    from IPython.display import display

    for shows, language, query in questions:
        print(f"{shows} ({language}: {query})")
        if language == "PromQL":
            display(monitoring.promql(query))
        elif language == "PromQL range":
            frame = monitoring.promql_range(query, start=dt.timedelta(hours=6))
            display(monitoring.plot(frame, by="step", title="Step durations (seconds)"))
        elif language == "LogQL":
            display(monitoring.logql(query, limit=10))
        else:
            frame = monitoring.logql(query, step="5m")
            display(
                monitoring.plot(frame, by="service_name", title="Log lines per service (5 min)")
            )


def health(settings: Settings | None = None):
    """`sandbox.health()` with paths as a learner finds them, not this machine's absolute ones."""

    settings = settings or get_settings()
    table = sandbox.health(settings)
    table["detail"] = table["detail"].map(lambda text: portable(text, settings))
    return table


def portable(text: str, settings: Settings | None = None) -> str:
    """Text with the sandbox's folders relative to the project (`.state/lake`), or named by
    their setting (`$LAB_HOME/lake`) when they live elsewhere."""
    settings = settings or get_settings()
    folders = {
        settings.home: "$LAB_HOME",
        settings.runs_dir: "$LAB_RUNS_DIR",
        settings.gx_root: "$LAB_GX_ROOT",
    }
    names = {}
    for folder, variable in folders.items():
        if folder.is_relative_to(settings.root):
            names[folder] = folder.relative_to(settings.root).as_posix()
        else:
            names[folder] = variable
    names[settings.root] = "."
    for folder in sorted(names, key=lambda f: len(str(f)), reverse=True):
        text = text.replace(str(folder), names[folder])
    return text
