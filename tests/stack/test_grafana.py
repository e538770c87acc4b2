"""Grafana: provisioned data sources and dashboards agree with each other and with the stack."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
import yaml
from stack_helpers import COMPOSE_FILE, DASHBOARDS_DIR, DOCKER_DIR

from lab.config import STEP_RUNS
from lab.observe import metrics
from lab.profiles import get_warehouse

SERVICES = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
PROVIDERS = yaml.safe_load(
    (DOCKER_DIR / "grafana" / "provisioning" / "dashboards" / "dashboards.yml").read_text()
)["providers"]
SQL_WORDS = {
    "select",
    "as",
    "from",
    "where",
    "order",
    "by",
    "desc",
    "asc",
    "limit",
    "and",
    "or",
    "not",
    "count",
    "distinct",
    "round",
    "numeric",
    "metric",
    "time",
    "group",
    "ops",
    "step_runs",
    "success",
    "runs",
    "failed",
}


def panels(dashboard):
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_the_three_dashboards_are_provisioned(dashboards):
    assert sorted(dashboards) == ["airflow.json", "logs.json", "pipeline-overview.json"]
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids), f"expected unique dashboard uids, got {uids}"


def test_data_sources_have_fixed_uids_and_point_at_stack_services(datasources):
    def host_port(url: str) -> str:
        return urlparse(url if "//" in url else f"//{url}").netloc

    actual = {ds["uid"]: (ds["type"], host_port(ds["url"])) for ds in datasources}
    expected = {
        "prometheus": ("prometheus", "prometheus:9090"),
        "loki": ("loki", "loki:3100"),
        "warehouse": ("grafana-postgresql-datasource", "postgres:5432"),
    }
    assert actual == expected


def test_warehouse_data_source_takes_its_credentials_from_the_environment(datasources):
    warehouse = next(ds for ds in datasources if ds["uid"] == "warehouse")
    actual = (warehouse["user"], warehouse["secureJsonData"]["password"])
    assert actual == ("$WAREHOUSE_DB_USER", "$WAREHOUSE_DB_PASSWORD")
    env = SERVICES["grafana"]["environment"]
    assert {"WAREHOUSE_DB_USER", "WAREHOUSE_DB_PASSWORD"} <= set(env), (
        f"grafana must receive the variables the data source expands; it gets {sorted(env)}"
    )


@pytest.mark.parametrize("name", ["airflow.json", "logs.json", "pipeline-overview.json"])
def test_every_panel_and_query_uses_a_provisioned_data_source(dashboards, datasources, name):
    provisioned = {ds["uid"]: ds["type"] for ds in datasources}
    for panel in panels(dashboards[name]):
        sources = [panel.get("datasource")] + [t.get("datasource") for t in panel["targets"]]
        for source in sources:
            assert source and source.get("uid") in provisioned, (
                f"{name} / {panel['title']}: expected a datasource uid in {sorted(provisioned)}, "
                f"got {source}"
            )
            assert source.get("type") == provisioned[source["uid"]], (
                f"{name} / {panel['title']}: uid {source['uid']} is of type "
                f"{provisioned[source['uid']]}, the panel says {source.get('type')}"
            )
        assert panel["targets"], f"{name} / {panel['title']}: expected at least one query"


@pytest.mark.parametrize("name", ["airflow.json", "logs.json", "pipeline-overview.json"])
def test_panel_ids_are_unique_and_variables_are_defined(dashboards, name):
    dashboard = dashboards[name]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids), f"{name}: duplicate panel ids {ids}"
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    for panel in panels(dashboard):
        for target in panel["targets"]:
            query = target.get("expr") or target.get("rawSql") or ""
            used = set(re.findall(r"\$\{?([A-Za-z]\w*)", query))
            assert used <= defined, (
                f"{name} / {panel['title']}: uses variables {sorted(used - defined)}, "
                f"defines {sorted(defined)}"
            )


def test_pipeline_overview_shows_runs_durations_rows_and_quality(dashboards):
    queries = " ".join(
        target.get("expr") or target.get("rawSql", "")
        for panel in panels(dashboards["pipeline-overview.json"])
        for target in panel["targets"]
    )
    expected = [
        "lab_step_success",
        "lab_step_duration_seconds",
        "lab_step_rows",
        "lab_quality_gate_success",
        "lab_quality_expectations",
        "lab_step_last_success_timestamp_seconds",
        "ops.step_runs",
    ]
    missing = [item for item in expected if item not in queries]
    assert not missing, f"pipeline overview: expected queries on {missing}"


@pytest.fixture
def step_runs_columns() -> set[str]:
    """The columns of ops.step_runs as `lab.observe.metrics` creates it (in this test's sandbox)."""
    metrics.ensure_table()
    return set(get_warehouse().query(f"select * from {STEP_RUNS} limit 0").columns)


def test_warehouse_queries_use_only_columns_of_ops_step_runs(dashboards, step_runs_columns):
    for dashboard in dashboards.values():
        for panel in panels(dashboard):
            for target in panel["targets"]:
                sql = target.get("rawSql")
                if not sql:
                    continue
                assert "from ops.step_runs" in sql.lower(), f"{panel['title']}: {sql}"
                # Drop Grafana macros ($__timeFilter) and quoted literals, keep identifiers.
                bare = re.sub(r"\$__\w+|'[^']*'|\"[^\"]*\"", "", sql.lower())
                words = set(re.findall(r"[a-z_]+", bare))
                unknown = words - step_runs_columns - SQL_WORDS
                assert not unknown, (
                    f"{panel['title']}: {sorted(unknown)} are not columns of {STEP_RUNS} "
                    f"{sorted(step_runs_columns)}"
                )


def test_dashboards_folder_is_mounted_where_the_provider_reads_it():
    mounts = dict(v.split(":")[:2] for v in SERVICES["grafana"]["volumes"])
    assert mounts.get("./docker/grafana/dashboards") == PROVIDERS[0]["options"]["path"]
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(PROVIDERS[0]["options"]["path"] + "/")
    assert (DASHBOARDS_DIR / home.rsplit("/", 1)[1]).exists(), f"home dashboard {home} is missing"
