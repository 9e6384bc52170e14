"""A rule's dry run: what its actions would do to one record now, and what would fail.

It performs the actions exactly as a run does (``rules.engine.perform``'s actions, through the
records service) inside a savepoint that is always rolled back, so the builder sees the same
refusals a real run would meet, and nothing is written, queued or sent.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.tables import rules
from meridian.errors import MeridianError, NotFound
from meridian.records import reads
from meridian.rules.actions import actions_of
from meridian.rules.values import passing_ids
from meridian.schema.catalog import get_form


def dry_run(conn: Connection, rule_id: int, record_id: int, tz: ZoneInfo) -> dict[str, Any]:
    """What the rule would do to the record now, and what would fail; changes nothing.

    The actions are performed exactly as a run performs them — the same values, parsing,
    required and unique checks, numbering and permissions — inside a savepoint that is always
    rolled back, each in a savepoint of its own so that one refusal does not hide the next.
    The caller's connection must be able to write (its writes never commit)."""
    rule = conn.execute(sa.select(rules).where(rules.c.id == rule_id)).first()
    if rule is None:
        raise NotFound(Text("rule {id} does not exist", id=rule_id), id=rule_id)
    form = get_form(conn, rule.form_key)
    reads.get_record(conn=conn, actor=Actor.system(), form=form, record_id=record_id, tz=tz)
    passes = bool(passing_ids(conn, form, rule.condition, [record_id], tz))
    known = actions_of(conn)
    actions: list[dict[str, Any]] = []
    trial = conn.begin_nested()
    try:
        for action in rule.actions:
            kind = known[action["type"]]
            shown = kind.preview(conn=conn, form=form, record_id=record_id, action=action, tz=tz)
            step = conn.begin_nested()
            try:
                done = kind.perform(
                    conn=conn, form=form, rule_id=rule.id, record_id=record_id, action=action, tz=tz
                )
            except MeridianError as exc:
                step.rollback()
                actions.append({**shown, "would_fail": True, "problem": _problem(exc)})
                continue
            step.commit()
            actions.append({**shown, "would_fail": False, "result": done})
    finally:
        trial.rollback()
    return {
        "rule_id": rule_id,
        "record_id": record_id,
        "condition": passes,
        "actions": actions,
        "would_fail": any(a["would_fail"] for a in actions),
    }


def _problem(exc: MeridianError) -> dict[str, Any]:
    """A refusal as a dry run shows it: the problem's code and detail, and each field's."""
    errors = getattr(exc, "errors", None) or []
    return {
        "code": exc.code,
        "detail": exc.detail,
        "errors": [{"field": e.field, "code": e.code, "message": e.message} for e in errors],
    }
