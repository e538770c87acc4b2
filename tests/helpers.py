"""Plain helpers the tests share (fixtures live in conftest.py).

- `free_port()`: a TCP port on 127.0.0.1 that nothing listens on.
- `scratch_database(server, prefix)`: a PostgreSQL database for a block, dropped afterwards.
- `json_server(answer)`: a local HTTP server answering every GET with JSON.
- `serving(args, port)`: a server process until the block ends; `pushgateway_server(folder)`.
- `abort_with_stacks(pid)`: a hung Python process (and its children) dumps its stacks and ends.
- `copy_in_place(template, base, parse_cache)`: a fresh copy of a sandbox where the last one was,
  keeping dbt's parse cache.
- `jupyterlab_server(site, port, log_dir, sandbox)`: JupyterLab on a sandbox, as `make lab` starts it;
  `running_jupyterlab(args, env, port, token, log_path)`: any JupyterLab command, started and stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lab.transform import PARSE_CACHE

PUSHGATEWAY = Path("/usr/bin/prometheus-pushgateway")  # Debian's prometheus-pushgateway
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
JUPYTER_TOKEN = "test-token"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for servers, or to be unreachable)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def scratch_database(server: dict, prefix: str, name: str | None = None) -> Iterator[str]:
    """Create `<prefix>_<random>` on the server, yield its URL, drop it (WITH (FORCE)) after.

    `name`: that name instead, for a database made again under the same name (one left from
    an interrupted run is dropped first).
    """
    import psycopg

    name = name or f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**server, dbname="postgres", autocommit=True) as con:
        con.execute(f'drop database if exists "{name}" with (force)')
        con.execute(f'create database "{name}"')
    try:
        yield f"postgresql://{server['user']}@{server['host']}:{server['port']}/{name}"
    finally:
        with psycopg.connect(**server, dbname="postgres", autocommit=True) as con:
            con.execute(f'drop database if exists "{name}" with (force)')


Answer = Callable[[str, dict[str, str]], tuple[int, object]]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Poll `url` until it answers 200; fail with the process output if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# dbt's partial-parse cache under a state's home (lab.config's dbt_target_dir).
DBT_PARSE_CACHE = Path("dbt") / "target" / PARSE_CACHE


def copy_in_place(template: Path, base: Path, parse_cache: Path) -> Path:
    """Make `base` a fresh copy of `template`, keeping dbt's parse cache (`parse_cache`, under
    `base`) from the copy that was there before.

    dbt keys that cache on the profile, and the DuckDB profile names the warehouse file's path:
    a copy in a new folder parses the whole project again (~2.5 s of CPU here, in each test's
    first dbt call), a copy in the same folder does not. The cache cannot hide a change: dbt
    checks every project file's checksum against it and parses what differs.
    """
    kept = (base / parse_cache).read_bytes() if (base / parse_cache).is_file() else None
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(template, base, symlinks=True)
    if kept is not None:
        (base / parse_cache).parent.mkdir(parents=True, exist_ok=True)
        (base / parse_cache).write_bytes(kept)
    return base


def abort_with_stacks(pid: int, wait: float = 3.0) -> None:
    """Make a hung Python process and its children write every thread's stack to their stderr
    and end: SIGABRT, which Python's faulthandler turns into a traceback dump when the process
    runs with PYTHONFAULTHANDLER=1. Children first, one at a time, so the dumps do not mix; no
    core file is written."""
    import psutil

    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        with contextlib.suppress(psutil.Error):
            proc.rlimit(psutil.RLIMIT_CORE, (0, 0))
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=wait)


@contextlib.contextmanager
def serving(args: list[str], port: int, ready_path: str = "/-/ready") -> Iterator[str]:
    """Run a server bound to 127.0.0.1:`port` until the block ends; yield its base URL."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base_url}{ready_path}", process)
        yield base_url
    finally:
        stop(process)


@contextlib.contextmanager
def pushgateway_server(folder: Path) -> Iterator[str]:
    """Debian's Pushgateway on a free 127.0.0.1 port, persisting into `folder`; yields its URL.

    Debian's default persistence file is shared by every Pushgateway on the machine: an
    earlier run's groups would come back. Each test server gets its own.
    """
    port = free_port()
    args = [
        str(PUSHGATEWAY),
        f"--web.listen-address=127.0.0.1:{port}",
        f"--persistence.file={folder / 'pushgateway.data'}",
    ]
    with serving(args, port) as url:
        yield url


@dataclass
class JsonServer:
    """A running `json_server`: its base URL, the answers by path (when it has no `answer`
    function) and every request's path and query parameters, in order."""

    url: str = ""
    answers: dict[str, tuple[int, object]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, object]:
        return self.answers.get(path, (404, {"status": "error", "error": "no such path"}))


@contextlib.contextmanager
def json_server(answer: Answer | None = None) -> Iterator[JsonServer]:
    """Serve every GET on 127.0.0.1 as JSON: `answer(path, params) -> (status, body)`, or else
    what the yielded server's `answers[path]` holds (404 for a path it does not hold)."""
    served = JsonServer()
    answer = answer or served.answer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query))
            served.seen.append((url.path, params))
            status, body = answer(url.path, params)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def running_jupyterlab(
    args: list[str], env: dict[str, str], port: int, token: str, log_path: Path
) -> Iterator[str]:
    """JupyterLab started with `args` and `env`, its output in `log_path`: waits (90 s) until it
    answers on 127.0.0.1:`port`, yields its base URL, and stops its process group afterwards."""
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail("JupyterLab did not answer:\n" + log_path.read_text()[-3000:])
                    time.sleep(0.5)
            yield base
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=20)


@contextlib.contextmanager
def jupyterlab_server(
    site: Path, port: int, log_dir: Path, sandbox: dict[str, str]
) -> Iterator[str]:
    """JupyterLab serving `site` on 127.0.0.1:`port` with the sandbox whose environment is
    `sandbox` (the `lesson_sandbox` fixture's: a fresh one, as `make lab` starts it; token
    JUPYTER_TOKEN); yields its base URL and stops its process group afterwards."""
    from lab.cli.tools import jupyter_command, jupyter_settings

    args = jupyter_command(
        port, ["--no-browser", f"--ServerApp.token={JUPYTER_TOKEN}"], root_dir=site
    )
    env = {**os.environ, **sandbox, **jupyter_settings(), "JUPYTER_RUNTIME_DIR": str(log_dir)}
    with running_jupyterlab(args, env, port, JUPYTER_TOKEN, log_dir / "jupyter.log") as base:
        yield base


def run_all_cells(page, url: str, title: str) -> None:
    """Open `url` in a JupyterLab page, wait for the heading `title` and an idle kernel, then
    choose Run > Run All Cells (a Playwright page, as the `chromium` fixture gives)."""
    page.goto(url)
    page.locator(".jp-RenderedMarkdown h1", has_text=title).first.wait_for(timeout=60_000)
    page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)
    page.locator(".jp-RenderedMarkdown h1").first.click()
    page.get_by_role("menuitem", name="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells").first.click()


def run_nbval(
    notebooks: Path,
    env: dict[str, str],
    sanitize: Path | None = None,
    timeout: float = 900,
    plugins: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    """nbval over a lesson notebook or the lessons' folder, in a subprocess with `env` added
    (and `plugins`, modules of this checkout, loaded with -p)."""
    import sys

    root = Path(__file__).resolve().parents[1]
    sanitize = sanitize or root / "tests" / "notebooks" / "sanitize.cfg"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "-p",
            "no:cacheprovider",
            "-q",
            "--nbval-sanitize-with",
            str(sanitize),
            *(arg for plugin in plugins for arg in ("-p", plugin)),
            "--rootdir",
            str(root / "notebooks"),
            str(notebooks),
        ],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
