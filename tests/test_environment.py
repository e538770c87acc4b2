"""environment.yml (conda, Binder) declares exactly what pyproject.toml declares."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(project["project"]["dependencies"]) | set(project["dependency-groups"]["dev"])


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {r for r in pip if r != "-e ."}


def test_environment_yml_lists_the_same_requirements_as_pyproject():
    in_pyproject, in_env = _pyproject_requirements(), _environment_requirements()
    assert in_env == in_pyproject, (
        f"only in pyproject.toml: {sorted(in_pyproject - in_env)}; "
        f"only in environment.yml: {sorted(in_env - in_pyproject)}. "
        "Fix: copy the change into environment.yml."
    )


def test_environment_yml_uses_the_python_of_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"], env["dependencies"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["requires-python"].startswith(">=3.11")
