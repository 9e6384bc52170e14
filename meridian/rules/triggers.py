"""The rule trigger contract, and the triggers a workspace offers.

A record trigger names the record event that fires it (``RecordCreated``, ``RecordUpdated``,
``StageEntered`` …) and, optionally, a test of that event against the rule's trigger settings;
the engine matches the events each write announces against the triggers of the form's rules.
Time triggers (``date_relative``, ``no_activity``) and ``schedule`` are fired by the engine's
own set-based scans, so only Meridian registers those kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.engine import Connection

from meridian.errors import ErrorCollector
from meridian.events.records import RecordEvent
from meridian.plugins.manager import plugins_of
from meridian.schema.model import Form

TriggerCheck = Callable[[Connection, Form, Mapping[str, Any], ErrorCollector], None]
"""Adds every problem with a trigger's settings (under ``trigger.*``) to the collector."""


@dataclass(frozen=True)
class RuleTrigger:
    """One kind of trigger, named by the ``type`` a rule's trigger object gives.

    :ivar kind: ``record`` (fired by a record event), ``time`` or ``schedule`` (built in).
    :ivar event_type: for record triggers, the event class name that fires it.
    :ivar matches: whether one event of that class fires the rule (None: every one does).
    :ivar check: checks the trigger's own settings when a rule is saved.
    """

    name: str
    kind: Literal["record", "time", "schedule"] = "record"
    event_type: str | None = None
    matches: Callable[[Mapping[str, Any], RecordEvent], bool] | None = None
    check: TriggerCheck | None = None


def triggers_of(conn: Connection) -> Mapping[str, RuleTrigger]:
    """The triggers of the workspace whose engine opened ``conn``."""
    plugins = plugins_of(conn)
    if plugins is None:
        raise LookupError("rules run within a workspace: its plugins register the triggers")
    found: Mapping[str, RuleTrigger] = plugins.named("register_rule_triggers")
    return found
