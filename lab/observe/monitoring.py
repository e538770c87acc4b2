"""Ask Prometheus (PromQL) and Loki (LogQL) over their HTTP APIs; get DataFrames back.

The `stack` profile pushes every step's metrics to the Pushgateway, Prometheus scrapes them, and
Alloy ships every container's log lines to Loki. Notebook 04 and the stack tests ask both with
the functions below: one row a series (instant queries), a sample (range queries) or a log line.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pandas as pd

from lab.config import Settings, get_settings
from lab.errors import ConfigError, MonitoringError
from lab.observe.metrics import PUSH_JOB
from lab.profiles import profile_of

# The project name in docker-compose.yml (`name:`): Alloy labels every log line with it.
COMPOSE_PROJECT = "data-engineering-sandbox"

# The questions notebook 04 asks; the Grafana dashboards and alert rules ask the same.
STEP_DURATION = f'lab_step_duration_seconds{{job="{PUSH_JOB}"}}'
GATE_SUCCESS = f'lab_quality_gate_success{{job="{PUSH_JOB}"}}'
SINCE_LAST_SUCCESS = f'time() - lab_step_last_success_timestamp_seconds{{job="{PUSH_JOB}"}}'
PIPELINE_LOGS = f'{{compose_project="{COMPOSE_PROJECT}"}} |~ "(?i)error|fail"'
LOG_LINES_PER_SERVICE = (
    f'sum by (service_name) (count_over_time({{compose_project="{COMPOSE_PROJECT}"}}[5m]))'
)
TIMEOUT_SECONDS = 10


def available(settings: Settings | None = None) -> bool:
    """True on `stack`; on `local`, say in one sentence that Prometheus and Loki need the stack."""
    if not profile_of(settings).monitoring:
        print(
            "This section needs the stack profile (`make up`): on local there is no "
            "Prometheus or Loki to ask."
        )
        return False
    return True


def promql(query: str, at: Any = None, settings: Settings | None = None) -> pd.DataFrame:
    """An instant PromQL query: one row a series, its labels as columns, then `value`."""
    params = {"query": query, **({"time": _seconds(at)} if at is not None else {})}
    data = _get(_prometheus(settings), "/api/v1/query", params, "Prometheus")
    return _frame(data)


def promql_range(
    query: str, start: Any, end: Any = None, step: str | float = "15s", settings=None
) -> pd.DataFrame:
    """A PromQL range query: one row a sample (labels, `timestamp`, `value`), oldest first.

    `start` and `end` are datetimes, Unix seconds, ISO texts, or timedeltas (that long ago)."""
    params = {
        "query": query,
        "start": _seconds(start),
        "end": _seconds(end if end is not None else _now()),
        "step": step,
    }
    data = _get(_prometheus(settings), "/api/v1/query_range", params, "Prometheus")
    return _frame(data)


def logql(
    query: str,
    start: Any = None,
    end: Any = None,
    limit: int = 100,
    step: str | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """A LogQL query over the last hour by default: log lines (`timestamp`, labels, `line`),
    newest first, or for a metric query such as `count_over_time` one row a sample."""
    end = end if end is not None else _now()
    start = start if start is not None else _as_datetime(end) - dt.timedelta(hours=1)
    params = {
        "query": query,
        "start": str(int(_seconds(start) * 1e9)),
        "end": str(int(_seconds(end) * 1e9)),
        "limit": str(limit),
        "direction": "backward",
        **({"step": step} if step else {}),
    }
    data = _get(_loki(settings), "/loki/api/v1/query_range", params, "Loki")
    return _frame(data)


def plot(frame: pd.DataFrame, by: str, title: str, ylabel: str = ""):
    """Lines from a range query's frame, one a value of the label `by`; "no data" when empty."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.set_title(title, loc="left", fontsize=12)
    ax.spines[["top", "right"]].set_visible(False)
    if frame.empty:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
    else:
        groups = frame.groupby(by) if by in frame else [("value", frame)]
        for name, series in groups:
            ax.plot(series["timestamp"], series["value"], label=name, drawstyle="steps-post")
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_ylabel(ylabel)
    fig.autofmt_xdate()
    fig.tight_layout()
    plt.close(fig)
    return fig


# --- HTTP and parsing -------------------------------------------------------------------------


def _prometheus(settings: Settings | None) -> str:
    settings = settings or get_settings()
    return _base_url(settings.prometheus_url, "PROMETHEUS_URL", "http://prometheus:9090")


def _loki(settings: Settings | None) -> str:
    settings = settings or get_settings()
    return _base_url(settings.loki_url, "LOKI_URL", "http://loki:3100")


def _base_url(url: str | None, name: str, example: str) -> str:
    if not url:
        raise ConfigError(
            f"{name} is not set, so there is nothing to query. Fix: set {name}={example} in .env "
            "(inside the stack) or http://127.0.0.1:<port> on the host, and use the stack profile."
        )
    return url.rstrip("/")


def _get(base: str, path: str, params: dict[str, Any], server: str) -> dict[str, Any]:
    """GET an API path; the `data` member of its JSON answer, or a MonitoringError saying what to fix."""
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise MonitoringError(
            f"{server} at {base} refused the query {params['query']!r}: {_reason(exc)}. Fix: "
            "correct the query (try it in the server's web UI first)."
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MonitoringError(
            f"Cannot reach {server} at {base} ({reason}). Fix: start the stack with `make up` "
            f"and check `make ps`, or correct {server.upper()}_URL in .env."
        ) from None
    if body.get("status") != "success":
        raise MonitoringError(
            f"{server} at {base} answered {body.get('error', body)!r} for {params['query']!r}. "
            "Fix: correct the query."
        )
    return body["data"]


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        return json.loads(exc.read()).get("error") or f"HTTP {exc.code}"
    except ValueError:
        return f"HTTP {exc.code}"


def _frame(data: dict[str, Any]) -> pd.DataFrame:
    """Prometheus' and Loki's result types (vector, matrix, scalar, streams) as one table."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        result = [{"metric": {}, "value": result}]
    rows = []
    for series in result:
        labels = series.get("metric", series.get("stream", {}))
        if kind in ("vector", "scalar"):
            rows.append({**labels, "timestamp": series["value"][0], "value": series["value"][1]})
        elif kind == "matrix":
            rows += [{**labels, "timestamp": t, "value": v} for t, v in series["values"]]
        else:  # streams: [nanoseconds as text, log line]
            rows += [
                {**labels, "timestamp": int(t) / 1e9, "line": line} for t, line in series["values"]
            ]
    frame = pd.DataFrame(rows).rename(columns={"__name__": "metric"})
    if frame.empty:
        return pd.DataFrame(columns=["timestamp", "line" if kind == "streams" else "value"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype(float), unit="s", utc=True)
    if "value" in frame:
        frame["value"] = frame["value"].astype(float)
    labels = sorted(c for c in frame.columns if c not in ("timestamp", "value", "line"))
    ascending = kind != "streams"
    frame = frame.sort_values(
        [*labels, "timestamp"] if ascending else "timestamp", ascending=ascending
    )
    return frame[[*labels, "timestamp", "line" if kind == "streams" else "value"]].reset_index(
        drop=True
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.timedelta):  # that long ago
        return _now() - value
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return _as_datetime(pd.Timestamp(value).to_pydatetime())


def _seconds(value: Any) -> float:
    """Unix seconds from a datetime (naive means UTC), a timedelta (that long ago), a number of
    seconds, or an ISO text."""
    return _as_datetime(value).timestamp()
