"""statsd-exporter: the mapping of Airflow's StatsD names, and the Airflow dashboard's metrics."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from stack_helpers import COMPOSE_FILE, DASHBOARDS_DIR, DOCKER_DIR

MAPPING = yaml.safe_load((DOCKER_DIR / "statsd-exporter" / "mapping.yml").read_text())
SERVICES = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def mapped_names() -> set[str]:
    return {mapping["name"] for mapping in MAPPING["mappings"]}


@pytest.mark.parametrize("mapping", MAPPING["mappings"], ids=lambda m: m["match"])
def test_every_mapping_has_a_valid_name_and_uses_each_wildcard(mapping):
    assert METRIC_NAME.match(mapping["name"]), f"invalid Prometheus name {mapping['name']!r}"
    assert mapping["match"].startswith("airflow."), "Airflow sends its metrics with prefix airflow"
    wildcards = mapping["match"].count("*")
    used = {
        int(n)
        for value in (mapping.get("labels") or {}).values()
        for n in re.findall(r"\$(\d+)", str(value))
    }
    assert used == set(range(1, wildcards + 1)), (
        f"{mapping['match']}: expected labels for wildcards {list(range(1, wildcards + 1))}, "
        f"got {sorted(used)}"
    )


def test_mapping_file_is_the_one_the_exporter_loads():
    command = SERVICES["statsd-exporter"]["command"]
    assert "--statsd.mapping-config=/etc/statsd-exporter/mapping.yml" in command
    volumes = SERVICES["statsd-exporter"]["volumes"]
    assert "./docker/statsd-exporter:/etc/statsd-exporter:ro" in volumes


def test_airflow_sends_statsd_to_the_exporter():
    env = SERVICES["airflow-scheduler"]["environment"]
    actual = (
        env["AIRFLOW__METRICS__STATSD_HOST"],
        env["AIRFLOW__METRICS__STATSD_PORT"],
        env["AIRFLOW__METRICS__STATSD_PREFIX"],
    )
    assert actual == ("statsd-exporter", "9125", "airflow")
    assert "--statsd.listen-udp=:9125" in SERVICES["statsd-exporter"]["command"]


def test_airflow_dashboard_queries_only_mapped_or_exporter_metrics():
    dashboard = json.loads((DASHBOARDS_DIR / "airflow.json").read_text())
    timers = {m["name"] for m in MAPPING["mappings"] if m["name"].endswith("_seconds")}
    known = mapped_names() | {f"{name}_bucket" for name in timers}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            for metric in re.findall(r"\b(airflow_[a-z_]+)\b", target.get("expr", "")):
                assert metric in known, f"{panel['title']}: {metric} is not produced by mapping.yml"
