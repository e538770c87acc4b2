"""`make stack-offline`: stand-in images from Debian packages for machines that reach no image
registry. The override may change `image:` lines only, so the run proves the stack's own wiring
(commands, healthchecks, mounts, init scripts). Not part of `make test`; docs/stack.md records a
run."""

from __future__ import annotations

import re
import subprocess

import yaml
from stack_helpers import COMPOSE_FILE, DOCKER_DIR, REPO

OFFLINE = DOCKER_DIR / "offline"
OVERRIDE = yaml.safe_load((OFFLINE / "compose.override.yml").read_text())
SERVICES = yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def test_the_override_swaps_only_image_lines_of_existing_services():
    for name, spec in OVERRIDE["services"].items():
        assert name in SERVICES, f"{name} is not a service of docker-compose.yml"
        assert list(spec) == ["image"], f"{name}: the override may set `image:` only, got {spec}"
        assert spec["image"].startswith("sandbox-offline/"), spec["image"]


def test_each_stand_in_has_a_dockerfile_on_the_imported_base():
    for name in OVERRIDE["services"]:
        dockerfile = OFFLINE / name / "Dockerfile"
        first = next(
            line for line in dockerfile.read_text().splitlines() if line.startswith("FROM")
        )
        assert first == "FROM sandbox-offline/debian:bookworm", f"{dockerfile}: {first}"


def test_build_script_imports_a_debootstrapped_base_and_builds_every_stand_in():
    script = (OFFLINE / "build.sh").read_text()
    assert "debootstrap --variant=minbase" in script and "docker import" in script
    assert subprocess.run(["bash", "-n", str(OFFLINE / "build.sh")]).returncode == 0


def test_stack_offline_is_a_make_target_outside_make_test():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^stack-offline: .*## ", makefile, re.M), "expected a documented target"
    test_recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "offline" not in test_recipe, test_recipe
    docs = (REPO / "docs" / "stack.md").read_text()
    assert "make stack-offline" in docs
