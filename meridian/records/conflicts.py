"""An edit that lost the race: what the others changed since the editor's version, what the
editor changed, and where both changed the same field.

The version check (``expected_version``, the API's ``If-Match``) stays the guard: nothing here
writes. It only answers the question the editor has once their save was refused — which of my
changes still apply? — from the record's history (issue 15: the page ended in a dead end and
the edits were lost). Fields only the editor changed are kept; fields only the others changed
keep the others' value; fields both changed to different values are conflicts the editor
settles field by field before saving again against the new version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.errors import ErrorCollector, StaleVersion
from meridian.records.reads import get_record, record_history
from meridian.records.values import RecordParser
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import Form


@dataclass(frozen=True)
class FieldConflict:
    """A field both sides changed, to different values (API values: ``theirs`` is stored,
    ``mine`` as the editor sent it)."""

    key: str
    base: Any
    theirs: Any
    mine: Any


@dataclass(frozen=True)
class Reconciliation:
    """The editor's refused change, laid over the record as it is now.

    :ivar record: the record as the editor may read it now.
    :ivar values: what to offer for saving again: the editor's changes that still apply, and
        for each conflict the editor's value (until they choose the others').
    :ivar conflicts: the fields both changed.
    :ivar theirs: the fields only the others changed (their values stand).
    :ivar mine: the fields only the editor changed (kept).
    :ivar changed_by: who saved in between, oldest first.
    """

    record: dict[str, Any]
    values: dict[str, Any]
    conflicts: list[FieldConflict] = field(default_factory=list)
    theirs: list[str] = field(default_factory=list)
    mine: list[str] = field(default_factory=list)
    changed_by: list[int | None] = field(default_factory=list)

    @property
    def version(self) -> int:
        return int(self.record["_version"])


def reconcile(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    base_version: int,
    mine: Mapping[str, Any],
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
    expand: tuple[str, ...] = (),
) -> Reconciliation:
    """Compare the editor's values ``mine`` (made on ``base_version``) with what others saved
    since. Only fields the editor may see are compared; the result changes nothing."""
    access = form_access(conn, actor, form)
    record = get_record(
        conn=conn, actor=actor, form=form, record_id=record_id, tz=tz, expand=expand
    )
    plain = get_record(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)
    since: dict[str, list[Any]] = {}
    changed_by: list[int | None] = []
    for entry in record_history(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz):
        if entry["version"] <= base_version:
            continue
        if entry["actor_id"] not in changed_by:
            changed_by.append(entry["actor_id"])
        for key, (old, new) in entry["changes"].items():
            since.setdefault(key, [old, new])[1] = new
    same = _Sameness(access.visible, tz)
    values: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    kept: list[str] = []
    for key, value in mine.items():
        if key not in since:
            if not same(key, value, plain.get(key)):
                kept.append(key)
                values[key] = value
            continue
        base, now = since[key]
        if same(key, value, base) or same(key, value, now):
            continue  # the editor left it as it was, or made the same change
        conflicts.append(FieldConflict(key, base, now, value))
        values[key] = value
    theirs = [key for key in since if key not in values and access.visible.get_field(key)]
    return Reconciliation(record, values, conflicts, theirs, kept, changed_by)


def stale_with_clashes(
    exc: StaleVersion,
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    base_version: int,
    mine: Mapping[str, Any],
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> StaleVersion:
    """The API's 412 with what a client needs to try again: ``clashes`` (the fields changed
    since ``base_version`` that the request changes too, with both values), ``changed`` (every
    field changed since) and the ``version`` to send next."""
    found = reconcile(
        conn=conn,
        actor=actor,
        form=form,
        record_id=record_id,
        base_version=base_version,
        mine=mine,
        tz=tz,
    )
    clashes = [
        {"field": c.key, "base": c.base, "theirs": c.theirs, "mine": c.mine}
        for c in found.conflicts
    ]
    changed = [c["field"] for c in clashes] + found.theirs
    return StaleVersion(
        exc.detail, **exc.extra, version=found.version, clashes=clashes, changed=changed
    )


class _Sameness:
    """Whether two values of a field mean the same: both parsed as a write would parse them
    (``"12"`` and ``"12.00"`` are one amount; a local time and its UTC form are one moment)."""

    def __init__(self, form: Form, tz: ZoneInfo) -> None:
        self.form = form
        self.parser = RecordParser(form)
        self.ctx = ValueContext(tz)

    def __call__(self, key: str, a: Any, b: Any) -> bool:
        return bool(self._canonical(key, a) == self._canonical(key, b))

    def _canonical(self, key: str, value: Any) -> Any:
        if value is None or value == "" or value == []:
            return None
        kind = self.form.get_field(key)
        if kind is not None and field_type(kind).links_records:  # expanded: {"id", "title"}
            value = _link_ids(value)
        elif kind is not None and field_type(kind).holds_lines and isinstance(value, list):
            value = [  # stored lines carry their own ids; a line's values are what count
                {k: v for k, v in line.items() if k != "id"} if isinstance(line, dict) else line
                for line in value
            ]
        errors = ErrorCollector()
        parsed = self.parser.parse({key: value}, self.ctx, errors, creating=False)
        if errors.errors:
            return ("as given", repr(value))
        if key in parsed.lines:
            return [sorted(line.items()) for line in parsed.lines[key]] or None
        if key in parsed.pairs:
            return sorted(parsed.pairs[key]) or None
        return parsed.columns.get(key)


def _link_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("id")
    if isinstance(value, list):
        return [item.get("id") if isinstance(item, dict) else item for item in value]
    return value
