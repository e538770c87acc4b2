"""A terminal opened in the JupyterLab `make lab` starts has the sandbox's `lab` on PATH."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lab.cli.tools import jupyter_command, jupyter_env
from tests.helpers import running_jupyterlab

TOKEN = "terminal-test-token"
BIN = Path(sys.executable).parent
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"  # what `make` passes on: no .venv/bin in it


def test_jupyter_env_puts_this_environment_first_on_path():
    env = jupyter_env({"PATH": f"{BARE_PATH}:{BIN}", "HOME": "/nowhere"})
    parts = env["PATH"].split(os.pathsep)
    assert parts[0] == str(BIN) and parts.count(str(BIN)) == 1, env["PATH"]
    assert parts[1:] == BARE_PATH.split(":"), env["PATH"]
    assert env["HOME"] == "/nowhere" and "JUPYTER_PATH" in env, env


@contextlib.contextmanager
def jupyterlab(port: int, tmp_path: Path):
    """JupyterLab as `lab jupyter` starts it, from a PATH without .venv/bin, its output in a file
    (no terminal: the case in which Jupyter would start login shells)."""
    base = {**os.environ, "PATH": BARE_PATH, "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    base.pop("VIRTUAL_ENV", None)
    args = jupyter_command(port, ["--no-browser", f"--IdentityProvider.token={TOKEN}"])
    with running_jupyterlab(args, jupyter_env(base), port, TOKEN, tmp_path / "jupyter.log") as url:
        yield url


async def terminal_output(url: str, command: str, marker: str) -> str:
    """Open a terminal as JupyterLab's File > New > Terminal does, type `command`, and return
    what the terminal printed up to `marker`."""
    from tornado.websocket import websocket_connect

    request = urllib.request.Request(f"{url}/api/terminals?token={TOKEN}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        name = json.loads(response.read())["name"]
    ws_url = url.replace("http", "ws", 1) + f"/terminals/websocket/{name}?token={TOKEN}"
    socket = await websocket_connect(ws_url)
    await socket.write_message(json.dumps(["stdin", command + "\r"]))
    text, deadline = "", time.monotonic() + 30
    while marker not in text and time.monotonic() < deadline:
        message = await asyncio.wait_for(socket.read_message(), timeout=30)
        if message is None:
            break
        kind, *content = json.loads(message)
        if kind == "stdout":
            text += content[0]
    socket.close()
    return text


@pytest.mark.slow
@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="no POSIX shell on this machine")
def test_a_terminal_in_jupyterlab_finds_the_sandbox_lab_command(tmp_path, free_port):
    with jupyterlab(free_port, tmp_path) as url:
        # the marker is computed by the shell, so the echo of the typed command does not match it
        text = asyncio.run(terminal_output(url, "command -v lab; echo done-$((40+2))", "done-42"))
    assert "done-42" in text, f"the terminal did not answer:\n{text}"
    assert str(BIN / "lab") in text, f"expected {BIN / 'lab'} on the terminal's PATH, got:\n{text}"
