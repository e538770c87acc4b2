"""dbt in-process (`lab.transform`): what a command costs besides dbt's own work.

dbt registers the adapter, and its behavior flags, on every command; dbt-common names each
flag's source with `inspect.stack()`, up to 0.3 s of CPU a flag (lab/transform.py's
`_name_flag_sources_cheaply` gives the figures).
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace

from dbt_common import behavior_flags

from lab import transform

FLAG = {"name": "lab_probe_flag", "default": True, "description": "a flag for this test"}


def test_a_dbt_command_names_its_adapters_flags_without_walking_the_stack(monkeypatch):
    walks = []

    def stack(*args, **kwargs):
        walks.append(1)
        return inspect.stack(*args, **kwargs)

    # only dbt-common's flag module sees the counting `inspect`
    monkeypatch.setattr(
        behavior_flags, "inspect", SimpleNamespace(stack=stack, getmodule=inspect.getmodule)
    )
    named = []
    event = behavior_flags.BehaviorChangeEvent

    def change_event(**fields):  # made once a flag is named, outside the naming's stack
        named.append(fields["flag_source"])
        return event(**fields)

    monkeypatch.setattr(behavior_flags, "BehaviorChangeEvent", change_event)

    parsed = transform.dbt("parse")

    assert parsed.success, parsed.error
    assert named, "expected dbt to register its adapter's behavior flags"
    assert not walks, f"dbt-common walked the whole stack {len(walks)} times to name a flag"
    assert set(named) == {"dbt.adapters.base.impl"}, named


def test_a_flag_is_named_after_the_module_that_registers_it_as_dbt_common_names_it():
    transform._name_flag_sources_cheaply()
    behavior = behavior_flags.Behavior([FLAG], {})
    assert behavior.lab_probe_flag._behavior_change_event.flag_source == __name__
