"""The hosted-runner workflow that proves the stack, the Dev Container, and `make clean YES=1`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest
import yaml
from stack_helpers import REPO

from lab.config import get_settings

WORKFLOW = REPO / ".github" / "workflows" / "stack.yml"
DEVCONTAINER = REPO / ".devcontainer" / "devcontainer.json"


def workflow_steps() -> list[dict]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    return job["steps"]


def test_workflow_runs_up_then_smoke_then_always_clean_without_waiting():
    runs = [step.get("run", "") for step in workflow_steps()]
    index = {
        command: next((i for i, run in enumerate(runs) if run.strip() == command), None)
        for command in ("make up", "make smoke", "make clean YES=1")
    }
    assert None not in index.values(), f"expected each command as a step; steps: {runs}"
    assert index["make up"] < index["make smoke"] < index["make clean YES=1"], index
    clean = workflow_steps()[index["make clean YES=1"]]
    assert clean.get("if") == "always()", f"make clean must run even after a failure: {clean}"


def test_workflow_runs_on_a_hosted_runner_with_the_projects_python():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu-"), job["runs-on"]
    assert job["timeout-minutes"] <= 90, job["timeout-minutes"]
    python = next(
        s["with"]["python-version"] for s in job["steps"] if "setup-python" in s.get("uses", "")
    )
    requires = re.search(r'requires-python = "([^"]+)"', (REPO / "pyproject.toml").read_text())
    assert python == "3.11" and ">=3.11" in requires.group(1), (python, requires.group(1))
    triggers = workflow.get("on") or workflow.get(True)  # YAML 1.1 reads `on` as True
    assert "workflow_dispatch" in triggers and "docker-compose.yml" in triggers["push"]["paths"]


def test_devcontainer_runs_make_lab_on_the_local_profile_and_forwards_its_ports():
    config = json.loads(DEVCONTAINER.read_text())
    assert config["containerEnv"]["LAB_PROFILE"] == "local"
    assert config["postCreateCommand"].startswith("make env"), config["postCreateCommand"]
    assert config["postAttachCommand"].startswith("make lab"), config["postAttachCommand"]
    makefile = (REPO / "Makefile").read_text()
    lab_port = int(re.search(r"^PORT\s*\?=\s*(\d+)", makefile, re.M).group(1))
    expected = [lab_port, get_settings().airflow_port]
    assert config["forwardPorts"] == expected, (
        f"expected JupyterLab's and Airflow's ports {expected}, got {config['forwardPorts']}"
    )
    assert set(config["portsAttributes"]) == {str(p) for p in expected}
    assert re.search(r"python:1-3\.11-", config["image"]), config["image"]


@pytest.mark.parametrize(("yes", "at_least", "at_most"), [("1", 0, 4), ("", 5, 30)])
def test_make_clean_waits_5_s_unless_yes(yes, at_least, at_most):
    make = shutil.which("make")
    if make is None:
        pytest.skip("`make` is not installed")
    started = time.monotonic()
    result = subprocess.run(
        [
            make,
            "--no-print-directory",
            "-C",
            str(REPO),
            "clean",
            f"YES={yes}",
            "COMPOSE=echo compose",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "compose --profile celery down --volumes --remove-orphans" in result.stdout
    assert at_least <= took <= at_most, (
        f"YES={yes!r}: expected {at_least}-{at_most} s, took {took:.1f}"
    )
