"""Prometheus: its own checkers on the config and rules, and a real server parsing every PromQL
expression of the alert rules and the Grafana dashboards."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from stack_helpers import (
    COMPOSE_FILE,
    PROMETHEUS_DIR,
    dashboard_queries,
    require_binary,
    run_prometheus,
)

from lab.observe import metrics

HERE = Path(__file__).parent
CONFIG = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
RULES = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
SERVICES = yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def pushed_metrics() -> dict[str, set[str]]:
    """The metrics `lab.observe.metrics` pushes for a step (a successful quality step carries them all),
    each with its labels, read from the Prometheus text it writes."""
    step = metrics.StepRun(step="quality", run_id="r1", outcome="success", counts={"passed": 3})
    step.suites["orders"] = (True, 3, 0)
    return {
        family.name: {label for sample in family.samples for label in sample.labels}
        for family in text_string_to_metric_families(metrics.prometheus_text(step))
    }


LAB_METRICS = pushed_metrics()  # job=PUSH_JOB; name -> labels

# Grafana's variables, replaced with concrete values before Prometheus sees an expression.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$__auto": "1m",
}


def rule_expressions() -> list[tuple[str, str]]:
    return [
        (f"alert {rule['alert']}", rule["expr"])
        for group in RULES["groups"]
        for rule in group["rules"]
    ]


# Every PromQL expression: the alert rules' and the dashboards'.
EXPRESSIONS = rule_expressions() + dashboard_queries("prometheus")


def concrete(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    # Dashboard variables ($step, ${step}) are only used inside =~"..." matchers.
    return re.sub(r"\$\{?[A-Za-z]\w*\}?", ".*", expr)


def run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=60)


# ---------------------------------------------------------------------------------------------
# promtool
# ---------------------------------------------------------------------------------------------


def project_copy(base: Path) -> Path:
    """docker/prometheus/ copied into a project-shaped folder under `base` (no exercises/work/
    yet), so relative rule_files resolve the way they do in the repo and in the container;
    returns the copied prometheus.yml."""
    folder = base / "docker" / "prometheus"
    folder.mkdir(parents=True)
    for path in PROMETHEUS_DIR.iterdir():
        shutil.copy(path, folder / path.name)
    (base / "exercises").mkdir()
    return folder / "prometheus.yml"


def learner_rule_file(base: Path) -> Path:
    """Where exercise 04 writes the learner's rules, in the project copy under `base`."""
    from lab.exercises.ex04_monitoring import RULE_FILE

    return base / RULE_FILE


def test_promtool_accepts_the_config_and_the_rule_files_it_names(tmp_path):
    promtool = require_binary("promtool")
    config = project_copy(tmp_path)
    result = run([promtool, "check", "config", str(config)])
    assert result.returncode == 0, f"promtool check config:\n{result.stdout}{result.stderr}"
    assert "1 rule files found" in result.stdout, result.stdout


def test_the_config_loads_the_learners_alert_rules_when_they_exist(tmp_path):
    from lab.exercises.ex04_monitoring import ALERT, SOLUTION_RULE

    promtool = require_binary("promtool")
    config = project_copy(tmp_path)
    rules = learner_rule_file(tmp_path)
    rules.parent.mkdir(parents=True)
    rules.write_text(SOLUTION_RULE)
    result = run([promtool, "check", "config", str(config)])
    assert result.returncode == 0, f"promtool check config:\n{result.stdout}{result.stderr}"
    assert "2 rule files found" in result.stdout and f"Checking {rules}" in result.stdout, (
        f"expected promtool to check {rules} as the config's second rule file:\n{result.stdout}"
    )
    # A broken learner's file fails the config: proof that the config really reads it.
    rules.write_text(SOLUTION_RULE.replace("== 0", "== ("))
    result = run([promtool, "check", "config", str(config)])
    assert result.returncode != 0 and str(rules) in result.stdout + result.stderr, (
        f"expected promtool to refuse the broken {rules}:\n{result.stdout}{result.stderr}"
    )
    # A real Prometheus started from this config serves the learner's alert.
    rules.write_text(SOLUTION_RULE)
    with run_prometheus(config.parent, config.read_text()) as base_url:
        with urllib.request.urlopen(f"{base_url}/api/v1/rules?type=alert", timeout=10) as response:
            groups = json.loads(response.read())["data"]["groups"]
    alerts = {rule["name"]: group["file"] for group in groups for rule in group["rules"]}
    assert alerts.get(ALERT) == str(rules), f"expected {ALERT} from {rules}, got {alerts}"
    assert {"PipelineStepFailed", "QualityGateFailed", "DataStale"} <= set(alerts), alerts


def test_promtool_accepts_the_alert_rules():
    promtool = require_binary("promtool")
    result = run([promtool, "check", "rules", str(PROMETHEUS_DIR / "alerts.yml")])
    assert result.returncode == 0, f"promtool check rules:\n{result.stdout}{result.stderr}"


def test_alert_rules_fire_as_their_unit_tests_expect():
    promtool = require_binary("promtool")
    result = run([promtool, "test", "rules", "prometheus_alerts_test.yml"], cwd=HERE)
    assert result.returncode == 0, f"promtool test rules:\n{result.stdout}{result.stderr}"


# ---------------------------------------------------------------------------------------------
# What is scraped and alerted on
# ---------------------------------------------------------------------------------------------


def test_prometheus_scrapes_every_metrics_endpoint_of_the_stack():
    targets = {
        target
        for job in CONFIG["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    expected = {
        "localhost:9090",
        "pushgateway:9091",
        "statsd-exporter:9102",
        "postgres-exporter:9187",
        "loki:3100",
        "alloy:12345",
    }
    assert targets == expected
    for target in targets - {"localhost:9090"}:
        host = target.split(":")[0]
        assert host in SERVICES, f"scrape target {target}: {host!r} is not a compose service"


def test_pushgateway_scrape_keeps_the_pushed_job_label():
    job = next(j for j in CONFIG["scrape_configs"] if j["job_name"] == "pushgateway")
    assert job.get("honor_labels") is True, "expected honor_labels: true (keeps job=lab_pipeline)"


def test_object_store_pushes_its_metrics_to_the_otlp_receiver():
    # RustFS has no scrape endpoint; Prometheus must accept its OTLP push.
    assert "--web.enable-otlp-receiver" in SERVICES["prometheus"]["command"]
    endpoint = SERVICES["rustfs"]["environment"]["RUSTFS_OBS_METRIC_ENDPOINT"]
    assert endpoint == "http://prometheus:9090/api/v1/otlp/v1/metrics"


def test_alert_rules_cover_failed_steps_failed_quality_gates_and_stale_data():
    alerts = {name.removeprefix("alert ") for name, _ in rule_expressions()}
    expected = {"PipelineStepFailed", "QualityGateFailed", "DataStale"}
    assert expected <= alerts, f"missing alerts: {sorted(expected - alerts)}"


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=lambda v: str(v)[:60])
def test_lab_metrics_in_expressions_are_ones_the_lab_package_pushes(where, expr):
    used = set(re.findall(r"\blab_[a-z_]+\b", expr))
    unknown = used - set(LAB_METRICS) - {metrics.PUSH_JOB}
    assert not unknown, (
        f"{where}: {sorted(unknown)} are not metrics lab pushes: {sorted(LAB_METRICS)}"
    )
    for metric in used & set(LAB_METRICS):
        for matchers in re.findall(rf"{metric}\{{([^}}]*)\}}", expr):
            labels = set(re.findall(r"(\w+)\s*[=!]~?", matchers)) - {"job", "instance"}
            assert labels <= LAB_METRICS[metric], (
                f"{where}: {metric} has labels {sorted(LAB_METRICS[metric])}, "
                f"the expression filters on {sorted(labels)}"
            )


# ---------------------------------------------------------------------------------------------
# A real Prometheus parses every expression
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=lambda v: str(v)[:60])
def test_prometheus_accepts_the_promql_expression(prometheus_server, where, expr):
    status, body = prometheus_server.query(concrete(expr))
    assert (status, body.get("status")) == (200, "success"), (
        f"{where}: Prometheus rejected {concrete(expr)!r}: {status} {body.get('error')}"
    )


def test_prometheus_rejects_a_broken_expression(prometheus_server):
    # Proves the check above can fail: a parse error comes back as 400 bad_data.
    status, body = prometheus_server.query("sum(rate(lab_step_success[5m])")
    assert (status, body.get("errorType")) == (400, "bad_data")
