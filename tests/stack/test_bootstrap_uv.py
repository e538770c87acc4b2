"""tools/bootstrap-uv.sh: `make env` gets a uv on Debian 12 / Ubuntu 24.04 hosts, whose Python
has no pip, or refuses `pip install` (PEP 668 "externally-managed-environment"), or lacks
ensurepip (no python3-venv). Each case runs the real script with a real Python of that kind,
on a PATH without uv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from stack_helpers import REPO

SCRIPT = REPO / "tools" / "bootstrap-uv.sh"
DEBIAN_PYTHON = Path("/usr/bin/python3")
# System folders only: no uv there, so the script has to find or make its own.
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def no_uv_on(path: str) -> str:
    found = shutil.which("uv", path=path)
    if found:
        pytest.skip(f"uv is installed system-wide ({found}); these tests need a PATH without it")
    return path


def bootstrap(tmp_path: Path, python: Path | str, path: str = SYSTEM_PATH, **env: str):
    environ = {
        "HOME": str(tmp_path),
        "PATH": path,
        "PYTHON": str(python),
        "UV_BOOTSTRAP_DIR": str(tmp_path / "uv-bootstrap"),
        # pip's own settings on this machine (index mirror, find-links), nothing else
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},
        **env,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, env=environ, timeout=300
    )


def assert_uv_runs(result: subprocess.CompletedProcess[str], folder: Path) -> Path:
    assert result.returncode == 0, f"expected a uv path, got:\n{result.stderr}"
    uv = Path(result.stdout.strip())
    assert uv.is_relative_to(folder), f"expected uv under {folder}, got {uv}"
    version = subprocess.run([str(uv), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("uv 0.13.9"), version
    return uv


def python_without_ensurepip(tmp_path: Path) -> Path:
    """A real CPython whose standard library lacks ensurepip: what Debian and Ubuntu ship until
    python3-venv is installed. Its stdlib is the running interpreter's, linked file by file."""
    stdlib = Path(sysconfig.get_path("stdlib"))
    source = Path(sys.executable).resolve()
    prefix = tmp_path / "python-without-venv"
    lib = prefix / "lib" / stdlib.name
    lib.mkdir(parents=True)
    (prefix / "bin").mkdir()
    python = prefix / "bin" / "python3"
    shutil.copy2(source, python)
    for entry in stdlib.iterdir():
        if entry.name != "ensurepip":
            (lib / entry.name).symlink_to(entry)
    check = subprocess.run([str(python), "-c", "import ensurepip"], capture_output=True, text=True)
    if check.returncode == 0 or "No module named 'ensurepip'" not in check.stderr:
        pytest.skip(f"could not build a Python without ensurepip from {source}: {check}")
    return python


def test_pip_install_is_refused_by_debians_python_as_the_old_makefile_ran_it(tmp_path):
    # The reported failure: the Makefile ran `python3 -m pip install uv` on the system Python.
    if not DEBIAN_PYTHON.exists() or not list(Path("/usr/lib").glob("python3*/EXTERNALLY-MANAGED")):
        pytest.skip("no PEP 668 system Python here (/usr/lib/python3*/EXTERNALLY-MANAGED)")
    result = subprocess.run(
        [str(DEBIAN_PYTHON), "-m", "pip", "install", "--dry-run", "uv"],
        capture_output=True,
        text=True,
        env={"PATH": SYSTEM_PATH, "HOME": str(tmp_path)},
    )
    assert result.returncode != 0 and "externally-managed-environment" in result.stderr, result


@pytest.mark.slow  # 8-13 s: a real install or server start-up
def test_bootstrap_with_debians_externally_managed_python_installs_uv(tmp_path):
    if not list(Path("/usr/lib").glob("python3*/EXTERNALLY-MANAGED")):
        pytest.skip("no PEP 668 system Python here")
    result = bootstrap(tmp_path, DEBIAN_PYTHON, no_uv_on(SYSTEM_PATH))
    uv = assert_uv_runs(result, tmp_path / "uv-bootstrap")
    assert "python3 -m venv + pip" in result.stderr, result.stderr
    again = bootstrap(tmp_path, DEBIAN_PYTHON)
    assert (again.returncode, again.stdout.strip(), again.stderr) == (0, str(uv), ""), (
        f"expected the second run to reuse {uv} silently: {again}"
    )


@pytest.mark.slow  # 8-13 s: a real install or server start-up
def test_bootstrap_with_a_python_that_has_no_pip_installs_uv(tmp_path):
    nopip = tmp_path / "python-without-pip"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(nopip)], check=True)
    python = nopip / "bin" / "python"
    check = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True)
    assert check.returncode != 0 and "No module named pip" in check.stderr, check
    assert_uv_runs(bootstrap(tmp_path, python, no_uv_on(SYSTEM_PATH)), tmp_path / "uv-bootstrap")


def test_bootstrap_without_ensurepip_names_the_apt_package(tmp_path):
    python = python_without_ensurepip(tmp_path)
    result = bootstrap(tmp_path, python, no_uv_on(SYSTEM_PATH))
    minor = "{}.{}".format(*sys.version_info[:2])
    assert result.returncode == 1 and result.stdout == "", result
    assert "cannot create a venv: its ensurepip module is missing" in result.stderr, result.stderr
    assert "Fix (Debian/Ubuntu): sudo apt-get install python3-venv" in result.stderr, result.stderr
    assert f"python{minor}-venv" in result.stderr, result.stderr
    assert "curl -LsSf https://astral.sh/uv/install.sh | sh" in result.stderr, result.stderr


def test_bootstrap_uses_the_uv_on_path(tmp_path):
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("no uv on PATH")
    result = bootstrap(tmp_path, "python3", f"{Path(uv).parent}:{SYSTEM_PATH}")
    assert (result.returncode, result.stdout.strip()) == (0, uv), result
    assert not (tmp_path / "uv-bootstrap").exists(), "expected nothing installed"


def test_make_env_bootstraps_uv_and_never_runs_the_system_pip():
    make = shutil.which("make")
    if make is None:
        pytest.skip("`make` is not installed")
    # -n: print the recipe without running it; -B: as if .venv were out of date.
    result = subprocess.run(
        [make, "--no-print-directory", "-C", str(REPO), "-n", "-B", ".venv/.synced"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "tools/bootstrap-uv.sh" in result.stdout, result.stdout
    assert "pip install" not in result.stdout, f"expected no system pip: {result.stdout}"
