"""Creating, changing, completing and listing tasks — every call checks who may (``access``).

A task made twice with the same ``source_key`` (a rule's run retried, a stage entered by a
replayed job) is made once: the second call returns the first task. Completing many tasks is
one UPDATE over the permitted ids; refusing any of them refuses all and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.sets import one_of
from meridian.db.tables import tasks, users
from meridian.errors import (
    ErrorCollector,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from meridian.flows.calendar.store import load_calendar
from meridian.flows.tasks.access import permitted, records_allowing, sees_every_task

STATES = ("open", "done", "cancelled")
SOURCES = ("person", "stage", "rule")
MAX_TITLE, MAX_NOTES, MAX_BULK = 300, 10_000, 500
EDITABLE = ("title", "notes", "assignee_id", "due_at", "state")


def _public(row: Row[Any], now: datetime, names: Mapping[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "notes": row.notes,
        "assignee_id": row.assignee_id,
        "assignee_name": names.get(row.assignee_id) if row.assignee_id else None,
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "overdue": row.state == "open" and row.due_at is not None and row.due_at < now,
        "state": row.state,
        "closed_by": row.closed_by,
        "closed_at": row.closed_at.isoformat() if row.closed_at else None,
        "form_key": row.form_key,
        "record_id": row.record_id,
        "source": row.source,
        "source_ref": row.source_ref,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _described(conn: Connection, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    wanted = {row.assignee_id for row in rows if row.assignee_id}
    names = (
        dict(conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(wanted))).all())
        if wanted
        else {}
    )
    now = utcnow(conn)
    return [_public(row, now, names) for row in rows]


def _require_write(actor: Actor) -> None:
    if actor.token is not None and not actor.token.write:
        raise PermissionDenied(Text("this API token may only read"))


# — values ————————————————————————————————————————————————————————————————


def _title(value: Any, errors: ErrorCollector) -> str:
    if isinstance(value, str) and value.strip() and len(value) <= MAX_TITLE and "\x00" not in value:
        return value.strip()
    errors.add(
        "title",
        "invalid_title",
        Text("expected text of 1 to {limit} characters", limit=MAX_TITLE),
        value,
    )
    return ""


def _notes(value: Any, errors: ErrorCollector) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and len(value) <= MAX_NOTES and "\x00" not in value:
        return value
    errors.add(
        "notes",
        "invalid_notes",
        Text("expected text of at most {limit} characters", limit=MAX_NOTES),
        value,
    )
    return ""


def _assignee(conn: Connection, value: Any, errors: ErrorCollector) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        active = conn.scalar(
            sa.select(users.c.id).where(users.c.id == value, users.c.is_active.is_(True))
        )
        if active is not None:
            return value
    errors.add("assignee_id", "unknown_user", Text("expected the id of an active user"), value)
    return None


def parse_due(
    conn: Connection, value: Any, tz: ZoneInfo, errors: ErrorCollector
) -> datetime | None:
    """A due time: an ISO date-time (naive ones are wall-clock time in ``tz``), or a date,
    meaning the end of that day's work in the work calendar."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            if len(value) == 10:
                return _end_of_work(conn, date.fromisoformat(value))
            moment = datetime.fromisoformat(value)
            if 1900 <= moment.year <= 2200:
                return moment if moment.tzinfo else moment.replace(tzinfo=tz)
        except ValueError:
            pass
    errors.add(
        "due_at",
        "invalid_due",
        Text("expected a date-time such as 2026-12-08T18:00:00+08:00"),
        value,
    )
    return None


def _end_of_work(conn: Connection, day: date) -> datetime:
    if not 1900 <= day.year <= 2200:
        raise ValueError("out of range")
    calendar = load_calendar(conn)
    last = calendar.periods[-1][1] if calendar.periods else time(23, 59)
    return datetime.combine(day, last, tzinfo=calendar.tz).astimezone(UTC)


def _link(
    conn: Connection,
    actor: Actor,
    form_key: Any,
    record_id: Any,
    tz: ZoneInfo,
    errors: ErrorCollector,
) -> tuple[str | None, int | None]:
    if form_key is None and record_id is None:
        return None, None
    good_id = isinstance(record_id, int) and not isinstance(record_id, bool)
    if not (isinstance(form_key, str) and good_id and 0 < record_id < 2**63):
        errors.add(
            "record_id",
            "invalid_link",
            Text("a linked record needs both form_key and record_id"),
            {"form_key": form_key, "record_id": record_id},
        )
        return None, None
    if not records_allowing(conn, actor, [(form_key, record_id)], "read", tz):
        errors.add(
            "record_id",
            "unknown_record",
            Text(
                "no record {record_id} of form {form_key!r} you may read",
                record_id=record_id,
                form_key=form_key,
            ),
            record_id,
        )
        return None, None
    return form_key, record_id


# — writing ——————————————————————————————————————————————————————————————


def create_task(
    *,
    conn: Connection,
    actor: Actor,
    title: Any,
    notes: Any = "",
    assignee_id: Any = None,
    due_at: Any = None,
    form_key: Any = None,
    record_id: Any = None,
    source: str = "person",
    source_ref: str | None = None,
    source_key: str | None = None,
    tz: ZoneInfo,
) -> dict[str, Any]:
    """A new open task; with a ``source_key`` already used, the task made then."""
    _require_write(actor)
    if source not in SOURCES:
        raise ValueError(f"unknown task source {source!r}")
    if source_key is not None:
        existing = conn.execute(sa.select(tasks).where(tasks.c.source_key == source_key)).first()
        if existing is not None:
            return _described(conn, [existing])[0]
    errors = ErrorCollector()
    values = {
        "title": _title(title, errors),
        "notes": _notes(notes, errors),
        "assignee_id": _assignee(conn, assignee_id, errors),
        "due_at": parse_due(conn, due_at, tz, errors),
    }
    values["form_key"], values["record_id"] = _link(conn, actor, form_key, record_id, tz, errors)
    errors.raise_if_any()
    now = utcnow(conn)
    task_id = conn.execute(
        tasks.insert()
        .values(
            **values,
            state="open",
            source=source,
            source_ref=source_ref,
            source_key=source_key,
            created_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        .returning(tasks.c.id)
    ).scalar_one()
    return get_task(conn=conn, actor=Actor.system(), task_id=task_id, tz=tz)


def _rows(conn: Connection, ids: Sequence[int]) -> list[Row[Any]]:
    return list(conn.execute(sa.select(tasks).where(one_of(conn, tasks.c.id, ids))))


def _editable(conn: Connection, actor: Actor, ids: Sequence[int], tz: ZoneInfo) -> list[Row[Any]]:
    """The tasks, once every one of them is known to the actor and changeable by them."""
    rows = _rows(conn, ids)
    readable = permitted(conn, actor, rows, "read", tz)
    missing = sorted(set(ids) - readable)
    if missing:
        raise NotFound(
            Text("no task {task_id} you may see", task_id=missing[0]),
            id=missing[0],
            ids=missing[:20],
        )
    editable = permitted(conn, actor, rows, "update", tz)
    refused = sorted(set(ids) - editable)
    if refused:
        raise PermissionDenied(
            Text(
                "only the assignee, the creator, editors of the linked record and administrators"
                " change a task; not task {task_id}",
                task_id=refused[0],
            ),
            ids=refused[:20],
        )
    return rows


def update_task(
    *, conn: Connection, actor: Actor, task_id: int, changes: Mapping[str, Any], tz: ZoneInfo
) -> dict[str, Any]:
    """Change title, notes, assignee, due time or state (open, done, cancelled); moving the due
    time lets the assignee be told again when the new one passes."""
    _require_write(actor)
    [row] = _editable(conn, actor, [task_id], tz)
    errors = ErrorCollector()
    unknown = sorted(set(changes) - set(EDITABLE))
    for key in unknown:
        errors.add(
            key, "unknown_field", Text("a task has no changeable field {key!r}", key=key), key
        )
    values: dict[str, Any] = {}
    if "title" in changes:
        values["title"] = _title(changes["title"], errors)
    if "notes" in changes:
        values["notes"] = _notes(changes["notes"], errors)
    if "assignee_id" in changes:
        values["assignee_id"] = _assignee(conn, changes["assignee_id"], errors)
    if "due_at" in changes:
        values["due_at"] = parse_due(conn, changes["due_at"], tz, errors)
        if values["due_at"] != row.due_at:
            values["overdue_notified_at"] = None
    if "state" in changes and changes["state"] not in STATES:
        errors.add(
            "state", "invalid_state", Text("expected open, done or cancelled"), changes["state"]
        )
    errors.raise_if_any()
    now = utcnow(conn)
    state = changes.get("state", row.state)
    if state != row.state:
        closing = state != "open"
        values.update(
            state=state,
            closed_by=actor.user_id if closing else None,
            closed_at=now if closing else None,
        )
    if values:
        conn.execute(tasks.update().where(tasks.c.id == task_id).values(**values, updated_at=now))
    return get_task(conn=conn, actor=Actor.system(), task_id=task_id, tz=tz)


def complete_tasks(
    *, conn: Connection, actor: Actor, task_ids: Sequence[Any], tz: ZoneInfo
) -> dict[str, Any]:
    """Mark open tasks done in one statement; done or cancelled ones stay as they are. Any id
    unknown to the actor or not theirs to change refuses the whole call."""
    return _close(conn, actor, task_ids, "done", tz)


def cancel_tasks(
    *, conn: Connection, actor: Actor, task_ids: Sequence[Any], tz: ZoneInfo
) -> dict[str, Any]:
    """Cancel open tasks, as :func:`complete_tasks` completes them."""
    return _close(conn, actor, task_ids, "cancelled", tz)


def _close(
    conn: Connection, actor: Actor, task_ids: Sequence[Any], state: str, tz: ZoneInfo
) -> dict[str, Any]:
    _require_write(actor)
    if (
        not isinstance(task_ids, list | tuple)
        or not 0 < len(task_ids) <= MAX_BULK
        or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in task_ids
        )
    ):
        raise ValidationFailed(
            [
                FieldError(
                    "ids",
                    "invalid_ids",
                    Text("expected 1 to {limit} task ids", limit=MAX_BULK),
                    task_ids,
                )
            ]
        )
    ids = sorted(set(task_ids))
    _editable(conn, actor, ids, tz)
    now = utcnow(conn)
    changed = conn.execute(
        tasks.update()
        .where(one_of(conn, tasks.c.id, ids), tasks.c.state == "open")
        .values(state=state, closed_by=actor.user_id, closed_at=now, updated_at=now)
    ).rowcount
    return {"changed": int(changed), "ids": ids}


# — reading ——————————————————————————————————————————————————————————————


def get_task(*, conn: Connection, actor: Actor, task_id: int, tz: ZoneInfo) -> dict[str, Any]:
    rows = _rows(conn, [task_id])
    if not rows or not permitted(conn, actor, rows, "read", tz):
        raise NotFound(Text("no task {task_id} you may see", task_id=task_id), id=task_id)
    return _described(conn, rows)[0]


def list_tasks(
    *,
    conn: Connection,
    actor: Actor,
    tz: ZoneInfo,
    mine: bool = True,
    overdue: bool = False,
    state: str | None = None,
    form_key: str | None = None,
    record_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Tasks by due time (undated last), with the total for paging.

    With a record (``form_key`` and ``record_id``): every task about it, for whoever may read
    it. Otherwise ``mine`` lists the actor's assigned tasks; without it, an administrator sees
    every task and anyone else the tasks assigned to or made by them.
    """
    where: list[Any] = []
    if (form_key is None) != (record_id is None):
        raise ValidationFailed(
            [FieldError("record", "invalid_link", Text("give both form and record_id"), form_key)]
        )
    if form_key is not None and record_id is not None:
        if not records_allowing(conn, actor, [(form_key, record_id)], "read", tz):
            raise NotFound(
                Text(
                    "no record {record_id} of form {form_key!r} you may read",
                    record_id=record_id,
                    form_key=form_key,
                )
            )
        where += [tasks.c.form_key == form_key, tasks.c.record_id == record_id]
    elif mine:
        where.append(tasks.c.assignee_id == actor.user_id if actor.user_id else sa.false())
    elif not sees_every_task(actor):
        me = actor.user_id
        where.append(
            sa.or_(tasks.c.assignee_id == me, tasks.c.created_by == me) if me else sa.false()
        )
    if state is not None:
        if state not in STATES:
            raise ValidationFailed(
                [
                    FieldError(
                        "state", "invalid_state", Text("expected open, done or cancelled"), state
                    )
                ]
            )
        where.append(tasks.c.state == state)
    if overdue:
        where += [tasks.c.state == "open", tasks.c.due_at < utcnow(conn)]
    limit = max(1, min(int(limit), 200))
    total = conn.scalar(sa.select(sa.func.count()).select_from(tasks).where(*where))
    rows = conn.execute(
        sa.select(tasks)
        .where(*where)
        .order_by(tasks.c.due_at.is_(None), tasks.c.due_at, tasks.c.id)
        .limit(limit)
        .offset(max(0, int(offset)))
    ).all()
    return {"items": _described(conn, rows), "total": int(total or 0), "limit": limit}


def my_agenda(
    *, conn: Connection, actor: Actor, tz: ZoneInfo, limit: int = 100
) -> dict[str, list[dict[str, Any]]]:
    """The actor's open tasks in three groups: overdue, due today (in ``tz``), upcoming (later
    or undated); at most ``limit`` each."""
    now = utcnow(conn)
    end_of_today = datetime.combine(
        now.astimezone(tz).date() + timedelta(days=1), time(0), tzinfo=tz
    ).astimezone(UTC)
    mine = [tasks.c.assignee_id == actor.user_id, tasks.c.state == "open"]
    order = (tasks.c.due_at.is_(None), tasks.c.due_at, tasks.c.id)
    groups = {
        "overdue": [tasks.c.due_at < now],
        "today": [tasks.c.due_at >= now, tasks.c.due_at < end_of_today],
        "upcoming": [sa.or_(tasks.c.due_at >= end_of_today, tasks.c.due_at.is_(None))],
    }
    return {
        name: _described(
            conn,
            conn.execute(sa.select(tasks).where(*mine, *extra).order_by(*order).limit(limit)).all(),
        )
        for name, extra in groups.items()
    }


def count_due(conn: Connection, actor: Actor, tz: ZoneInfo) -> int:
    """The header's number: the actor's open tasks that are overdue or due by tonight."""
    return int(conn.scalar(due_counted(conn, actor, tz)) or 0)


def due_counted(conn: Connection, actor: Actor, tz: ZoneInfo) -> sa.Select[int]:
    """The statement :func:`count_due` runs, for a caller counting more in one statement."""
    statement = sa.select(sa.func.count()).select_from(tasks)
    if actor.user_id is None:  # no user: nothing is theirs (not the unassigned tasks)
        return statement.where(sa.false())
    end_of_today = datetime.combine(
        utcnow(conn).astimezone(tz).date() + timedelta(days=1), time(0), tzinfo=tz
    )
    return statement.where(
        tasks.c.assignee_id == actor.user_id,
        tasks.c.state == "open",
        tasks.c.due_at < end_of_today,
    )


def record_tasks(
    *, conn: Connection, actor: Actor, form_key: str, record_id: int, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """Every task about a record the actor may read (the record page's timeline): open ones
    first, each group by due time."""
    found: list[dict[str, Any]] = list_tasks(
        conn=conn, actor=actor, tz=tz, form_key=form_key, record_id=record_id, limit=200
    )["items"]
    return sorted(found, key=lambda task: task["state"] != "open")
