"""docs/stack.md's "Images" table lists every image the stack pulls, builds on or builds, with
the evidence for its tag, and nothing else: the same images and tags as docker-compose.yml and
the Dockerfiles."""

from __future__ import annotations

import re

import pytest
import yaml
from stack_helpers import COMPOSE_FILE, DOCKER_DIR, STACK_DOC

BUILT_HERE = "data-engineering-sandbox/"


def documented() -> dict[str, str]:
    """image -> evidence, from the table under "### Images" in docs/stack.md."""
    text = STACK_DOC.read_text()
    section = text.split("### Images", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([^`]+)`", cells[0]) if len(cells) == 3 else None
        if match:
            rows[match.group(1)] = cells[2]
    return rows


def used() -> dict[str, str]:
    """image -> where: every `image:` of docker-compose.yml, every FROM and COPY --from."""
    found = {}
    for name, service in yaml.safe_load(COMPOSE_FILE.read_text())["services"].items():
        found.setdefault(service["image"], f"docker-compose.yml service {name}")
    for dockerfile in sorted(DOCKER_DIR.glob("*/Dockerfile")):
        text = dockerfile.read_text()
        for image in re.findall(r"^FROM\s+(\S+)", text, re.M) + re.findall(r"--from=(\S+)", text):
            found.setdefault(image, str(dockerfile.relative_to(DOCKER_DIR.parent)))
    return found


def test_the_images_table_lists_exactly_the_images_in_use():
    table, files = documented(), used()
    missing = {image: where for image, where in files.items() if image not in table}
    stale = sorted(set(table) - set(files))
    assert not missing and not stale, (
        f"docs/stack.md Images table: add {missing}; remove or update {stale} "
        "(the tag in the table must equal the one in the file)"
    )


@pytest.mark.parametrize("image", sorted(documented()))
def test_every_pulled_image_has_dated_evidence(image):
    evidence = documented()[image]
    if image.startswith(BUILT_HERE):
        assert evidence.startswith("built here"), f"{image}: {evidence!r}"
        return
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", evidence), (
        f"{image}: expected the date the tag was released or seen, in {evidence!r}"
    )


def test_the_bumped_pins_are_the_newest_confirmed():
    # Each was behind a confirmed newer release (see the table's evidence).
    images = set(used())
    expected = {
        "prom/statsd-exporter:v0.30.0",
        "prometheuscommunity/postgres-exporter:v0.20.1",
        "grafana/alloy:v1.19.2",
        "rustfs/rustfs:1.0.0",
    }
    assert expected <= images, sorted(expected - images)
