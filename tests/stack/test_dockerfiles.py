"""The two images the stack builds follow the docker-stacks conventions (STYLE.md)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from stack_helpers import DOCKER_DIR

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
