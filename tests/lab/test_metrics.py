"""lab.observe.metrics: every step lands in ops.step_runs and in the Prometheus text format."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import warnings
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.config import STEP_RUNS, get_settings
from lab.errors import LabError
from lab.observe import metrics
from lab.profiles import get_warehouse
from tests.helpers import PUSHGATEWAY, pushgateway_server

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(metric name, sorted labels): value} for every sample in a Prometheus text."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_finished_step_lands_in_step_runs_with_its_counts():
    step = metrics.start("ingestion", "run_1")
    step.finish(landed=500, loaded=468, quarantined=32)
    frame = metrics.step_runs("run_1")
    assert len(frame) == 1, f"expected one row for run_1, got {len(frame)}"
    row = frame.iloc[0]
    got = {
        k: row[k] for k in ("run_id", "step", "outcome", "rows_in", "rows_out", "rows_quarantined")
    }
    expected = {
        "run_id": "run_1",
        "step": "ingestion",
        "outcome": "success",
        "rows_in": 500,
        "rows_out": 468,
        "rows_quarantined": 32,
    }
    assert got == expected, f"expected {expected}, got {got}"
    assert json.loads(row["counts"]) == {"landed": 500, "loaded": 468, "quarantined": 32}
    assert row["duration_s"] >= 0 and row["finished_at"] >= row["started_at"], row.to_dict()
    assert get_warehouse().table_exists(STEP_RUNS)


def test_finishing_a_step_again_replaces_its_row():
    metrics.start("dbt", "run_1").finish(models=3)
    metrics.start("dbt", "run_1").finish(models=4)
    metrics.start("dbt", "run_2").finish(models=5)
    frame = metrics.step_runs()
    counts = sorted(json.loads(c)["models"] for c in frame["counts"])
    assert counts == [4, 5], f"expected one row per run and step (4, 5), got {counts}"


def test_quality_counts_map_rows_validated_to_rows_in_not_expectations():
    metrics.start("quality", "run_1").finish(
        evaluated=12, passed=12, failed=0, validated=600, released=600
    )
    row = metrics.step_runs("run_1").iloc[0]
    assert (row["rows_in"], row["rows_out"]) == (600, 600), (
        f"expected rows_in/rows_out to be rows (600, 600), not expectations; got {row.to_dict()}"
    )
    assert pd.isna(row["rows_quarantined"]), (
        f"expected no quarantined count, got {row['rows_quarantined']}"
    )


def test_step_runs_is_empty_before_any_step():
    frame = metrics.step_runs()
    assert frame.empty and {"run_id", "step", "outcome"} <= set(frame.columns), frame


def test_prometheus_text_has_duration_rows_by_kind_and_success():
    step = metrics.start("ingestion", "run_1")
    step.finish(landed=500, loaded=468, quarantined=32)
    found = samples(metrics.prometheus_text(step))
    expected = {
        ("lab_step_duration_seconds", (("step", "ingestion"),)): step.duration_s,
        ("lab_step_success", (("step", "ingestion"),)): 1.0,
        ("lab_step_rows", (("kind", "landed"), ("step", "ingestion"))): 500.0,
        ("lab_step_rows", (("kind", "loaded"), ("step", "ingestion"))): 468.0,
        ("lab_step_rows", (("kind", "quarantined"), ("step", "ingestion"))): 32.0,
    }
    for key, value in expected.items():
        assert found.get(key) == value, f"expected {key} = {value}, got {found.get(key)}"
    last_run = found[("lab_step_last_run_timestamp_seconds", (("step", "ingestion"),))]
    assert abs(last_run - time.time()) < 120, f"expected a timestamp of now, got {last_run}"
    assert ("lab_step_last_success_timestamp_seconds", (("step", "ingestion"),)) in found


def test_the_prometheus_text_is_written_to_lab_home_metrics(lab_env):
    step = metrics.start("ingestion", "run_1").finish(landed=5, loaded=5, quarantined=0)
    written = lab_env.home / "metrics" / "ingestion.prom"
    assert written.is_file(), f"expected {written}"
    assert written.read_text() == metrics.prometheus_text(step)


def test_gate_results_become_quality_metrics():
    from lab.quality.report import GateResult, SuiteResult

    step = metrics.start("quality", "run_1")
    step.add_gate(
        GateResult(
            suites=[
                SuiteResult("orders", False, [{"success": True}, {"success": False}]),
                SuiteResult("raw_customers", True, [{"success": True}]),
            ]
        )
    )
    step.finish("failed", evaluated=3, passed=2, failed=1)
    found = samples(metrics.prometheus_text(step))
    expected = {
        ("lab_quality_gate_success", (("suite", "orders"),)): 0.0,
        ("lab_quality_gate_success", (("suite", "raw_customers"),)): 1.0,
        ("lab_quality_expectations", (("outcome", "failed"), ("suite", "orders"))): 1.0,
        ("lab_quality_expectations", (("outcome", "passed"), ("suite", "orders"))): 1.0,
        ("lab_step_success", (("step", "quality"),)): 0.0,
    }
    for key, value in expected.items():
        assert found.get(key) == value, f"expected {key} = {value}, got {found.get(key)}"


def test_a_failed_step_records_outcome_failed_with_the_message():
    step = metrics.start("ingestion", "run_1")
    step.fail(ValueError("The batch file x is empty. Fix: land it again.\nsecond line"))
    row = metrics.step_runs("run_1").iloc[0]
    assert row["outcome"] == "failed", f"expected outcome failed, got {row['outcome']}"
    assert row["detail"] == "The batch file x is empty. Fix: land it again.", (
        f"expected the message's first line, got {row['detail']!r}"
    )
    found = samples(metrics.prometheus_text(step))
    assert found[("lab_step_success", (("step", "ingestion"),))] == 0.0
    assert ("lab_step_last_success_timestamp_seconds", (("step", "ingestion"),)) not in found, (
        "expected no last-success timestamp for a failed run"
    )


@pytest.fixture
def stack_warehouse(postgres_dsn, monkeypatch):
    """The `stack` profile, its ops tables in a fresh PostgreSQL database (pushes happen here)."""
    monkeypatch.setenv("LAB_PROFILE", "stack")
    monkeypatch.setenv("WAREHOUSE_URL", postgres_dsn)
    return postgres_dsn


def test_push_to_an_unreachable_pushgateway_warns_but_does_not_raise(
    stack_warehouse, monkeypatch, free_port
):
    gateway = f"http://127.0.0.1:{free_port}"
    step = metrics.start("ingestion", "run_1").finish(landed=1, loaded=1, quarantined=0)
    with pytest.warns(UserWarning, match=rf"Could not push metrics to {gateway}") as record:
        assert metrics.push(step, gateway) is False, "expected push() to report False"
    assert f"The run is still recorded in {STEP_RUNS}" in str(record[0].message)


@pytest.mark.parametrize("source", ["environment", ".env"])
def test_local_profile_never_pushes_even_with_a_pushgateway_url(
    source, monkeypatch, free_port, tmp_path
):
    """A host `.env` copied from .env.example names the stack's Pushgateway; local ignores it."""
    gateway = f"http://127.0.0.1:{free_port}"  # closed: a push attempt would warn
    if source == "environment":
        monkeypatch.setenv("PUSHGATEWAY_URL", gateway)
    else:
        root = tmp_path / "project"
        root.mkdir()
        example = (ROOT / ".env.example").read_text()
        assert "\nLAB_PROFILE=local\n" in example, "expected .env.example on the local profile"
        (root / ".env").write_text(
            re.sub(r"^PUSHGATEWAY_URL=.*$", f"PUSHGATEWAY_URL={gateway}", example, flags=re.M)
        )
        monkeypatch.setenv("LAB_ROOT", str(root))
        for name in ("LAB_PROFILE", "PUSHGATEWAY_URL"):  # .env decides, as on a learner's host
            monkeypatch.delenv(name)
    settings = get_settings()
    assert (settings.profile, settings.pushgateway_url) == ("local", gateway), (
        f"expected the local profile with PUSHGATEWAY_URL={gateway} from the {source}, got "
        f"{(settings.profile, settings.pushgateway_url)}"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step = metrics.start("ingestion", "run_1").finish(landed=1, loaded=1, quarantined=0)
    assert step.outcome == "success"
    assert len(metrics.step_runs("run_1")) == 1, "expected the step recorded"


@pytest.fixture
def pushgateway(require_server, tmp_path):
    """A real Prometheus Pushgateway on a free local port; yields its URL."""
    require_server("Pushgateway", PUSHGATEWAY.exists(), f"{PUSHGATEWAY} is not installed")
    with pushgateway_server(tmp_path) as url:
        yield url


def test_push_to_a_real_pushgateway_shows_the_metrics(pushgateway, stack_warehouse, monkeypatch):
    step = metrics.start("ingestion", "run_1").finish(landed=500, loaded=468, quarantined=32)
    assert metrics.push(step, pushgateway) is True
    with urllib.request.urlopen(f"{pushgateway}/metrics", timeout=5) as response:
        found = samples(response.read().decode())
    labels = (("instance", ""), ("job", metrics.PUSH_JOB), ("step", "ingestion"))
    loaded = ("lab_step_rows", tuple(sorted((*labels, ("kind", "loaded")))))
    success = ("lab_step_success", labels)
    assert found.get(loaded) == 468.0, f"expected {loaded} = 468, got {found.get(loaded)}"
    assert found.get(success) == 1.0, f"expected {success} = 1, got {found.get(success)}"


def test_a_step_block_records_success_or_the_failure_and_lets_the_error_go_on():
    with metrics.step("ingestion", "block_ok") as run:
        run.finish(landed=3, loaded=3)
    with pytest.raises(LabError, match="no such file"):
        with metrics.step("dbt", "block_fail"):
            raise LabError("no such file\nsecond line")
    with metrics.step("quality", "block_plain"):
        pass
    runs = metrics.step_runs().set_index("run_id")
    assert runs.loc["block_ok", "outcome"] == "success"
    assert int(runs.loc["block_ok", "rows_out"]) == 3
    assert runs.loc["block_fail", "outcome"] == "failed"
    assert runs.loc["block_fail", "detail"] == "no such file"
    assert runs.loc["block_plain", "outcome"] == "success"


def test_a_step_records_where_its_settings_say_not_where_the_environment_does(tmp_path):
    from dataclasses import replace

    from lab.config import get_settings

    elsewhere = replace(get_settings(), home=tmp_path / "elsewhere")
    metrics.start("ingestion", "given_settings", elsewhere).finish(landed=1, loaded=1)
    there = metrics.step_runs(warehouse=get_warehouse(elsewhere))
    assert there["run_id"].tolist() == ["given_settings"]
    assert metrics.step_runs().empty
    assert (elsewhere.metrics_dir / "ingestion.prom").exists()
