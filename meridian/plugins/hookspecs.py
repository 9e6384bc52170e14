"""Every extension point of Meridian, as pluggy hook specifications.

A plugin is a module (or object) with functions of these names marked ``@hookimpl``. Meridian's
own field types, rule triggers and actions, job handlers, subscribers, channels and pages are
plugins of these hooks too (``DEFAULT_PLUGINS`` in ``meridian.workspace``); an installed
package adds its own through the ``meridian`` entry point group. Each ``register_*`` hook
returns what the plugin adds; the registry refuses two plugins that claim the same name.

Only types are imported from the layers above, for annotations: a hook's contract names them,
but this module must load before any of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from fastapi import APIRouter

    from meridian.core.actor import Actor
    from meridian.events.outbox import Reaction
    from meridian.flows.stages.criteria import CriterionKind
    from meridian.http.deps import Workspace
    from meridian.jobs.queue import Handler
    from meridian.notify.channels import Channel
    from meridian.plugins.menu import MenuLink
    from meridian.records.guards import RowFact, WriteGuard
    from meridian.records.subscribers import Subscriber
    from meridian.rules.actions import RuleAction
    from meridian.rules.triggers import RuleTrigger
    from meridian.schema.fieldtypes.base import FieldType

PROJECT = "meridian"
"""The pluggy project name and the entry point group installed plugins are found by."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_field_types() -> Sequence[FieldType]:
    """Field types a builder may choose, each an instance with a unique ``name``."""
    raise NotImplementedError


@hookspec
def register_rule_triggers() -> Sequence[RuleTrigger]:
    """Events a rule may start on: a trigger names the record event that fires it."""
    raise NotImplementedError


@hookspec
def register_rule_actions() -> Sequence[RuleAction]:
    """What a rule may do to a record once its trigger and condition hold."""
    raise NotImplementedError


@hookspec
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    """Background job handlers by job kind; a kind has one handler."""
    raise NotImplementedError


@hookspec
def register_subscribers() -> Sequence[Subscriber]:
    """Reactions to record events, run in the writer's transaction (cheap: enqueue jobs)."""
    raise NotImplementedError


@hookspec
def register_write_guards() -> Sequence[WriteGuard]:
    """Checks over every record write, asked once per batch before its rows are written (a
    stage gate, an approval's lock); each returns its refusals, and any refusal stops the
    write with one 422 problem listing them all (``records.guards``)."""
    raise NotImplementedError


@hookspec
def register_row_facts() -> Sequence[RowFact]:
    """What a write guard needs about each record, read in the statement that reads the
    record's row when the writer reads it anyway (whether it is in approval), each with a
    unique ``name`` (``records.guards``)."""
    raise NotImplementedError


@hookspec
def register_gate_criteria() -> Sequence[CriterionKind]:
    """Kinds of criteria a stage gate may require (a required field, a condition, a related
    record, a ticked checklist item …), each with a unique ``name``; judged set-based over a
    batch (``flows.stages.criteria``)."""
    raise NotImplementedError


@hookspec
def register_reactions() -> Sequence[Reaction]:
    """Reactions to committed events, run by the worker after commit from the outbox."""
    raise NotImplementedError


@hookspec
def register_channels(meridian: Workspace) -> Sequence[Channel]:
    """Ways of sending a notification out (email, a group robot, a connector)."""
    raise NotImplementedError


@hookspec
def register_routes() -> Sequence[APIRouter]:
    """Routers of pages or JSON routes, mounted on the application as they are."""
    raise NotImplementedError


@hookspec
def menu_actions(actor: Actor) -> Sequence[MenuLink]:
    """Links the top menu shows ``actor`` (a plugin's pages, typically)."""
    raise NotImplementedError
