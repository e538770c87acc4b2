"""The longest test modules run first under pytest-xdist (tests/module_order.py), and every
slow module has a measured time for it to go by."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.module_order import SECONDS_FILE, load_seconds, longest_first

ROOT = Path(__file__).resolve().parents[1]


def test_modules_go_longest_first_and_keep_their_tests_in_order():
    ids = ["a.py::t1", "a.py::t2", "b.py::t1", "c.py::t1", "c.py::t2", "d.py::t1"]
    order = [ids[i] for i in longest_first(ids, {"c.py": 90.0, "b.py": 200.0})]
    assert order == ["b.py::t1", "c.py::t1", "c.py::t2", "a.py::t1", "a.py::t2", "d.py::t1"]


def test_every_slow_module_has_its_seconds_and_every_entry_a_module():
    seconds = load_seconds()
    slow = sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if re.search(r"pytest\.mark\.slow\b", path.read_text())
    )
    missing = [module for module in slow if module not in seconds]
    assert not missing, (
        f"slow modules without a measured time in {SECONDS_FILE.name} (they would run last, "
        f"alone on one worker): {missing}; run `make test-all RECORD_SECONDS=1`"
    )
    gone = [module for module in seconds if not (ROOT / module).exists()]
    assert not gone, f"{SECONDS_FILE.name} names modules that do not exist: {gone}"


def test_an_xdist_worker_runs_the_longest_module_first_and_the_run_records_its_seconds(tmp_path):
    """A real xdist run with `make test-all`'s options (one worker, so the order is the queue's):
    the measured modules first, longest first, then the module with most tests, which xdist's
    own order would run first."""
    started = tmp_path / "started.txt"
    (tmp_path / "test_many.py").write_text(
        "".join(
            f"def test_{i}():\n    open({str(started)!r}, 'a').write('many\\n')\n\n"
            for i in range(4)
        )
    )
    (tmp_path / "test_long.py").write_text(
        f"import time\n\ndef test_long():\n    open({str(started)!r}, 'a').write('long\\n')\n"
        "    time.sleep(1)\n"
    )
    (tmp_path / "test_mid.py").write_text(
        f"def test_mid():\n    open({str(started)!r}, 'a').write('mid\\n')\n"
    )
    seconds = tmp_path / "seconds.json"
    seconds.write_text(json.dumps({"seconds": {"test_long.py": 200.0, "test_mid.py": 50.0}}))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "xdist",
            "-p",
            "tests.module_order",
            "-p",
            "no:cacheprovider",
            "-n",
            "1",
            "--dist",
            "loadfile",
            "--no-loadscope-reorder",
            "--module-seconds",
            str(seconds),
            "--record-module-seconds",
            "--rootdir",
            str(tmp_path),
            "-c",
            "/dev/null",
            str(tmp_path),
        ],
        cwd=tmp_path,
        # only the plugins this run needs: the others would load in every process (~4 s)
        env={
            "PYTHONPATH": str(ROOT),
            "PATH": "/usr/bin:/bin",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    order = list(dict.fromkeys(started.read_text().split()))
    assert order == ["long", "mid", "many"], f"modules in the order they started: {order}"
    recorded = load_seconds(seconds)
    assert set(recorded) == {"test_many.py", "test_long.py", "test_mid.py"}, recorded
    assert recorded["test_long.py"] >= 1.0, recorded


def pytest_command(*make_args: str) -> str:
    """The pytest command line `make` would run (make -n prints recipes without running them)."""
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), *make_args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "/pytest " in line]
    return line


def test_make_test_runs_two_workers_make_test_all_three_and_workers_1_none():
    """The defaults the Makefile's measurements chose: two for the quick tier (a busy 2-core
    machine runs it in 4m39s, not 5m54s), three for everything."""
    xdist = "--dist loadfile --no-loadscope-reorder"
    assert f"-n 2 {xdist}" in pytest_command("test"), pytest_command("test")
    assert f"-n 3 {xdist}" in pytest_command("test-all"), pytest_command("test-all")
    assert " -n " not in pytest_command("test", "WORKERS=1"), pytest_command("test", "WORKERS=1")
    assert "-n 2 " in pytest_command("test-all", "WORKERS=2")
