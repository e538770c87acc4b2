"""lab.observe.monitoring: PromQL and LogQL over HTTP, against a small local server with canned answers.

The same functions answered by a real Prometheus are tested in tests/stack/test_stack_profile.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest

from lab.config import get_settings
from lab.errors import ConfigError, LabError
from lab.observe import monitoring
from tests.helpers import JsonServer, json_server

T0 = 1_793_491_200  # 2026-11-01T00:00:00Z

VECTOR = {
    "resultType": "vector",
    "result": [
        {
            "metric": {
                "__name__": "lab_step_duration_seconds",
                "job": "lab_pipeline",
                "step": "dbt",
            },
            "value": [T0, "4.5"],
        },
        {
            "metric": {"__name__": "lab_step_duration_seconds", "job": "lab_pipeline", "step": "a"},
            "value": [T0, "1.25"],
        },
    ],
}
MATRIX = {
    "resultType": "matrix",
    "result": [
        {"metric": {"service_name": "jupyter"}, "values": [[T0, "3"], [T0 + 300, "5"]]},
    ],
}
STREAMS = {
    "resultType": "streams",
    "result": [
        {
            "stream": {"service_name": "airflow-scheduler"},
            "values": [
                [str(T0 * 10**9), "first line"],
                [str((T0 + 60) * 10**9), "Task failed: quality"],
            ],
        }
    ],
}


@pytest.fixture
def canned(monkeypatch) -> Iterator[JsonServer]:
    """A local server for both PROMETHEUS_URL and LOKI_URL; set `canned.answers[path]`."""
    with json_server() as server:
        monkeypatch.setenv("PROMETHEUS_URL", server.url)
        monkeypatch.setenv("LOKI_URL", server.url + "/")
        yield server


def ok(data: dict) -> tuple[int, dict]:
    return 200, {"status": "success", "data": data}


def test_promql_returns_one_row_a_series_with_labels_and_float_values(canned):
    canned.answers["/api/v1/query"] = ok(VECTOR)
    frame = monitoring.promql(monitoring.STEP_DURATION)
    assert list(frame.columns) == ["job", "metric", "step", "timestamp", "value"]
    assert frame["step"].tolist() == ["a", "dbt"], "expected rows sorted by their labels"
    assert frame["value"].tolist() == [1.25, 4.5]
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2026-11-01", tz="UTC")
    path, params = canned.seen[-1]
    assert (path, params) == ("/api/v1/query", {"query": monitoring.STEP_DURATION})


def test_promql_at_a_time_sends_unix_seconds(canned):
    canned.answers["/api/v1/query"] = ok({"resultType": "scalar", "result": [T0, "2"]})
    frame = monitoring.promql("1 + 1", at=dt.datetime(2026, 11, 1))
    assert frame[["timestamp", "value"]].values.tolist() == [
        [pd.Timestamp("2026-11-01", tz="UTC"), 2.0]
    ]
    assert canned.seen[-1][1] == {"query": "1 + 1", "time": str(float(T0))}


def test_promql_range_sends_the_window_and_returns_one_row_a_sample(canned):
    canned.answers["/api/v1/query_range"] = ok(MATRIX)
    frame = monitoring.promql_range("up", start=T0, end="2026-11-01T01:00:00Z", step="5m")
    assert canned.seen[-1] == (
        "/api/v1/query_range",
        {"query": "up", "start": str(float(T0)), "end": str(float(T0 + 3600)), "step": "5m"},
    )
    assert frame["value"].tolist() == [3.0, 5.0]
    assert list(frame.columns) == ["service_name", "timestamp", "value"]


def test_promql_range_accepts_a_timedelta_as_that_long_ago(canned):
    canned.answers["/api/v1/query_range"] = ok({"resultType": "matrix", "result": []})
    before = dt.datetime.now(dt.UTC).timestamp()
    frame = monitoring.promql_range("up", start=dt.timedelta(hours=6))
    params = canned.seen[-1][1]
    assert float(params["end"]) - float(params["start"]) == pytest.approx(6 * 3600, abs=5)
    assert float(params["end"]) >= before
    assert frame.empty and list(frame.columns) == ["timestamp", "value"]


def test_logql_builds_loki_query_range_in_nanoseconds_and_returns_lines_newest_first(canned):
    canned.answers["/loki/api/v1/query_range"] = ok(STREAMS)
    frame = monitoring.logql(monitoring.PIPELINE_LOGS, start=T0, end=T0 + 3600, limit=10)
    path, params = canned.seen[-1]
    assert path == "/loki/api/v1/query_range"
    assert params == {
        "query": monitoring.PIPELINE_LOGS,
        "start": str(T0 * 10**9),
        "end": str((T0 + 3600) * 10**9),
        "limit": "10",
        "direction": "backward",
    }
    assert frame["line"].tolist() == ["Task failed: quality", "first line"]
    assert list(frame.columns) == ["service_name", "timestamp", "line"]


def test_logql_defaults_to_the_last_hour(canned):
    canned.answers["/loki/api/v1/query_range"] = ok({"resultType": "streams", "result": []})
    frame = monitoring.logql('{service_name="jupyter"}')
    params = canned.seen[-1][1]
    assert int(params["end"]) - int(params["start"]) == 3600 * 10**9
    assert frame.empty and list(frame.columns) == ["timestamp", "line"]


def test_logql_metric_queries_return_samples_like_promql_range(canned):
    canned.answers["/loki/api/v1/query_range"] = ok(MATRIX)
    frame = monitoring.logql(monitoring.LOG_LINES_PER_SERVICE, step="5m")
    assert canned.seen[-1][1]["step"] == "5m"
    assert frame["value"].tolist() == [3.0, 5.0]


def test_a_refused_query_names_the_server_and_its_reason(canned):
    canned.answers["/api/v1/query"] = (
        400,
        {"status": "error", "errorType": "bad_data", "error": "parse error: unexpected }"},
    )
    with pytest.raises(LabError) as caught:
        monitoring.promql("lab_step_duration_seconds}")
    assert str(caught.value) == (
        f"Prometheus at {canned.url} refused the query 'lab_step_duration_seconds}}': parse "
        "error: unexpected }. Fix: correct the query (try it in the server's web UI first)."
    )


def test_an_unreachable_prometheus_names_the_url_and_the_fix(monkeypatch, free_port):
    url = f"http://127.0.0.1:{free_port}"
    monkeypatch.setenv("PROMETHEUS_URL", url)
    with pytest.raises(LabError, match="Cannot reach Prometheus at") as caught:
        monitoring.promql("up")
    message = str(caught.value)
    assert url in message and "Fix: start the stack with `make up`" in message, message
    assert "correct PROMETHEUS_URL in .env" in message, message


def test_an_unreachable_loki_names_the_url_and_the_fix(monkeypatch, free_port):
    url = f"http://127.0.0.1:{free_port}"
    monkeypatch.setenv("LOKI_URL", url)
    with pytest.raises(LabError, match=f"Cannot reach Loki at {url}") as caught:
        monitoring.logql('{service_name="jupyter"}')
    assert "correct LOKI_URL in .env" in str(caught.value)


def test_an_unset_url_is_a_config_error_saying_what_to_set():
    with pytest.raises(ConfigError, match=r"PROMETHEUS_URL is not set.*Fix: set PROMETHEUS_URL="):
        monitoring.promql("up")
    with pytest.raises(ConfigError, match=r"LOKI_URL is not set.*Fix: set LOKI_URL="):
        monitoring.logql("{}")


def test_available_on_local_says_so_in_one_sentence(capsys):
    assert monitoring.available() is False
    out = capsys.readouterr().out
    assert out == (
        "This section needs the stack profile (`make up`): on local there is no Prometheus or "
        "Loki to ask.\n"
    )


def test_available_on_stack_is_silent(monkeypatch, capsys):
    monkeypatch.setenv("LAB_PROFILE", "stack")
    assert monitoring.available(get_settings()) is True
    assert capsys.readouterr().out == ""


def test_plot_draws_one_line_a_label_value_and_says_no_data_when_empty():
    frame = monitoring._frame(MATRIX)
    fig = monitoring.plot(frame, by="service_name", title="Lines")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["jupyter"]
    empty = monitoring.plot(monitoring._frame({"resultType": "matrix", "result": []}), "x", "t")
    assert [t.get_text() for t in empty.axes[0].texts] == ["no data yet"]


def test_compose_project_matches_docker_compose_yml():
    import yaml

    compose = yaml.safe_load((get_settings().root / "docker-compose.yml").read_text())
    assert compose["name"] == monitoring.COMPOSE_PROJECT, (
        f"Alloy labels logs with the compose project {compose['name']!r}; "
        f"lab.observe.monitoring.COMPOSE_PROJECT is {monitoring.COMPOSE_PROJECT!r}"
    )
