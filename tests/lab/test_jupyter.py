"""`make lab` / `lab jupyter`: a busy port is refused, JupyterLab and its kernels stay quiet."""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import webbrowser
from pathlib import Path

import pytest

from lab.cli.tools import jupyter_command, jupyter_settings

ROOT = Path(__file__).resolve().parents[2]
LAB = Path(sys.executable).parent / "lab"
NOISE = ("without encryption", "leaked semaphore", "No web browser found")


@pytest.fixture
def busy_port():
    """A port something listens on, as another JupyterLab would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_lab_jupyter_refuses_a_busy_port_in_one_sentence(busy_port):
    result = subprocess.run(
        [str(LAB), "jupyter", "--port", str(busy_port)], capture_output=True, text=True, timeout=60
    )
    expected = f"error: Port {busy_port} on 127.0.0.1 is in use, probably by another JupyterLab."
    assert result.returncode == 1, f"expected exit 1, got {result.returncode}: {result.stderr}"
    assert result.stderr.startswith(expected), f"expected {expected!r}, got {result.stderr!r}"
    assert f"make lab PORT={busy_port + 1}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Preparing" not in result.stdout, result


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_on_a_busy_port_says_so_and_names_the_fix(busy_port):
    result = subprocess.run(
        ["make", "-s", "lab", f"PORT={busy_port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0, f"expected make lab to fail on a busy port: {result.stdout}"
    assert f"Port {busy_port} on 127.0.0.1 is in use" in result.stderr, result.stderr
    assert f"make lab PORT={busy_port + 1}" in result.stderr, result.stderr


def test_jupyterlab_never_moves_to_another_port_on_its_own():
    command = jupyter_command(8888)
    assert "--ServerApp.port_retries=0" in command, command


def test_jupyterlab_does_not_look_for_a_browser_where_there_is_none():
    try:
        webbrowser.get()
        has_browser = True
    except webbrowser.Error:
        has_browser = False
    command = jupyter_command(8888)
    assert ("--ServerApp.open_browser=False" in command) == (not has_browser), (
        f"browser found: {has_browser}; command: {command}"
    )


def test_make_help_lists_every_documented_target_in_aligned_columns():
    result = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True)
    lines = result.stdout.splitlines()
    documented = re.findall(r"^([a-z-]+):.*## ", (ROOT / "Makefile").read_text(), re.MULTILINE)
    names = [line.split()[1] for line in lines]
    assert names == documented, f"expected {documented}, got {names}"
    starts = {len(re.match(r"  make \S+\s+", line).group(0)) for line in lines}
    assert len(starts) == 1, "descriptions start at different columns:\n" + result.stdout


def test_the_kernel_jupyterlab_starts_prints_no_transport_warning(tmp_path):
    from jupyter_client.manager import KernelManager

    env = jupyter_settings()
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        manager = KernelManager(kernel_name="python3")
        assert manager.kernel_spec.argv[0] == sys.executable, manager.kernel_spec.argv
        log = open(tmp_path / "kernel.log", "w")
        manager.start_kernel(stdout=log, stderr=log)
        client = manager.blocking_client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive("1 + 1", timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        client.stop_channels()
        manager.shutdown_kernel()
        time.sleep(1)
        log.close()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    text = (tmp_path / "kernel.log").read_text()
    assert not [n for n in NOISE if n in text], f"expected none of {NOISE} in:\n{text}"


def test_the_kernel_does_not_report_semaphores_dbt_leaves_behind():
    from lab.cli.tools import kernel_spec

    spec = kernel_spec()
    assert spec["env"]["PYTHONWARNINGS"] == (
        "ignore::UserWarning:multiprocessing.resource_tracker"
    ), spec


@pytest.mark.slow
def test_a_first_lab_jupyter_prints_one_line_a_phase_and_no_noise(free_port, tmp_path):
    """On an unprepared sandbox: prepare, start, answer, stop; nothing else on the terminal."""
    import signal
    import urllib.request

    out = open(tmp_path / "out.txt", "w")
    server = subprocess.Popen(
        [str(LAB), "jupyter", "--port", str(free_port)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while "Starting JupyterLab" not in (tmp_path / "out.txt").read_text():
            assert server.poll() is None and time.monotonic() < deadline, (
                tmp_path / "out.txt"
            ).read_text()
            time.sleep(0.5)
        token = re.search(r"token=(\w+)", (tmp_path / "out.txt").read_text()).group(1)
        while True:
            try:
                status = f"http://127.0.0.1:{free_port}/api/status?token={token}"
                urllib.request.urlopen(status, timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "out.txt").read_text()
                time.sleep(0.5)
    finally:
        server.terminate()  # JupyterLab alone, as Ctrl-C would stop it; its helpers then end
        try:
            server.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
        time.sleep(1)  # the resource tracker speaks after the last process holding it exits
        out.close()
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert re.fullmatch(r"Preparing the sandbox \.\.\. done in \d+ s\.", lines[0]), lines
    url = f"Starting JupyterLab at http://127.0.0.1:{free_port}/lab?token="
    assert lines[1].startswith(url), f"expected {url!r}..., got {lines[1]!r}"
    rest = [ln for ln in lines[2:] if "received signal 15, stopping" not in ln]
    assert not rest, "expected nothing more than the two lines, got:\n" + "\n".join(lines)
