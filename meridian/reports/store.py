"""Stored reports and dashboards: who may see them, and saving with a revision token.

A report or a dashboard is seen by its owner, builders, administrators and the roles it is
shared with; one the caller may not see does not exist for the caller (404, never 403, so its
name does not leak). Builders and administrators save them. Every save replaces the revision
token; a save that names an older token than the stored one was made from a stale copy and
is refused (409) rather than silently overwriting someone else's change.
"""

from __future__ import annotations

import secrets
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.organisation import role_exists
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.tables import dashboards, reports
from meridian.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from meridian.events.audit import audit
from meridian.reports.compiler import compile_report
from meridian.reports.model import DashboardDraft, ReportDraft
from meridian.reports.results import check_formulas
from meridian.schema.catalog import get_app
from meridian.schema.model import parse_model

Kind = str  # "report" | "dashboard"
_TABLES = {"report": reports, "dashboard": dashboards}
_NAMES = {"report": "报表", "dashboard": "仪表盘"}


def may_build(actor: Actor) -> bool:
    if actor.token is not None and not actor.token.write:
        return False
    return actor.is_admin or actor.can_build


def _require_builder(actor: Actor, kind: Kind) -> None:
    if not may_build(actor):
        raise PermissionDenied(
            Text("only builders and administrators may change reports")
            if kind == "report"
            else Text("only builders and administrators may change dashboards"),
            operation="build",
        )


def _visible(table: sa.Table, actor: Actor) -> sa.ColumnElement[bool]:
    if actor.is_admin or actor.can_build:
        return sa.true()
    return sa.or_(table.c.owner_id == actor.user_id, *_shared_with(table, actor))


def _shared_with(table: sa.Table, actor: Actor) -> list[sa.ColumnElement[bool]]:
    """Shared with one of the actor's roles: the JSON list's text holds the quoted key."""
    text = sa.cast(table.c.roles, sa.Text())
    return [
        text.like('%"' + role.replace("\\", "").replace("_", "\\_") + '"%', escape="\\")
        for role in sorted(actor.roles)
    ]


def _row(conn: Connection, kind: Kind, actor: Actor, item_id: int) -> Any:
    table = _TABLES[kind]
    row = conn.execute(
        sa.select(table).where(table.c.id == item_id, _visible(table, actor))
    ).first()
    if row is None:
        raise NotFound(
            Text("no report {item_id}", item_id=item_id)
            if kind == "report"
            else Text("no dashboard {item_id}", item_id=item_id),
            id=item_id,
        )
    return row


def _check_common(conn: Connection, draft: ReportDraft | DashboardDraft) -> None:
    errors = []
    try:
        get_app(conn, draft.app_key)
    except NotFound:
        errors.append(FieldError("app_key", "unknown_app", Text("no such app"), draft.app_key))
    for i, role in enumerate(draft.roles):
        if not role_exists(conn, role):
            errors.append(FieldError(f"roles.{i}", "unknown_role", Text("no such role"), role))
    if isinstance(draft, DashboardDraft) and draft.home_for not in ("", "*"):
        if not role_exists(conn, draft.home_for):
            errors.append(
                FieldError("home_for", "unknown_role", Text("no such role"), draft.home_for)
            )
    if errors:
        raise ValidationFailed(errors)


def _check_report(conn: Connection, actor: Actor, draft: ReportDraft, tz: ZoneInfo) -> None:
    """The definition compiles as its author reads the form: an unknown or hidden field, a
    sum of text, a formula over no measure are refused when saved, not when drawn."""
    _check_common(conn, draft)
    try:
        compile_report(conn=conn, actor=actor, definition=draft.definition, tz=tz)
    except NotFound as exc:
        raise ValidationFailed(
            [FieldError("definition.form", "unknown_form", exc.detail, draft.definition.form)]
        ) from None
    except ValidationFailed as exc:
        raise ValidationFailed(
            [FieldError(f"definition.{e.field}", e.code, e.message, e.value) for e in exc.errors]
        ) from None
    check_formulas(draft.definition)


def _check_dashboard(conn: Connection, actor: Actor, draft: DashboardDraft) -> None:
    _check_common(conn, draft)
    wanted = {card.report_id for card in draft.definition.cards}
    if wanted:
        found = set(
            conn.scalars(
                sa.select(reports.c.id).where(reports.c.id.in_(wanted), _visible(reports, actor))
            )
        )
        for i, card in enumerate(draft.definition.cards):
            if card.report_id not in found:
                raise ValidationFailed(
                    [
                        FieldError(
                            f"definition.cards.{i}.report_id",
                            "unknown_report",
                            Text("no such report"),
                            card.report_id,
                        )
                    ]
                )


def save(
    *,
    conn: Connection,
    actor: Actor,
    kind: Kind,
    document: Any,
    tz: ZoneInfo,
    item_id: int | None = None,
) -> dict[str, Any]:
    """Create (``item_id`` None) or change a report or a dashboard."""
    _require_builder(actor, kind)
    table = _TABLES[kind]
    draft: ReportDraft | DashboardDraft
    if kind == "report":
        draft = parse_model(ReportDraft, document)
        _check_report(conn, actor, draft, tz)
    else:
        draft = parse_model(DashboardDraft, document)
        _check_dashboard(conn, actor, draft)
    now = utcnow(conn)
    values: dict[str, Any] = {
        "app_key": draft.app_key,
        "label": draft.label,
        "definition": draft.definition.model_dump(mode="json", exclude_defaults=False),
        "roles": list(draft.roles),
        "revision": secrets.token_hex(16),
        "updated_at": now,
    }
    if isinstance(draft, DashboardDraft):
        values["home_for"] = draft.home_for
    if item_id is None:
        inserted = conn.execute(
            table.insert().values(owner_id=actor.user_id, created_at=now, **values)
        ).inserted_primary_key
        assert inserted is not None
        item_id = int(inserted[0])
    else:
        stored = _row(conn, kind, actor, item_id)
        if draft.revision is None or draft.revision != stored.revision:
            raise Conflict(
                Text(
                    "the {kind} changed since it was read; reload it and change it again",
                    kind=kind,
                    kind_zh=_NAMES[kind],
                ),
                revision=stored.revision,
            )
        changed = conn.execute(
            table.update()
            .where(table.c.id == item_id, table.c.revision == stored.revision)
            .values(**values)
        )
        if changed.rowcount != 1:
            raise Conflict(
                Text("the {kind} changed while it was saved", kind=kind, kind_zh=_NAMES[kind])
            )
    audit(
        conn,
        actor_id=actor.user_id,
        action=f"{kind}_saved",
        object_type=kind,
        object_id=str(item_id),
        detail={"label": draft.label},
    )
    return get(conn=conn, actor=actor, kind=kind, item_id=int(item_id))


def delete(*, conn: Connection, actor: Actor, kind: Kind, item_id: int) -> None:
    _require_builder(actor, kind)
    _row(conn, kind, actor, item_id)
    table = _TABLES[kind]
    conn.execute(table.delete().where(table.c.id == item_id))
    audit(
        conn,
        actor_id=actor.user_id,
        action=f"{kind}_deleted",
        object_type=kind,
        object_id=str(item_id),
        detail={},
    )


def get(*, conn: Connection, actor: Actor, kind: Kind, item_id: int) -> dict[str, Any]:
    """The report or dashboard, when the actor may see it; ``NotFound`` otherwise."""
    return _public(_row(conn, kind, actor, item_id), kind)


def listing(
    *, conn: Connection, actor: Actor, kind: Kind, app_key: str | None = None
) -> list[dict[str, Any]]:
    """The reports or dashboards the actor may see, by label."""
    table = _TABLES[kind]
    query = sa.select(table).where(_visible(table, actor)).order_by(table.c.label, table.c.id)
    if app_key is not None:
        query = query.where(table.c.app_key == app_key)
    return [_public(row, kind) for row in conn.execute(query)]


def home_dashboard(*, conn: Connection, actor: Actor, app_key: str) -> dict[str, Any] | None:
    """The dashboard that is the app's home for the actor: one for one of the actor's roles
    first, else one for everyone; None when there is none."""
    table = dashboards
    rows = conn.execute(
        sa.select(table)
        .where(table.c.app_key == app_key, table.c.home_for != "", _visible(table, actor))
        .order_by(table.c.id)
    ).all()
    for row in rows:
        if row.home_for in actor.roles:
            return _public(row, "dashboard")
    for row in rows:
        if row.home_for == "*":
            return _public(row, "dashboard")
    return None


def _public(row: Any, kind: Kind) -> dict[str, Any]:
    found = {
        "id": row.id,
        "app_key": row.app_key,
        "label": row.label,
        "definition": row.definition,
        "roles": list(row.roles),
        "revision": row.revision,
        "owner_id": row.owner_id,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }
    if kind == "dashboard":
        found["home_for"] = row.home_for
    return found
