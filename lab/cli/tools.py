"""`lab jupyter`, `lab notebooks`, `lab dbt` and `lab airflow`: JupyterLab (`make lab`), the lesson
notebooks re-executed, dbt's command line on the sandbox, and Airflow on this machine
(`make airflow`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def jupyter_command(port: int, extra: list[str] | None = None, root_dir=None) -> list[str]:
    """The JupyterLab command `make lab` runs: local only, opening on the welcome lesson.

    It logs warnings and errors only; `lab jupyter` prints the one line a learner needs (the URL).
    """
    import shutil

    from lab.config import get_settings

    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",  # a busy port is an error, never a silent move to the next
        f"--ServerApp.root_dir={root_dir or get_settings().root}",
        "--LabApp.default_url=/lab/tree/notebooks/00_welcome.ipynb",
        # nothing fetched from the internet (the news prompt itself: see jupyter_settings)
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.log_level=WARN",
        "--LabApp.log_level=WARN",
    ]
    # The terminal's shell as the server's own environment left it (PATH from `jupyter_env`). Without
    # this, a server whose output is no terminal (a service, a container, a script) starts login
    # shells, and a login profile such as Debian's /etc/profile resets PATH.
    shell = os.environ.get("SHELL") or shutil.which("sh") or "/bin/sh"
    command.append(f"--ServerApp.terminado_settings=shell_command={[shell]!r}")
    if not _has_browser():  # a server or container: no "No web browser found" warning
        command.append("--ServerApp.open_browser=False")
    if os.geteuid() == 0:  # JupyterLab refuses root unless told; containers and CI often are
        command.append("--allow-root")
    return command + list(extra or [])


def _has_browser() -> bool:
    import webbrowser

    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


# The kernel JupyterLab starts: it logs errors only (ipykernel warns about plain TCP on every
# start, though the ports listen on 127.0.0.1 alone), and multiprocessing's resource tracker does
# not report the semaphores dbt's thread pools leave when a kernel is shut down.
KERNEL_LOG_LEVEL = "ERROR"


KERNEL_WARNINGS = "ignore::UserWarning:multiprocessing.resource_tracker"


def jupyter_settings() -> dict[str, str]:
    """JupyterLab's settings in the sandbox state: no news prompt, and a quiet python3 kernel."""
    import json

    from lab.config import get_settings

    home = get_settings().home
    folder = home / "jupyterlab" / "user-settings"
    notification = (
        folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    if not notification.exists():  # the learner's own choices, once made, are kept
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    data = home / "jupyter"
    kernel = data / "kernels" / "python3" / "kernel.json"
    kernel.parent.mkdir(parents=True, exist_ok=True)
    kernel.write_text(json.dumps(kernel_spec(data), indent=1))
    jupyter_path = os.environ.get("JUPYTER_PATH", "")
    return {
        "JUPYTERLAB_SETTINGS_DIR": str(folder),
        "JUPYTERLAB_WORKSPACES_DIR": str(folder.parent / "workspaces"),
        # first on the path: this python3 kernel wins over the environment's own
        "JUPYTER_PATH": os.pathsep.join(p for p in (str(data), jupyter_path) if p),
    }


def jupyter_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment JupyterLab runs in: `base` (the process's own) with its settings, and
    this Python environment's `bin` first on PATH, so that `lab`, `dbt` and `python` in its
    terminals and `!` commands are the sandbox's, as after `source .venv/bin/activate`."""
    env = dict(os.environ if base is None else base)
    env.update(jupyter_settings())
    bin_dir = str(Path(sys.executable).parent)
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    env["PATH"] = os.pathsep.join([bin_dir, *rest])
    if sys.prefix != sys.base_prefix:  # a virtual environment, as `activate` says it
        env["VIRTUAL_ENV"] = sys.prefix
    return env


def kernel_spec(data_dir: Path | None = None) -> dict:
    """The python3 kernel of this environment, quiet about what is not the learner's concern.

    With `data_dir` (where this spec is written), the kernel's JUPYTER_PATH starts there, so a
    kernel it starts in turn (papermill in exercise 05) is this quiet one too: else ipykernel
    writes "Kernel is running over TCP without encryption" into the learner's cell. Benign here:
    the kernel listens on 127.0.0.1 only, its messages are signed with a key only its starter
    holds, and the sandbox has one user.
    """
    env = {"PYTHONWARNINGS": KERNEL_WARNINGS}
    if data_dir is not None:
        env["JUPYTER_PATH"] = str(data_dir)
    return {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            f"--IPKernelApp.log_level={KERNEL_LOG_LEVEL}",
        ],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "env": env,
        "metadata": {"debugger": True},
    }


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (what JupyterLab is about to bind)."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _token(extra: list[str]) -> tuple[str, list[str]]:
    """The token the learner gave (`--ServerApp.token=...`), or a new one passed to JupyterLab."""
    import secrets

    for option in extra:
        for name in ("--ServerApp.token=", "--IdentityProvider.token="):
            if option.startswith(name):
                return option.removeprefix(name), []
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    return token, [f"--IdentityProvider.token={token}"]


def _prepare_in_a_child() -> None:
    """`lab setup` in a process of its own, printing one line; its own words when it fails.

    A child, because the JupyterLab started next replaces this process (execve) without the
    interpreter's exit: the locks dbt creates would be reported as leaked semaphores.
    """
    import subprocess

    t0 = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "lab.cli", "setup"], capture_output=True, text=True
    )
    if result.returncode:
        print("failed:", flush=True)
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(result.returncode)
    print(f"done in {time.perf_counter() - t0:.0f} s.", flush=True)


def cmd_jupyter(args) -> int:
    from lab import sandbox
    from lab.errors import ConfigError

    if not port_is_free(args.port):
        raise ConfigError(
            f"Port {args.port} on 127.0.0.1 is in use, probably by another JupyterLab. "
            f"Fix: make lab PORT={args.port + 1} (or `lab jupyter --port {args.port + 1}`), "
            "or stop the program that holds it."
        )
    print("Preparing the sandbox ...", end=" ", flush=True)
    if sandbox.is_prepared():
        print("ready.", flush=True)
    else:
        _prepare_in_a_child()
    env = jupyter_env()  # for JupyterLab only: this process is replaced
    token, token_option = _token(args.extra)
    command = jupyter_command(args.port, [*token_option, *args.extra])
    print(
        f"Starting JupyterLab at http://127.0.0.1:{args.port}/lab?token={token} "
        "(open it in your browser; Ctrl-C stops it)",
        flush=True,
    )
    os.execve(command[0], command, env)
    return 0  # pragma: no cover - execve does not return


def cmd_notebooks(args) -> int:
    from lab.sandbox import notebooks

    for path in notebooks.refresh(args.names or None):
        print(f"refreshed {path}")
    return 0


def cmd_airflow(args) -> int:
    from lab.airflow import local as airflow_local

    if args.airflow_command == "start":
        return airflow_local.standalone(port=args.port)
    return airflow_local.run_cli(args.args)


def cmd_dbt(args) -> int:
    from lab import transform

    return transform.command_line(args.args)
