"""The JupyterLab image runs the project's Python whatever docker-stacks' start.sh does.

docker-stacks' start.sh sources every before-notebook.d/*.sh hook in name order before it starts
JupyterLab; its own 10activate-conda-env.sh activates conda's base environment, which puts
/opt/conda/bin first on PATH. Without Docker these tests run the same steps in a shell: a stand-in
for conda's activation, then the project's hook; the kernel spec the image installs, with the same
command; and the container's healthcheck against a real JupyterLab server.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from stack_helpers import COMPOSE_FILE, DOCKER_DIR
from test_dockerfiles import instructions

JUPYTER_DIR = DOCKER_DIR / "jupyter"
DOCKERFILE = JUPYTER_DIR / "Dockerfile"
HOOK = JUPYTER_DIR / "before-notebook.d" / "20sandbox-venv.sh"
HEALTHCHECK = JUPYTER_DIR / "healthcheck.py"
VENV = Path(sys.prefix)
# The hook docker-stacks ships in the base image (images/docker-stacks-foundation).
CONDA_HOOK = "10activate-conda-env.sh"


def env_instructions() -> dict[str, str]:
    values = {}
    for op, args in instructions(DOCKERFILE):
        if op == "ENV":
            for word in shlex.split(args):
                name, _, value = word.partition("=")
                values[name] = value
    return values


def test_the_hook_is_copied_into_before_notebook_d_and_runs_after_condas():
    copies = [args for op, args in instructions(DOCKERFILE) if op == "COPY"]
    target = f"docker/jupyter/before-notebook.d/{HOOK.name} /usr/local/bin/before-notebook.d/"
    assert target in copies, f"expected COPY {target}; COPY lines: {copies}"
    assert sorted([CONDA_HOOK, HOOK.name]) == [CONDA_HOOK, HOOK.name], (
        f"run-hooks.sh sources in name order: {HOOK.name} must sort after {CONDA_HOOK}"
    )


def test_the_image_points_jupyter_at_the_projects_environment_first():
    env = env_instructions()
    actual = {key: env.get(key) for key in ("VIRTUAL_ENV", "JUPYTER_PATH")}
    assert actual == {"VIRTUAL_ENV": "/opt/venv", "JUPYTER_PATH": "/opt/venv/share/jupyter"}
    assert env["PATH"].startswith("/opt/venv/bin:"), env["PATH"]


def test_the_image_and_compose_check_the_kernels_interpreter():
    ops = instructions(DOCKERFILE)
    check = next(args for op, args in ops if op == "HEALTHCHECK")
    assert "sandbox-healthcheck.py" in check and "/opt/venv/bin/python" in check, check
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    test = compose["services"]["jupyter"]["healthcheck"]["test"]
    assert test == ["CMD", "/opt/venv/bin/python", "/usr/local/bin/sandbox-healthcheck.py"], test


def fake_conda(folder: Path) -> Path:
    """A `conda` whose `shell.bash hook` does what activating base does to PATH, and a
    conda `python`/`jupyter` that say so."""
    bin_dir = folder / "conda" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "python3", "jupyter"):
        tool = bin_dir / name
        tool.write_text("#!/bin/sh\necho conda\n")
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    conda = bin_dir / "conda"
    conda.write_text(f"#!/bin/sh\necho 'export PATH=\"{bin_dir}:$PATH\"'\n")
    conda.chmod(conda.stat().st_mode | stat.S_IXUSR)
    hooks = folder / "before-notebook.d"
    hooks.mkdir()
    (hooks / CONDA_HOOK).write_text('eval "$(conda shell.bash hook)"\n')
    (hooks / HOOK.name).write_text(HOOK.read_text())
    return hooks


def run_hooks(hooks: Path, env: dict[str, str]) -> list[str]:
    """Source the hooks in name order, as run-hooks.sh does, then say which tools PATH finds."""
    script = (
        f'for hook in "{hooks}"/*.sh; do source "$hook"; done\n'
        "command -v python; command -v jupyter; "
        "python -c 'import sys, lab; print(sys.prefix)'\n"
    )
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_after_condas_activation_the_hook_puts_the_projects_python_first(tmp_path):
    hooks = fake_conda(tmp_path)
    conda_bin = tmp_path / "conda" / "bin"
    env = {
        "PATH": f"{VENV / 'bin'}:{conda_bin}:/usr/bin:/bin",
        "VIRTUAL_ENV": str(VENV),
        "HOME": str(tmp_path),
    }
    python, jupyter, prefix = run_hooks(hooks, env)
    actual = (python, jupyter, prefix)
    expected = (str(VENV / "bin" / "python"), str(VENV / "bin" / "jupyter"), str(VENV))
    assert actual == expected, f"expected the project's python and jupyter, got {actual}"


def test_without_the_hook_conda_would_win(tmp_path):
    # The failure the hook prevents: conda's activation puts its bin first.
    hooks = fake_conda(tmp_path)
    (hooks / HOOK.name).unlink()
    conda_bin = tmp_path / "conda" / "bin"
    env = {
        "PATH": f"{VENV / 'bin'}:{conda_bin}:/usr/bin:/bin",
        "VIRTUAL_ENV": str(VENV),
        "HOME": str(tmp_path),
    }
    script = f'source "{hooks}/{CONDA_HOOK}"; command -v python'
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert result.stdout.strip() == str(conda_bin / "python"), result


def kernel_install_command() -> list[str]:
    """The image's `ipykernel install` command, as written in the Dockerfile."""
    run = next(
        args for op, args in instructions(DOCKERFILE) if op == "RUN" and "ipykernel install" in args
    )
    step = next(part for part in run.split("&&") if "ipykernel install" in part)
    return shlex.split(step)


def install_kernel(prefix: Path) -> dict:
    command = kernel_install_command()
    assert command[:4] == ["/opt/venv/bin/python", "-m", "ipykernel", "install"], command
    assert command[command.index("--prefix") + 1] == "/opt/venv", command
    assert command[command.index("--name") + 1] == "python3", command
    command[0] = sys.executable
    command[command.index("--prefix") + 1] = str(prefix)
    subprocess.run(command, check=True, capture_output=True)
    return json.loads((prefix / "share/jupyter/kernels/python3/kernel.json").read_text())


def test_the_kernel_spec_names_the_interpreter_by_its_absolute_path(tmp_path):
    spec = install_kernel(tmp_path / "venv")
    assert spec["argv"][0] == sys.executable, (
        f"expected argv[0] {sys.executable!r} (absolute, not resolved through PATH), "
        f"got {spec['argv']}"
    )


def test_jupyter_path_makes_any_server_use_that_kernel_spec(tmp_path):
    install_kernel(tmp_path / "venv")
    code = (
        "from jupyter_client.kernelspec import KernelSpecManager as M; import json; "
        "s = M().get_kernel_spec('python3'); print(json.dumps([s.resource_dir, s.argv[0]]))"
    )
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path / "venv/share/jupyter")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    resource_dir, interpreter = json.loads(result.stdout)
    expected_dir = str(tmp_path / "venv/share/jupyter/kernels/python3")
    assert (resource_dir, interpreter) == (expected_dir, sys.executable)


@pytest.fixture
def jupyter_server(tmp_path, free_port):
    """A real Jupyter server on 127.0.0.1 with the kernel folders JUPYTER_PATH names."""

    def start(jupyter_path: Path | None) -> str:
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
        env.pop("JUPYTER_PATH", None)
        if jupyter_path:
            env["JUPYTER_PATH"] = str(jupyter_path)
        command = [
            str(VENV / "bin" / "jupyter"),
            "server",
            "--no-browser",
            f"--port={free_port}",
            "--ip=127.0.0.1",
            "--IdentityProvider.token=secret",
            "--allow-root",
            f"--ServerApp.root_dir={tmp_path}",
        ]
        log = open(tmp_path / "server.log", "w")
        servers.append((subprocess.Popen(command, env=env, stdout=log, stderr=log), log))
        base = f"http://127.0.0.1:{free_port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and servers[-1][0].poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token=secret", timeout=2):
                    return base
            except OSError:
                time.sleep(0.3)
        pytest.fail("Jupyter server did not start:\n" + (tmp_path / "server.log").read_text())

    servers: list = []
    yield start
    for process, log in servers:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def healthcheck(base: str, virtual_env: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "JUPYTER_HEALTH_URL": base,
        "JUPYTER_TOKEN": "secret",
        "VIRTUAL_ENV": str(virtual_env),
    }
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.slow
def test_healthcheck_passes_only_when_the_kernel_is_the_projects_python(tmp_path, jupyter_server):
    install_kernel(tmp_path / "venv")
    base = jupyter_server(tmp_path / "venv/share/jupyter")
    ok = healthcheck(base, Path(sys.executable).parent.parent)
    assert ok.returncode == 0, ok.stderr
    wrong = healthcheck(base, Path("/opt/conda"))
    assert wrong.returncode != 0, wrong.stdout
    assert "expected /opt/conda/bin/python" in wrong.stderr, wrong.stderr
