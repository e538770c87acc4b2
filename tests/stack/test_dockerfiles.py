"""The two images the stack builds follow the docker-stacks conventions (STYLE.md)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from stack_helpers import DOCKER_DIR, REPO

DOCKERFILES = sorted(DOCKER_DIR.glob("*/Dockerfile"))


def instructions(path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            joined.append(current.strip())
            current = ""
    return [(text.split(" ", 1)[0].upper(), text.split(" ", 1)[1]) for text in joined]


def test_the_stack_builds_jupyter_and_airflow_images():
    assert [p.parent.name for p in DOCKERFILES] == ["airflow", "jupyter"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_images_are_pinned(path):
    images = [args.split()[0] for op, args in instructions(path) if op == "FROM"]
    images += re.findall(r"--from=(\S+)", path.read_text())
    for image in images:
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest" and re.search(r"\d", tag), (
            f"{path.parent.name}: expected a pinned version tag, got {image!r}"
        )


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_shell_uses_pipefail(path):
    shells = [args for op, args in instructions(path) if op == "SHELL"]
    assert shells == ['["/bin/bash", "-o", "pipefail", "-c"]'], (
        f"{path.parent.name}: expected SHELL with pipefail, got {shells}"
    )


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_image_runs_as_a_non_root_user_with_a_healthcheck(path):
    ops = instructions(path)
    users = [args for op, args in ops if op == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), (
        f"{path.parent.name}: expected the last USER to be non-root, got {users}"
    )
    assert any(op == "HEALTHCHECK" for op, _ in ops), f"{path.parent.name}: expected a HEALTHCHECK"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_locked_dependencies_install_before_the_lab_package_is_copied(path):
    ops = instructions(path)
    copy_lock = next(i for i, (op, args) in enumerate(ops) if op == "COPY" and "uv.lock" in args)
    copy_lab = next(i for i, (op, args) in enumerate(ops) if op == "COPY" and "lab/" in args)
    install = next(i for i, (op, args) in enumerate(ops) if op == "RUN" and "--frozen" in args)
    assert copy_lock < install < copy_lab, (
        f"{path.parent.name}: expected COPY uv.lock ({copy_lock}) < locked install ({install}) "
        f"< COPY lab/ ({copy_lab}), so code changes do not reinstall dependencies"
    )


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_build_context_is_limited_by_a_dockerignore(path):
    ignore = path.with_name("Dockerfile.dockerignore")
    assert ignore.exists(), f"expected {ignore} (the build context is the whole repository)"
    lines = [line.strip() for line in ignore.read_text().splitlines()]
    assert "*" in lines, f"{ignore}: expected '*' (ignore all, then allow the needed files)"
    copied = {
        source.rstrip("/")
        for op, args in instructions(path)
        if op == "COPY" and "--from=" not in args
        for source in [word for word in args.split() if not word.startswith("--")][:-1]
    }
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert copied <= allowed, f"{ignore}: COPY needs {sorted(copied - allowed)}, not allowed"


def test_airflow_image_checks_its_dependencies_after_the_locked_install():
    ops = instructions(DOCKER_DIR / "airflow" / "Dockerfile")
    runs = [args for op, args in ops if op == "RUN"]
    install = next(i for i, args in enumerate(runs) if "--requirements" in args)
    text = runs[install]
    assert "uv pip check" in text, f"expected `uv pip check` in {text!r}"
    assert text.index("uv pip install") < text.index("uv pip check"), text


def test_the_lock_passes_the_dependency_check_the_image_runs():
    # The project's venv holds the same lock the image installs; `uv pip check` there is the
    # closest this machine gets to the image's check.
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    result = subprocess.run(
        [uv, "pip", "check", "--python", sys.executable], capture_output=True, text=True
    )
    assert result.returncode == 0, f"uv pip check failed:\n{result.stdout}{result.stderr}"


# --- the Airflow image holds exactly the lock ---------------------------------------------------

AIRFLOW_DOCKERFILE = DOCKER_DIR / "airflow" / "Dockerfile"
LOCK_CHECK = DOCKER_DIR / "airflow" / "lock_check.py"


def locked_versions() -> dict[str, str]:
    """name -> version of every package in uv.lock (one version each on this project)."""
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    return {
        package["name"]: package["version"] for package in lock["package"] if "version" in package
    }


def airflow_install_run() -> str:
    runs = [args for op, args in instructions(AIRFLOW_DOCKERFILE) if op == "RUN"]
    return next(args for args in runs if "uv export" in args)


def exported(tmp_path) -> Path:
    """The Dockerfile's own `uv export` command, run here against the repository's uv.lock."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    command = airflow_install_run().split("&&")[0].split()
    output = command.index("--output-file") + 1
    command[output] = str(tmp_path / "requirements.txt")
    assert command[:2] == ["uv", "export"], command
    result = subprocess.run(
        [uv, *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return tmp_path / "requirements.txt"


def export_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def run_lock_check(requirements: Path, *args: str, env: dict | None = None):
    return subprocess.run(
        [sys.executable, str(LOCK_CHECK), str(requirements), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_airflow_image_builds_on_the_slim_image_of_the_locked_airflow_and_python():
    (base,) = [args.split()[0] for op, args in instructions(AIRFLOW_DOCKERFILE) if op == "FROM"]
    requires = re.search(r'requires-python = ">=(\d+\.\d+)', (REPO / "pyproject.toml").read_text())
    expected = (
        f"apache/airflow:slim-{locked_versions()['apache-airflow']}-python{requires.group(1)}"
    )
    assert base == expected, (
        f"expected FROM {expected} (the slim image: no providers the lock never resolved), "
        f"got {base}"
    )


def test_airflow_image_installs_the_lock_export_checks_it_then_checks_compatibility():
    run = airflow_install_run()
    steps = [
        "uv export --frozen --no-dev",
        "--requirements /tmp/requirements.txt",
        "lock_check.py /tmp/requirements.txt --extra-providers",
        "uv pip uninstall",
        "python /tmp/lock_check.py /tmp/requirements.txt &&",
        "uv pip check",
    ]
    where = [run.find(step) for step in steps]
    assert -1 not in where and where == sorted(where), (
        f"expected, in this order: {steps}; found at {where} in {run!r}"
    )
    # Beyond the lock, only pinned packages (statsd) are installed.
    extras = re.findall(r'uv pip install --python "\$\(command -v python\)" "([^"]+)"', run)
    assert extras == ["statsd==4.0.1"], extras
    assert "providers-amazon" not in AIRFLOW_DOCKERFILE.read_text().split("FROM", 1)[1]


def test_the_export_the_image_installs_pins_every_package_at_its_locked_version(tmp_path):
    pins = export_pins(exported(tmp_path))
    lock = locked_versions()
    differ = {
        name: (version, lock.get(name))
        for name, version in pins.items()
        if lock.get(name) != version
    }
    assert not differ, f"export pin differs from uv.lock (export, lock): {differ}"
    providers = sorted(n for n in pins if n.startswith("apache-airflow-providers-"))
    locked_providers = sorted(n for n in lock if n.startswith("apache-airflow-providers-"))
    assert providers == locked_providers, (providers, locked_providers)
    assert "apache-airflow-providers-amazon" not in providers


def test_the_project_venv_passes_the_lock_check_the_image_runs(tmp_path):
    # The venv the tests run in is synced from the same lock: the image's check passes here.
    requirements = exported(tmp_path)
    result = run_lock_check(requirements)
    assert result.returncode == 0, result.stderr
    assert re.search(r"all \d+ locked packages installed at the locked versions", result.stdout)


def test_lock_check_names_a_package_at_another_version(tmp_path):
    requirements = exported(tmp_path)
    installed = export_pins(requirements)["pandas"]
    text = re.sub(r"^pandas==\S+", "pandas==0.0.1", requirements.read_text(), flags=re.M)
    requirements.write_text(text)
    result = run_lock_check(requirements)
    assert result.returncode == 1, result.stdout
    assert f"not as the lock pins them: pandas==0.0.1 (installed: {installed})" in result.stderr
    assert "Fix: install with `uv pip install --requirements" in result.stderr, result.stderr


def test_lock_check_removes_and_refuses_providers_the_lock_never_resolved(tmp_path):
    # A provider the full image ships, installed as a real distribution (its metadata).
    site = tmp_path / "site"
    dist = site / "apache_airflow_providers_amazon-9.14.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: apache-airflow-providers-amazon\nVersion: 9.14.0\n"
    )
    requirements = exported(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = run_lock_check(requirements, "--extra-providers", env=env)
    assert listed.stdout.split() == ["apache-airflow-providers-amazon"], listed
    result = run_lock_check(requirements, env=env)
    assert result.returncode == 1
    assert "Airflow providers the lock never resolved: apache-airflow-providers-amazon" in (
        result.stderr
    )
