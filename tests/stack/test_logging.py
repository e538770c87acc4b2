"""Logs: Alloy's pipeline (Docker socket -> Loki) and Loki's single-binary configuration."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from stack_helpers import COMPOSE_FILE, DOCKER_DIR, dashboard_queries

COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES = COMPOSE["services"]
ALLOY_FILE = DOCKER_DIR / "alloy" / "config.alloy"
ALLOY = ALLOY_FILE.read_text()
LOKI_FILE = DOCKER_DIR / "loki" / "config.yml"
LOKI = yaml.safe_load(LOKI_FILE.read_text())


def alloy_code() -> str:
    """The Alloy config without its (whole-line) // comments."""
    return "\n".join("" if line.strip().startswith("//") else line for line in ALLOY.splitlines())


def alloy_blocks() -> dict[str, str]:
    """'component.name "label"' -> body, for every top-level block."""
    code, blocks, index = alloy_code(), {}, 0
    for match in re.finditer(r'^([a-z_]+(?:\.[a-z_]+)+)\s+"([\w-]+)"\s*\{', code, re.M):
        if match.start() < index:
            continue
        depth, position = 0, match.end() - 1
        for position in range(match.end() - 1, len(code)):
            depth += {"{": 1, "}": -1}.get(code[position], 0)
            if depth == 0:
                break
        blocks[f"{match.group(1)}.{match.group(2)}"] = code[match.end() : position]
        index = position
    return blocks


def alloy_labels() -> set[str]:
    return set(re.findall(r'target_label\s*=\s*"(\w+)"', alloy_code()))


# ---------------------------------------------------------------------------------------------
# Alloy
# ---------------------------------------------------------------------------------------------


def test_alloy_config_has_balanced_braces():
    code = alloy_code()
    assert code.count("{") == code.count("}"), "unbalanced braces in config.alloy"


def test_alloy_pipeline_has_discovery_source_and_writer():
    kinds = {name.rsplit(".", 1)[0] for name in alloy_blocks()}
    expected = {"discovery.docker", "discovery.relabel", "loki.source.docker", "loki.write"}
    assert expected <= kinds, f"config.alloy: missing {sorted(expected - kinds)}; has {kinds}"


def test_alloy_source_reads_discovered_containers_and_forwards_to_loki():
    blocks = alloy_blocks()
    source = next(body for name, body in blocks.items() if name.startswith("loki.source.docker."))
    docker = next(n for n in blocks if n.startswith("discovery.docker."))
    relabel = next(n for n in blocks if n.startswith("discovery.relabel."))
    writer = next(n for n in blocks if n.startswith("loki.write."))
    expected = {
        "targets": f"{docker}.targets",
        "relabel_rules": f"{relabel}.rules",
        "forward_to": f"[{writer}.receiver]",
    }
    actual = {
        key: re.search(rf"^\s*{key}\s*=\s*(.+?)\s*$", source, re.M).group(1) for key in expected
    }
    assert actual == expected


def test_alloy_talks_to_the_mounted_docker_socket_and_to_loki():
    blocks = alloy_blocks()
    hosts = set(re.findall(r'host\s*=\s*"([^"]+)"', alloy_code()))
    assert hosts == {"unix:///var/run/docker.sock"}, hosts
    mounted = {v.split(":")[1] for v in SERVICES["alloy"]["volumes"]}
    assert "/var/run/docker.sock" in mounted
    writer = next(body for name, body in blocks.items() if name.startswith("loki.write."))
    assert 'url = "http://loki:3100/loki/api/v1/push"' in writer


def test_alloy_collects_only_this_compose_project():
    expected = f'"com.docker.compose.project={COMPOSE["name"]}"'
    assert expected in alloy_code(), f"config.alloy: expected a filter on {expected}"


@pytest.mark.parametrize(("where", "expr"), dashboard_queries("loki"), ids=lambda v: str(v)[:50])
def test_loki_queries_filter_on_labels_alloy_sets(where, expr):
    selectors = re.findall(r"\{([^}]*)\}", expr)
    assert selectors, f"{where}: expected a stream selector in {expr!r}"
    for selector in selectors:
        labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
        assert labels <= alloy_labels(), (
            f"{where}: filters on {sorted(labels - alloy_labels())}, "
            f"Alloy sets {sorted(alloy_labels())}"
        )
        # Loki needs one matcher that cannot match the empty string.
        assert re.search(r'\w+\s*=\s*"[^"]+"', selector), (
            f"{where}: expected an equality matcher with a value in {{{selector}}}"
        )


def test_alloy_binary_formats_the_config_when_installed(tmp_path):
    alloy = shutil.which("alloy")
    if not alloy:
        pytest.skip("`alloy` is not installed (not packaged by Debian); checked structurally")
    result = subprocess.run([alloy, "fmt", str(ALLOY_FILE)], capture_output=True, text=True)
    assert result.returncode == 0, f"alloy fmt:\n{result.stderr}"


# ---------------------------------------------------------------------------------------------
# Loki
# ---------------------------------------------------------------------------------------------


def test_loki_runs_single_tenant_on_the_published_port():
    assert LOKI["auth_enabled"] is False
    port = LOKI["server"]["http_listen_port"]
    assert f"127.0.0.1:{port}:{port}" in SERVICES["loki"]["ports"]


def test_loki_stores_everything_in_its_named_volume():
    volume = next(v.split(":")[1] for v in SERVICES["loki"]["volumes"] if v.startswith("loki-data"))
    paths = {
        "path_prefix": LOKI["common"]["path_prefix"],
        "chunks": LOKI["common"]["storage"]["filesystem"]["chunks_directory"],
        "rules": LOKI["common"]["storage"]["filesystem"]["rules_directory"],
        "compactor": LOKI["compactor"]["working_directory"],
    }
    outside = {key: path for key, path in paths.items() if not path.startswith(volume)}
    assert not outside, f"expected every path under {volume}; outside: {outside}"


def test_loki_uses_the_tsdb_v13_schema_on_the_filesystem():
    schema = LOKI["schema_config"]["configs"][-1]
    actual = (schema["store"], schema["schema"], schema["object_store"])
    assert actual == ("tsdb", "v13", "filesystem")


def test_loki_retention_is_enabled_with_a_delete_store():
    actual = (
        LOKI["compactor"]["retention_enabled"],
        LOKI["compactor"].get("delete_request_store"),
        LOKI["limits_config"]["retention_period"],
    )
    assert actual == (True, "filesystem", "168h")


def test_loki_binary_verifies_the_config_when_a_3x_binary_is_installed():
    loki = shutil.which("loki")
    if not loki:
        pytest.skip("`loki` is not installed; checked structurally")
    version = subprocess.run([loki, "-version"], capture_output=True, text=True).stdout
    if not re.search(r"version 3\.", version):
        pytest.skip(f"installed loki is too old for Loki 3 config keys: {version.splitlines()[:1]}")
    result = subprocess.run(
        [loki, "-verify-config", f"-config.file={LOKI_FILE}"], capture_output=True, text=True
    )
    assert result.returncode == 0, f"loki -verify-config:\n{result.stderr}"
