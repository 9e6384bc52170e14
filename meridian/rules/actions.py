"""The rule action contract, and the actions a workspace offers.

An action is what a rule does once its trigger fired and its condition held: Meridian's own
(update, create, assign, notify, tag, webhook — ``meridian.rules.builtin_actions``) and any a
plugin registers through ``register_rule_actions``. The rules engine knows actions only by
this contract, so a plugin's action is checked when the rule is saved and performed in the
rule's run exactly as a built-in one is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.errors import ErrorCollector
from meridian.plugins.manager import plugins_of
from meridian.schema.model import Form


class RuleAction:
    """One kind of action, named by the ``type`` a rule's action object gives."""

    name: ClassVar[str]

    def check(
        self,
        *,
        conn: Connection,
        form: Form,
        action: Mapping[str, Any],
        path: str,
        errors: ErrorCollector,
    ) -> None:
        """Add every problem with ``action`` (its settings, at ``path``) to ``errors``."""

    def perform(
        self,
        *,
        conn: Connection,
        form: Form,
        rule_id: int,
        record_id: int,
        action: Mapping[str, Any],
        tz: ZoneInfo,
    ) -> dict[str, Any]:
        """Do it to the record, in the run's transaction; returns what was done, for the log."""
        raise NotImplementedError

    def preview(
        self,
        *,
        conn: Connection,
        form: Form,
        record_id: int,
        action: Mapping[str, Any],
        tz: ZoneInfo,
    ) -> dict[str, Any]:
        """What a dry run shows of the action on the record; changes nothing."""
        return dict(action)


def actions_of(conn: Connection) -> Mapping[str, RuleAction]:
    """The actions of the workspace whose engine opened ``conn``."""
    plugins = plugins_of(conn)
    if plugins is None:
        raise LookupError("rules run within a workspace: its plugins register the actions")
    found: Mapping[str, RuleAction] = plugins.named("register_rule_actions")
    return found
