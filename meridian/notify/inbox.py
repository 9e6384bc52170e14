"""Telling people: an inbox entry each, an email job for those who want email, bot messages.

Everything here is written in the caller's transaction; sending happens in jobs (the handlers
are in ``meridian.integrations``), so a notification exists exactly when the change that caused
it does, and a slow mail server never slows a save. A title or body that is a catalog
:class:`~meridian.core.i18n.Text` is kept as its msgid and parameters (``core.i18n.stored``) and
said in the reader's language: the inbox's when they read it, an email's when it is sent to
its recipient; a group robot's in both (``core.i18n.for_everyone``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text, localized, stored
from meridian.db.tables import bot_channels, notifications, notify_preferences, users
from meridian.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from meridian.jobs.queue import enqueue, enqueue_many

EMAIL, BOT = "notify.email", "notify.bot"
TITLE_LIMIT = 300
"""Characters a notification's title keeps (its column's width)."""
BOT_KINDS = ("wecom", "dingtalk", "feishu")


def notify_users(
    conn: Connection,
    user_ids: Sequence[int],
    *,
    title: str,
    body: str = "",
    form_key: str | None = None,
    record_id: int | None = None,
) -> int:
    """An inbox entry per active user, and an email job for each who keeps email on."""
    people = conn.execute(
        sa.select(
            users.c.id,
            users.c.email,
            users.c.locale,
            notify_preferences.c.email.label("wants_email"),
        )
        .outerjoin(notify_preferences, notify_preferences.c.user_id == users.c.id)
        .where(users.c.id.in_(sorted(set(user_ids))), users.c.is_active)
    ).all()
    if not people:
        return 0
    now = utcnow(conn)
    title, body = stored(title, limit=TITLE_LIMIT), stored(body)
    conn.execute(
        notifications.insert(),
        [
            {
                "user_id": person.id,
                "title": title,
                "body": body,
                "form_key": form_key,
                "record_id": record_id,
                "created_at": now,
            }
            for person in people
        ],
    )
    link = {"form_key": form_key, "record_id": record_id}
    enqueue_many(
        conn,
        EMAIL,
        [
            {"to": person.email, "locale": person.locale, "title": title, "body": body, **link}
            for person in people
            if person.wants_email is not False
        ],
    )
    return len(people)


@dataclass(frozen=True)
class Notice:
    """One message to one user (its own words, e.g. in the user's language)."""

    user_id: int
    title: str
    body: str = ""
    form_key: str | None = None
    record_id: int | None = None
    action_path: str | None = None
    """A path (of the base URL) the e-mail offers to act at: an approval link. It goes into
    the e-mail alone, never into the inbox row."""


def notify_each(conn: Connection, notices: Sequence[Notice]) -> int:
    """:func:`notify_users` for messages that differ per user: one inbox INSERT for all, and one
    batch of email jobs for those who keep email on; inactive users are skipped."""
    wanted = sorted({notice.user_id for notice in notices})
    if not wanted:
        return 0
    people = {
        row.id: row
        for row in conn.execute(
            sa.select(
                users.c.id,
                users.c.email,
                users.c.locale,
                notify_preferences.c.email.label("wants_email"),
            )
            .outerjoin(notify_preferences, notify_preferences.c.user_id == users.c.id)
            .where(users.c.id.in_(wanted), users.c.is_active)
        )
    }
    kept = [notice for notice in notices if notice.user_id in people]
    if not kept:
        return 0
    now = utcnow(conn)
    conn.execute(
        notifications.insert(),
        [
            {
                "user_id": notice.user_id,
                "title": stored(notice.title, limit=TITLE_LIMIT),
                "body": stored(notice.body),
                "form_key": notice.form_key,
                "record_id": notice.record_id,
                "created_at": now,
            }
            for notice in kept
        ],
    )
    enqueue_many(
        conn,
        EMAIL,
        [
            {
                "to": people[notice.user_id].email,
                "locale": people[notice.user_id].locale,
                "title": stored(notice.title, limit=TITLE_LIMIT),
                "body": stored(notice.body),
                "form_key": notice.form_key,
                "record_id": notice.record_id,
                **({"action_path": notice.action_path} if notice.action_path else {}),
            }
            for notice in kept
            if people[notice.user_id].wants_email is not False
        ],
    )
    return len(kept)


def notify_bot(
    conn: Connection,
    channel_id: int,
    *,
    title: str,
    body: str = "",
    form_key: str | None = None,
    record_id: int | None = None,
    style: str | None = None,
) -> None:
    """A message to a WeCom, DingTalk or Feishu group robot, sent by a job; ``style`` is text,
    markdown or card (the platform's default when None)."""
    if conn.scalar(sa.select(bot_channels.c.id).where(bot_channels.c.id == channel_id)) is None:
        raise NotFound(
            Text("bot channel {channel_id} does not exist", channel_id=channel_id), id=channel_id
        )
    enqueue(
        conn,
        BOT,
        {
            "channel_id": channel_id,
            "title": stored(title),
            "body": stored(body),
            "form_key": form_key,
            "record_id": record_id,
            "style": style,
        },
    )


@dataclass(frozen=True)
class BotNotice:
    """One message to one group robot; ``action_path`` is the card's button (an approval
    link), else the button opens the record."""

    channel_id: int
    title: str
    body: str = ""
    form_key: str | None = None
    record_id: int | None = None
    style: str | None = None
    action_path: str | None = None


def notify_bots(conn: Connection, notices: Sequence[BotNotice]) -> int:
    """:func:`notify_bot` for many messages: one read of the channels, one batch of jobs;
    messages to channels that no longer exist are dropped (a flow may outlive a channel)."""
    wanted = sorted({notice.channel_id for notice in notices})
    if not wanted:
        return 0
    existing = set(conn.scalars(sa.select(bot_channels.c.id).where(bot_channels.c.id.in_(wanted))))
    kept = [notice for notice in notices if notice.channel_id in existing]
    enqueue_many(
        conn,
        BOT,
        [
            {
                "channel_id": notice.channel_id,
                "title": stored(notice.title),
                "body": stored(notice.body),
                "form_key": notice.form_key,
                "record_id": notice.record_id,
                "style": notice.style,
                **({"action_path": notice.action_path} if notice.action_path else {}),
            }
            for notice in kept
        ],
    )
    return len(kept)


def inbox(
    conn: Connection,
    actor: Actor,
    *,
    unread_only: bool = False,
    limit: int = 50,
    locale: str = "en",
) -> dict[str, Any]:
    """The actor's notifications, newest first, said in ``locale``, and how many are unread."""
    mine = notifications.c.user_id == actor.user_id
    query = sa.select(notifications).where(mine).order_by(notifications.c.id.desc())
    if unread_only:
        query = query.where(notifications.c.read_at.is_(None))
    items = [
        {
            **row._mapping,
            "title": localized(row.title, locale),
            "body": localized(row.body or "", locale),
            "created_at": row.created_at.isoformat(),
            "read_at": row.read_at.isoformat() if row.read_at else None,
        }
        for row in conn.execute(query.limit(max(1, min(limit, 200))))
    ]
    return {"items": items, "unread": unread_count(conn, actor)}


def unread_count(conn: Connection, actor: Actor) -> int:
    """The number on the bell."""
    return int(conn.scalar(unread_counted(actor)) or 0)


def unread_counted(actor: Actor) -> sa.Select[int]:
    """The statement :func:`unread_count` runs, for a caller counting more in one statement."""
    return (
        sa.select(sa.func.count())
        .select_from(notifications)
        .where(notifications.c.user_id == actor.user_id, notifications.c.read_at.is_(None))
    )


def mark_read(conn: Connection, actor: Actor, notification_id: int | None = None) -> int:
    """Mark one notification (or, with None, all of the actor's) read; returns how many."""
    query = notifications.update().where(
        notifications.c.user_id == actor.user_id, notifications.c.read_at.is_(None)
    )
    if notification_id is not None:
        query = query.where(notifications.c.id == notification_id)
    return int(conn.execute(query.values(read_at=utcnow(conn))).rowcount)


def set_preferences(conn: Connection, actor: Actor, *, email: bool) -> dict[str, Any]:
    assert actor.user_id is not None
    conn.execute(notify_preferences.delete().where(notify_preferences.c.user_id == actor.user_id))
    conn.execute(notify_preferences.insert().values(user_id=actor.user_id, email=email))
    return {"email": email}


def create_bot_channel(
    conn: Connection, actor: Actor, *, kind: str, name: str, webhook_url: str, secret: str | None
) -> dict[str, Any]:
    if not actor.is_admin:
        raise PermissionDenied(Text("only administrators add bot channels"))
    problems = []
    if kind not in BOT_KINDS:
        problems.append(
            FieldError(
                "kind", "invalid_kind", Text("one of {value}", value=", ".join(BOT_KINDS)), kind
            )
        )
    if not webhook_url.startswith(("https://", "http://")):
        problems.append(
            FieldError("webhook_url", "invalid_url", Text("an http(s) URL"), webhook_url)
        )
    if not name.strip():
        problems.append(FieldError("name", "invalid_name", Text("give a name"), name))
    if problems:
        raise ValidationFailed(problems)
    result = conn.execute(
        bot_channels.insert().values(
            kind=kind,
            name=name.strip(),
            webhook_url=webhook_url,
            secret=secret,
            created_at=utcnow(conn),
        )
    )
    assert result.inserted_primary_key is not None
    return {"id": int(result.inserted_primary_key[0]), "kind": kind, "name": name.strip()}


def list_bot_channels(conn: Connection, actor: Actor) -> list[dict[str, Any]]:
    """The group-robot channels, without their secrets (administrators)."""
    if not actor.is_admin:
        raise PermissionDenied(Text("only administrators see bot channels"))
    rows = conn.execute(
        sa.select(
            bot_channels.c.id,
            bot_channels.c.kind,
            bot_channels.c.name,
            bot_channels.c.webhook_url,
            (bot_channels.c.secret.is_not(None) & (bot_channels.c.secret != "")).label("signed"),
            bot_channels.c.created_at,
        ).order_by(bot_channels.c.id)
    )
    return [{**row._mapping, "created_at": row.created_at.isoformat()} for row in rows]


def delete_bot_channel(conn: Connection, actor: Actor, channel_id: int) -> None:
    """Remove a channel; messages already queued for it fail and are logged as such."""
    if not actor.is_admin:
        raise PermissionDenied(Text("only administrators remove bot channels"))
    removed = conn.execute(bot_channels.delete().where(bot_channels.c.id == channel_id))
    if not removed.rowcount:
        raise NotFound(Text("bot channel {id} does not exist", id=channel_id), id=channel_id)
