"""Who a record belongs to: owner transfer (one or many at once) and sharing with others."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.organisation import ORGANISATION
from meridian.access.permissions import FormAccess, form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.locks import serialize
from meridian.db.sets import one_of
from meridian.db.tables import departments, record_shares, users
from meridian.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from meridian.events.audit import Entry, audit, audit_many
from meridian.events.records import RecordUpdated
from meridian.records.assignees import may_assign
from meridian.records.history import write_history
from meridian.records.plan import plan_for
from meridian.records.readable import Readable
from meridian.records.subscribers import announce
from meridian.schema.model import Form

MAX_TRANSFER = 1000
SHARE_LEVELS = ("read", "edit")


def transfer_owner(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_ids: Sequence[int],
    owner_id: int,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> int:
    """Give the records to ``owner_id``, all or none; each change is in the record's history.

    Returns how many records changed owner (those already owned by ``owner_id`` are skipped).
    """
    ids = sorted(set(record_ids)) if isinstance(record_ids, Sequence) else []
    if not ids or len(ids) > MAX_TRANSFER or not all(isinstance(i, int) for i in ids):
        raise ValidationFailed(
            [
                FieldError(
                    "ids",
                    "invalid_ids",
                    Text("give 1 to {limit} record ids", limit=MAX_TRANSFER),
                    record_ids,
                )
            ]
        )
    active = conn.scalar(sa.select(users.c.is_active).where(users.c.id == owner_id))
    if not active:
        raise ValidationFailed(
            [FieldError("owner_id", "unknown_user", Text("no active user with this id"), owner_id)]
        )
    access = form_access(conn, actor, form)
    if "owner_id" in access.read_only:
        raise PermissionDenied(Text("you may not change owner_id"), field="owner_id")
    if not may_assign(conn, access, owner_id):
        raise PermissionDenied(
            Text(
                "you may not give records to user {owner_id}: their records are outside what you "
                "may update",
                owner_id=owner_id,
            ),
            field="owner_id",
            owner_id=owner_id,
        )
    table = plan_for(form).tables.main
    live = sa.and_(one_of(conn, table.c.id, ids), table.c.deleted_at.is_(None))
    readable = Readable.of(conn, access, tz)
    chosen = one_of(conn, readable.table.c.id, ids)
    owned = readable.select(readable.table.c.id, readable.table.c.owner_id).where(chosen)
    visible: dict[int, int] = {row.id: row.owner_id for row in conn.execute(owned)}
    missing = [i for i in ids if i not in visible]
    if missing:
        raise NotFound(
            Text("records {value} of form {key!r} are not found", value=missing[:20], key=form.key),
            ids=missing,
        )
    updatable = access.rows(conn, table, "update", tz)
    if updatable is not None:
        allowed = set(conn.scalars(sa.select(table.c.id).where(live, updatable)))
        refused = [i for i in ids if i not in allowed]
        if refused:
            raise PermissionDenied(
                Text("you may not change records {value}", value=refused[:20]),
                ids=refused,
                operation="update",
            )
    moving = [i for i in ids if visible[i] != owner_id]
    if not moving:
        return 0
    now = utcnow(conn)
    changed = conn.execute(
        table.update()
        .where(one_of(conn, table.c.id, moving))
        .values(
            owner_id=owner_id,
            _version=table.c._version + 1,
            updated_at=now,
            updated_by=actor.user_id,
        )
        .returning(table.c.id, table.c._version)
    ).all()
    versions: dict[int, int] = {row.id: row._version for row in changed}
    entries = [(i, versions[i], "update", {"owner_id": [visible[i], owner_id]}) for i in moving]
    write_history(conn, form.key, entries, actor.user_id, now)
    announce(
        conn,
        form,
        [
            RecordUpdated(
                form.key, i, actor.user_id, versions[i], {"owner_id": [visible[i], owner_id]}
            )
            for i in moving
        ],
    )
    return len(moving)


def share_record(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    level: str,
    user_id: int | None = None,
    department_id: int | None = None,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> dict[str, Any]:
    """Let a user or a department read (or edit) one record beyond their own scope.

    Only someone who may change the record may share it.
    """
    if department_id is not None:
        serialize(conn, ORGANISATION)  # so the department cannot be removed under the new share
    errors = []
    if level not in SHARE_LEVELS:
        errors.append(FieldError("level", "invalid_level", Text("read or edit"), level))
    if (user_id is None) == (department_id is None):
        errors.append(
            FieldError(
                "user_id",
                "invalid_target",
                Text("give a user_id or a department_id"),
                user_id,
            )
        )
    elif user_id is not None and not conn.scalar(
        sa.select(users.c.is_active).where(users.c.id == user_id)
    ):
        errors.append(FieldError("user_id", "unknown_user", Text("no active user"), user_id))
    elif (
        department_id is not None
        and conn.scalar(sa.select(departments.c.id).where(departments.c.id == department_id))
        is None
    ):
        errors.append(
            FieldError(
                "department_id",
                "unknown_department",
                Text("no such department"),
                department_id,
            )
        )
    if errors:
        raise ValidationFailed(errors)
    _require_changeable(conn, actor, form, record_id, tz)
    result = conn.execute(
        record_shares.insert().values(
            form_key=form.key,
            record_id=record_id,
            user_id=user_id,
            department_id=department_id,
            level=level,
            created_by=actor.user_id,
            created_at=utcnow(conn),
        )
    )
    assert result.inserted_primary_key is not None
    share = {
        "id": int(result.inserted_primary_key[0]),
        "record_id": record_id,
        "user_id": user_id,
        "department_id": department_id,
        "level": level,
    }
    audit(
        conn,
        actor_id=actor.user_id,
        action="record_shared",
        object_type=form.key,
        object_id=record_id,
        detail=share,
    )
    return share


def share_read_many(
    *, conn: Connection, actor: Actor, form: Form, pairs: Sequence[tuple[int, int]]
) -> None:
    """Read shares for many ``(record id, user id)`` at once, by Meridian itself (an approval
    letting its approvers read what they decide on): one INSERT, and one audit entry per share
    as :func:`share_record` writes, appended together. Inactive users are skipped."""
    if not pairs:
        return
    active = set(
        conn.scalars(
            sa.select(users.c.id).where(
                users.c.id.in_(sorted({user for _, user in pairs})), users.c.is_active
            )
        )
    )
    rows = [
        {
            "form_key": form.key,
            "record_id": record_id,
            "user_id": user_id,
            "department_id": None,
            "level": "read",
            "created_by": actor.user_id,
            "created_at": utcnow(conn),
        }
        for record_id, user_id in pairs
        if user_id in active
    ]
    if not rows:
        return
    made = conn.execute(
        record_shares.insert().returning(
            record_shares.c.id, record_shares.c.record_id, record_shares.c.user_id
        ),
        rows,
    ).all()
    audit_many(
        conn,
        [
            Entry(
                actor_id=actor.user_id,
                action="record_shared",
                object_type=form.key,
                object_id=row.record_id,
                detail={
                    "id": int(row.id),
                    "record_id": int(row.record_id),
                    "user_id": int(row.user_id),
                    "department_id": None,
                    "level": "read",
                },
            )
            for row in made
        ],
    )


def record_shares_of(
    *, conn: Connection, actor: Actor, form: Form, record_id: int, tz: ZoneInfo = DEFAULT_TIME_ZONE
) -> list[dict[str, Any]]:
    """Who a record is shared with, for anyone who may read it."""
    _require_readable(conn, actor, form, record_id, tz)
    shares = record_shares.c
    rows = conn.execute(
        sa.select(shares.id, shares.user_id, shares.department_id, shares.level)
        .where(shares.form_key == form.key, shares.record_id == record_id)
        .order_by(shares.id)
    )
    return [{"record_id": record_id, **row._asdict()} for row in rows]


def revoke_share(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    share_id: int,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> None:
    """Take a share back; whoever may share the record may do so. Audited."""
    _require_changeable(conn, actor, form, record_id, tz)
    shares = record_shares.c
    revoked = conn.execute(
        record_shares.delete()
        .where(shares.id == share_id, shares.form_key == form.key, shares.record_id == record_id)
        .returning(shares.user_id, shares.department_id, shares.level)
    ).first()
    if revoked is None:
        raise NotFound(
            Text(
                "record {record_id} has no share {share_id}", record_id=record_id, share_id=share_id
            ),
            id=share_id,
        )
    audit(
        conn,
        actor_id=actor.user_id,
        action="record_unshared",
        object_type=form.key,
        object_id=record_id,
        detail={"id": share_id, "record_id": record_id, **revoked._asdict()},
    )


def may_share(
    *, conn: Connection, actor: Actor, form: Form, record_id: int, tz: ZoneInfo = DEFAULT_TIME_ZONE
) -> bool:
    """Whether the actor may share this record (and take its shares back): whoever may change
    it, by role or by an edit share."""
    try:
        _require_changeable(conn, actor, form, record_id, tz)
    except (NotFound, PermissionDenied):
        return False
    return True


def _require_readable(
    conn: Connection, actor: Actor, form: Form, record_id: int, tz: ZoneInfo
) -> FormAccess:
    """The actor's access to the form, once the record is known to be one they may read (a
    record they may not read is not found, so its existence does not leak)."""
    access = form_access(conn, actor, form)
    if not Readable.of(conn, access, tz).ids(conn, [record_id]):
        raise NotFound(
            Text(
                "record {record_id} of form {key!r} is not found", record_id=record_id, key=form.key
            ),
            id=record_id,
        )
    return access


def _require_changeable(
    conn: Connection, actor: Actor, form: Form, record_id: int, tz: ZoneInfo
) -> None:
    access = _require_readable(conn, actor, form, record_id, tz)
    table = plan_for(form).tables.main
    updatable = access.rows(conn, table, "update", tz)
    found = sa.select(table.c.id).where(table.c.id == record_id)
    if updatable is not None and conn.execute(found.where(updatable)).first() is None:
        raise PermissionDenied(
            Text("you may not share record {record_id}", record_id=record_id), id=record_id
        )
