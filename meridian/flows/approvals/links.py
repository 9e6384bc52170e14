"""Approval links: an approver decides one task from an IM card or an e-mail, without signing in.

When approvers are told of a task (:func:`.runtime.tell_approvers`), each open task gets a
link: a random token whose SHA-256 alone is stored (``sys_approval_link``), so reading the
database — or a backup of it — gives nobody a working link; the token lives only in the message
sent. A link acts once, as the task's assignee, through the same operation as the inbox
(:func:`.link_acts.act_by_link` calls :func:`.operations.approve` or ``reject``: the same
lock on the approval's row, the same events, the same trail entry, marked ``channel: link``).
It expires after :data:`LIFETIME`, and it is dead as soon as its task is no longer open
(decided, transferred, recalled, the approval finished): it acts on its one task only.

The form that acts carries a token derived from the link's (:func:`form_token`): a request
that merely knows the address — an IM's link preview, a prefetch — cannot act, only a POST
from the link's own page can.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.i18n import Text
from meridian.db.tables import approval_links, approval_tasks, approvals, users
from meridian.errors import Conflict, MeridianError, NotFound, Unauthenticated

LIFETIME = timedelta(days=3)
PATH = "/approvals/links/"
ACTS = ("approve", "reject")
TOKEN_BYTES = 32


class LinkGone(MeridianError):
    """The link existed but has expired."""

    code = "link_expired"
    status = 410
    title = "Gone"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def form_token(token: str) -> str:
    """The hidden field the link's page posts back: bound to this link and no other."""
    return hmac.new(token.encode(), b"meridian approval link form", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Issued:
    """A link made for one approver's open task; ``path`` is relative to the base URL."""

    user_id: int
    task_id: int
    path: str


def issue(conn: Connection, approval_id: int, people: Sequence[int], now: datetime) -> list[Issued]:
    """A link per open task of ``people`` in the approval (one INSERT for all of them)."""
    if not people:
        return []
    tasks = conn.execute(
        sa.select(approval_tasks.c.id, approval_tasks.c.assignee_id)
        .where(
            approval_tasks.c.approval_id == approval_id,
            approval_tasks.c.kind == "approve",
            approval_tasks.c.state == "pending",
            approval_tasks.c.assignee_id.in_(sorted(set(people))),
        )
        .order_by(approval_tasks.c.id)
    ).all()
    return issue_for_tasks(conn, [(int(t.id), int(t.assignee_id)) for t in tasks], now)


def issue_for_tasks(
    conn: Connection, tasks: Sequence[tuple[int, int]], now: datetime
) -> list[Issued]:
    """A link per ``(task id, assignee id)``, in one INSERT."""
    if not tasks:
        return []
    tokens = [secrets.token_urlsafe(TOKEN_BYTES) for _ in tasks]
    conn.execute(
        approval_links.insert(),
        [
            {
                "token_hash": token_hash(token),
                "task_id": task_id,
                "user_id": user_id,
                "created_at": now,
                "expires_at": now + LIFETIME,
            }
            for token, (task_id, user_id) in zip(tokens, tasks, strict=True)
        ],
    )
    return [
        Issued(user_id, task_id, PATH + token)
        for token, (task_id, user_id) in zip(tokens, tasks, strict=True)
    ]


def find(conn: Connection, token: str, *, lock: bool = False) -> dict[str, Any]:
    """The link of ``token``; ``NotFound`` for a token that is not one (wrong, or made up)."""
    if not token or len(token) > 100:
        raise NotFound(Text("this link is not valid"))
    query = sa.select(approval_links).where(approval_links.c.token_hash == token_hash(token))
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(Text("this link is not valid"))
    return dict(row._mapping)


def check(conn: Connection, link: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The link's task if the link may act now; else the refusal, in words the reader acts on."""
    if link["used_at"] is not None:
        raise Conflict(Text("this link has already been used"), reason="used")
    if link["expires_at"] <= now:
        raise LinkGone(
            Text("this link has expired; open the approval in Meridian instead"), reason="expired"
        )
    task = conn.execute(
        sa.select(approval_tasks, approvals.c.state.label("approval_state"))
        .join(approvals, approvals.c.id == approval_tasks.c.approval_id)
        .where(approval_tasks.c.id == link["task_id"])
    ).first()
    if task is None or task.assignee_id != link["user_id"]:
        raise NotFound(Text("this link is not valid"))
    if task.approval_state == "withdrawn":
        raise Conflict(Text("the submitter recalled this approval"), reason="recalled")
    if task.approval_state in ("approved", "rejected"):
        raise Conflict(Text("this approval has already finished"), reason="finished")
    if task.approval_state == "returned":
        raise Conflict(
            Text("this approval was returned to its submitter for edit"), reason="returned"
        )
    if task.state == "transferred":
        raise Conflict(Text("this task was transferred to someone else"), reason="transferred")
    if task.state == "waiting":
        raise Conflict(
            Text("this task waits for another approver to decide first"), reason="waiting"
        )
    if task.state != "pending":
        raise Conflict(Text("this task has already been decided"), reason="decided")
    active = conn.scalar(sa.select(users.c.is_active).where(users.c.id == link["user_id"]))
    if not active:
        raise Unauthenticated(Text("the approver of this link is no longer active"))
    return dict(task._mapping)
