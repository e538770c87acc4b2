"""Longest modules first, so that the pytest workers of `make test-all` finish together.

`--dist loadfile` hands each worker whole modules, from the front of a queue. By default
pytest-xdist sorts that queue by number of tests, which sends the modules with one long test
(the backfill's 3-4 minutes) to the end, where one worker runs them alone while the other has
nothing left. With `--no-loadscope-reorder` the queue follows the collection order, and
this plugin orders the collection by each module's measured seconds, longest first (the
classic longest-processing-time rule); modules without a measurement keep their order after
the measured ones. Without xdist the order is left alone.

The seconds are in tests/module_seconds.json: the sum of each module's setup, call and
teardown times in a `make test-all` run. `make test-all RECORD_SECONDS=1` measures them again
and rewrites the file; tests/test_module_order.py fails when a slow module has no entry.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

SECONDS_FILE = Path(__file__).with_name("module_seconds.json")


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def load_seconds(path: Path = SECONDS_FILE) -> dict[str, float]:
    if not path.exists():
        return {}
    return {k: float(v) for k, v in json.loads(path.read_text())["seconds"].items()}


def longest_first(nodeids: list[str], seconds: dict[str, float]) -> list[int]:
    """Indexes of `nodeids` with modules in descending measured seconds (stable: a module's
    tests keep their order, and so do unmeasured modules, after the measured ones)."""
    first_seen: dict[str, int] = {}
    for i, nodeid in enumerate(nodeids):
        first_seen.setdefault(module_of(nodeid), i)
    return sorted(
        range(len(nodeids)),
        key=lambda i: (
            -seconds.get(module_of(nodeids[i]), 0.0),
            first_seen[module_of(nodeids[i])],
            i,
        ),
    )


class ModuleOrder:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.path = Path(config.getoption("module_seconds"))
        self.record = config.getoption("record_module_seconds")
        self.spent: dict[str, float] = defaultdict(float)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Only an xdist worker's collection feeds the queue; a plain run keeps its order.
        if not hasattr(self.config, "workerinput"):
            return
        order = longest_first([item.nodeid for item in items], load_seconds(self.path))
        items[:] = [items[i] for i in order]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.record and not hasattr(self.config, "workerinput"):
            self.spent[module_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.record or hasattr(self.config, "workerinput") or not self.spent:
            return
        kept = load_seconds(self.path)
        kept.update({module: round(s, 1) for module, s in self.spent.items()})
        self.path.write_text(
            json.dumps(
                {
                    "about": "seconds each test module took in `make test-all` (setup, call "
                    "and teardown of its tests); tests/module_order.py runs the longest first",
                    "seconds": dict(sorted(kept.items(), key=lambda kv: -kv[1])),
                },
                indent=1,
            )
            + "\n"
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--module-seconds",
        default=str(SECONDS_FILE),
        help="the measured seconds of each module, longest run first under xdist",
    )
    parser.addoption(
        "--record-module-seconds",
        action="store_true",
        help="write each module's seconds in this run to the --module-seconds file",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(ModuleOrder(config), "module-order")
