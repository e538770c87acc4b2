"""Shared fixtures: every test runs in its own sandbox state, never in the repository's.

- `lab_env` (autouse): LAB_HOME, LAB_RUNS_DIR and a copy of the GX project in a tmp dir,
  LAB_PROFILE=local, and no object-store, warehouse or Pushgateway settings.
- `require_server`: skip when a server a test needs is absent; fail instead when CI=true.
- `postgres_dsn`: a fresh database on the PostgreSQL server at 127.0.0.1:5432.
- `s3_server`: a moto S3 server on a free local port.
- `free_port`: a port nothing listens on; `chromium`: a headless browser (Playwright).
- `prepared_sandbox` / `sandbox_copy`: a sandbox after `lab.sandbox.prepare()`, a copy a
  module (the module's `PREPARED_HISTORY_DAYS` says how many days of history it needs) / a
  copy a test; each always in the same folder of its process (`copy_in_place`: dbt's parse
  stays valid).
- `prepared_templates` (session): `prepare()` runs once a test run (xdist workers share it)
  for each kind of state and number of history days; modules get copies (a copy takes
  ~0.1 s, a prepare 8-33 s on a busy 2-core machine).
- `lesson_walk` (session): the lesson notebooks executed in order under nbval on what
  `lab setup` prepares, once a test run, with the state after each (tests/lesson_walk.py).
- `lesson_sandbox`: what `make lab` and the lessons start from (lab.sandbox.notebooks'
  `fresh_sandbox()`: HISTORY_DAYS days of history), a private copy active for one test;
  yields its environment (for subprocesses and servers).

Plain helpers (free_port(), scratch_database(), json_server(), jupyterlab_server()) are in
tests/helpers.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DBT_PARSE_CACHE,
    copy_in_place,
    free_port,
    scratch_database,
)
from tests.lesson_walk import LessonWalk, walk

# Under pytest-xdist, the longest modules first (tests/module_order.py).
pytest_plugins = ["tests.module_order"]

REPO_ROOT = Path(__file__).resolve().parents[1]
GX_SOURCE = REPO_ROOT / "great_expectations" / "gx"
POSTGRES_SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}

# Settings that would point a test at a real server or at another state. They are blanked,
# not deleted: lab.config treats an empty variable as unset, and an empty variable in the
# environment also masks the same key in a developer's `.env`.
BLANKED_VARS = (
    "LAB_ROOT",
    "LAB_RAW_BUCKET",
    "LAB_ARTIFACTS_BUCKET",
    "WAREHOUSE_URL",
    "S3_ENDPOINT_URL",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "S3_REGION",
    "PUSHGATEWAY_URL",
    "PROMETHEUS_URL",
    "LOKI_URL",
)


@dataclass(frozen=True)
class LabPaths:
    """Where one isolated sandbox state lives."""

    base: Path
    home: Path
    runs_dir: Path
    gx_root: Path

    def apply(self, mp: pytest.MonkeyPatch) -> None:
        """Point lab.config at this state (profile local, no servers)."""
        for name in BLANKED_VARS:
            mp.setenv(name, "")
        mp.setenv("LAB_PROFILE", "local")
        mp.setenv("LAB_HOME", str(self.home))
        mp.setenv("LAB_RUNS_DIR", str(self.runs_dir))
        mp.setenv("LAB_GX_ROOT", str(self.gx_root))
        mp.setenv("GX_ANALYTICS_ENABLED", "false")


def lab_paths_in(base: Path) -> LabPaths:
    """The LabPaths of a state `make_lab_paths(base)` created (or a copy of one)."""
    return LabPaths(
        base=base, home=base / "home", runs_dir=base / "runs", gx_root=base / "great_expectations"
    )


def make_lab_paths(base: Path) -> LabPaths:
    """Create a state folder with a copy of the committed GX project (minus `uncommitted/`)."""
    paths = lab_paths_in(base)
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.runs_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(GX_SOURCE, paths.gx_root / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    return paths


@contextmanager
def using(paths: LabPaths) -> Iterator[LabPaths]:
    """Apply a state's environment for a block (for module-scoped fixtures)."""
    with pytest.MonkeyPatch.context() as mp:
        paths.apply(mp)
        yield paths


@pytest.fixture(scope="session")
def use_state() -> Callable[[LabPaths], contextlib.AbstractContextManager[LabPaths]]:
    """`with use_state(paths):` applies a state's environment inside module-scoped fixtures."""
    return using


# Where a learner's own files go in a checkout (git-ignored): a test must never write there.
LEARNER_FOLDERS = ("dbt/models/marts/exercises", "exercises/work")


def learner_files_in_checkout() -> set[str]:
    return {
        str(path.relative_to(REPO_ROOT))
        for folder in LEARNER_FOLDERS
        for path in (REPO_ROOT / folder).rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module", autouse=True)
def checkout_untouched() -> Iterator[None]:
    """A module that writes a learner's file into this checkout fails, naming the file: the
    learner's own work there must never be overwritten, nor the next test's dbt project changed."""
    before = learner_files_in_checkout()
    yield
    added = sorted(learner_files_in_checkout() - before)
    assert not added, f"this module wrote into the checkout's learner folders: {added}"


@pytest.fixture(autouse=True)
def lab_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LabPaths:
    """Every test gets its own LAB_HOME, runs folder and GX project, on the `local` profile."""
    paths = make_lab_paths(tmp_path / "lab")
    paths.apply(monkeypatch)
    monkeypatch.setattr("lab.config._chosen_profile", None)  # a lesson's choice ends with its test
    return paths


# --- servers -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def require_server() -> Callable[[str, bool, str], None]:
    """`require_server(name, reachable, reason)`: skip when absent; under CI=true, fail."""

    def require(name: str, reachable: bool, reason: str) -> None:
        if reachable:
            return
        message = f"{name} is not available: {reason}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: the server is required there)", pytrace=False)
        pytest.skip(message)

    return require


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for servers, or to be unreachable)."""
    return free_port()


@pytest.fixture(scope="session")
def _postgres_server(require_server) -> dict:
    """Probe the PostgreSQL server once a session."""
    import psycopg

    try:
        with psycopg.connect(**POSTGRES_SERVER, dbname="postgres", connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        require_server(
            "PostgreSQL", False, f"no server at 127.0.0.1:5432 ({str(exc).strip().splitlines()[0]})"
        )
    return POSTGRES_SERVER


@pytest.fixture
def postgres_dsn(_postgres_server: dict) -> Iterator[str]:
    """A fresh database `lab_test_<random>`; its URL; dropped (WITH (FORCE)) afterwards."""
    with scratch_database(_postgres_server, "lab_test") as url:
        yield url


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_server(_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A moto S3 server (empty for every test); yields its endpoint URL."""
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{_moto_server}/moto-api/reset", method="POST"), timeout=10
    ).close()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    return _moto_server


@pytest.fixture
def stack_lake(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The `stack` profile with its object store on the moto server; yields the endpoint."""
    monkeypatch.setenv("LAB_PROFILE", "stack")
    monkeypatch.setenv("S3_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("S3_ACCESS_KEY", "testing")
    monkeypatch.setenv("S3_SECRET_KEY", "testing")
    return s3_server


@pytest.fixture
def create_bucket(s3_server: str) -> Callable[[str], None]:
    """Create a bucket on the moto server without lab.lake (for tests about something else)."""
    import s3fs

    def create(bucket: str) -> None:
        fs = s3fs.S3FileSystem(
            key="testing", secret="testing", endpoint_url=s3_server, skip_instance_cache=True
        )
        fs.mkdir(bucket)

    return create


@pytest.fixture
def chromium(require_server):
    """Debian's Chromium, headless, driven by Playwright; closed afterwards."""
    require_server(
        "Chromium",
        Path(CHROMIUM).exists(),
        f"{CHROMIUM} is not installed (apt-get install chromium)",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- a prepared sandbox ---------------------------------------------------------------------


class PreparedTemplates:
    """Sandbox states prepared once a test run, by key; `copy()` gives a private copy.

    A prepared state holds no path that must match its folder (the warehouse records where
    a batch came from, as history only), so a copy in another folder works like the original.
    Under pytest-xdist the workers share the templates: the first to need one builds it while
    holding a lock, the others wait for it.
    """

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._factory = tmp_path_factory
        shared = tmp_path_factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):
            shared = shared.parent  # the run's folder, above each worker's own
        self._folder = shared / "prepared-templates"
        self._folder.mkdir(exist_ok=True)

    def path(self, key: tuple, name: str) -> Path:
        """Where the template of `key` is (or will be) built: its folder shows in the paths a
        prepared state records as history (a copy keeps them)."""
        return self._folder / "-".join(str(part) for part in (name, *key))

    def copy(
        self, key: tuple, build: Callable[[Path], None], name: str, in_place: str | None = None
    ) -> Path:
        """A fresh copy of the state `build(folder)` prepares, built the first time `key` is seen.

        With `in_place`, the copy replaces the last one this process made under that label and
        keeps dbt's parse (`copy_in_place`): for a copy whose user is done with it by then, as
        a module is with its `prepared_state` when the next module starts."""
        label = "-".join(str(part) for part in (name, *key))
        template = self.path(key, name)
        with open(self._folder / f"{label}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (template / ".built").exists():
                shutil.rmtree(template, ignore_errors=True)  # a build that failed half-way
                template.mkdir()
                build(template)
                (template / ".built").touch()
        if in_place is not None:
            base = self._factory.getbasetemp() / f"{in_place}-{label}"
            copy_in_place(template, base, Path("home") / DBT_PARSE_CACHE)
            (base / ".built").unlink()
            return base
        base = self._factory.mktemp(name)
        shutil.copytree(
            template,
            base,
            symlinks=True,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".built"),
        )
        return base


@pytest.fixture(scope="session")
def prepared_templates(tmp_path_factory: pytest.TempPathFactory) -> PreparedTemplates:
    return PreparedTemplates(tmp_path_factory)


def prepared_copy(templates: PreparedTemplates, days: int, in_place: str | None = None) -> LabPaths:
    """A private copy of `lab.sandbox.prepare(history_days=days)`, prepared once a test run
    (`in_place`: see `PreparedTemplates.copy`)."""

    def build(base: Path) -> None:
        from lab import sandbox

        paths = make_lab_paths(base)
        with using(paths):
            assert sandbox.prepare(history_days=days, say=lambda _: None), (
                f"expected prepare() to prepare a fresh state in {paths.home}, it said it was ready"
            )

    return lab_paths_in(templates.copy(("lab", days), build, "prepared", in_place))


@pytest.fixture(scope="module")
def prepared_state(request: pytest.FixtureRequest, prepared_templates) -> LabPaths:
    """A module's copy of `lab.sandbox.prepare()` for PREPARED_HISTORY_DAYS days (default 0),
    where this process's last module with as many days had its copy: dbt keeps its parse."""
    days = getattr(request.module, "PREPARED_HISTORY_DAYS", 0)
    return prepared_copy(prepared_templates, days, in_place="module")


@pytest.fixture
def prepared_sandbox(lab_env: LabPaths, prepared_state: LabPaths, monkeypatch) -> LabPaths:
    """The module's prepared sandbox, shared: for tests that only read it."""
    prepared_state.apply(monkeypatch)
    return prepared_state


@pytest.fixture
def sandbox_copy(
    lab_env: LabPaths, prepared_state: LabPaths, monkeypatch, tmp_path_factory
) -> LabPaths:
    """A private copy of the module's prepared sandbox: for tests that change it. Each test
    of this process gets it in the same folder (see `copy_in_place`)."""
    base = tmp_path_factory.getbasetemp() / "sandbox-copy"
    copy_in_place(prepared_state.base, base, Path("home") / DBT_PARSE_CACHE)
    paths = lab_paths_in(base)
    paths.apply(monkeypatch)
    return paths


@pytest.fixture(scope="session")
def lesson_walk(prepared_templates) -> LessonWalk:
    """The lessons walked once a test run under nbval (tests/lesson_walk.py): a copy of it."""
    from lab.config import HISTORY_DAYS

    def build(folder: Path) -> None:
        prepared = prepared_copy(prepared_templates, HISTORY_DAYS)  # what `lab setup` leaves
        walk(folder, prepared, prepared_templates.path(("lab", HISTORY_DAYS), "prepared"))

    return LessonWalk(prepared_templates.copy(("lessons", HISTORY_DAYS), build, "lessons"))


@pytest.fixture
def lesson_sandbox(lab_env: LabPaths, prepared_templates, monkeypatch) -> dict[str, str]:
    """A private copy of the sandbox `lab setup` prepares (HISTORY_DAYS days of history, as
    lab.sandbox.notebooks.fresh_sandbox() gives `make lab` and `make notebooks`), active for one
    test; returns its environment, for the subprocesses and servers a test starts."""
    from lab.config import HISTORY_DAYS

    paths = prepared_copy(prepared_templates, HISTORY_DAYS)
    paths.apply(monkeypatch)
    env = {
        "LAB_PROFILE": "local",
        "LAB_HOME": str(paths.home),
        "LAB_RUNS_DIR": str(paths.runs_dir),
        "LAB_GX_ROOT": str(paths.gx_root),
        "LAB_ROOT": str(REPO_ROOT),
        "GX_ANALYTICS_ENABLED": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
