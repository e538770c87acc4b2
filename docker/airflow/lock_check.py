"""Does this Python hold exactly the packages of the lock export? Run by the Airflow image's build.

    python lock_check.py requirements.txt                      check; exit 1 naming each mismatch
    python lock_check.py requirements.txt --extra-providers    print providers the lock lacks

`requirements.txt` is `uv export --frozen --no-dev` of uv.lock. Every package it pins for this
platform must be installed at that version (the versions the project's tests ran), and no Airflow
provider may be installed that the lock did not resolve (the base image's own). Other extra
packages (pip, the Dockerfile's `statsd`) are listed, not refused: `uv pip check` judges them.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROVIDER_PREFIX = "apache-airflow-providers-"


def pinned(requirements: Path) -> dict[str, str]:
    """name -> version of every `name==version` line whose marker holds on this Python."""
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        (spec,) = requirement.specifier
        pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def installed() -> dict[str, str]:
    return {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }


def compare(pins: dict[str, str], found: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(lock packages missing or at another version, providers not in the lock, other extras)"""
    wrong = [
        f"{name}=={version} (installed: {found.get(name, 'missing')})"
        for name, version in sorted(pins.items())
        if found.get(name) != version
    ]
    extra = sorted(set(found) - set(pins))
    providers = [name for name in extra if name.startswith(PROVIDER_PREFIX)]
    others = [f"{name}=={found[name]}" for name in extra if not name.startswith(PROVIDER_PREFIX)]
    return wrong, providers, others


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("requirements", type=Path)
    parser.add_argument("--extra-providers", action="store_true")
    args = parser.parse_args(argv)
    pins = pinned(args.requirements)
    wrong, providers, others = compare(pins, installed())
    if args.extra_providers:
        print("\n".join(providers))
        return 0
    if others:
        print(f"lock check: {len(others)} packages beyond the lock: {', '.join(others)}")
    problems = []
    if wrong:
        problems.append(f"not as the lock pins them: {', '.join(wrong)}")
    if providers:
        problems.append(f"Airflow providers the lock never resolved: {', '.join(providers)}")
    if problems:
        print(
            f"lock check FAILED ({sys.executable}): {'; '.join(problems)}. Fix: install with "
            f"`uv pip install --requirements {args.requirements}` and uninstall the providers "
            "named (`lock_check.py --extra-providers`), or add what is missing to pyproject.toml "
            "and run `uv lock`.",
            file=sys.stderr,
        )
        return 1
    print(f"lock check: all {len(pins)} locked packages installed at the locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
