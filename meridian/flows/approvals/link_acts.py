"""What an approval link's page shows and does: the task's record, flow and trail, and the one
decision the link may make (see :mod:`.links` for what a link is and when it is refused)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from meridian.access.actors import load_actor
from meridian.access.users import user_names
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.tables import approval_links
from meridian.errors import MeridianError, NotFound
from meridian.flows.approvals import links, operations
from meridian.flows.approvals.definitions import get_flow
from meridian.records.reads import get_record
from meridian.schema.catalog import get_form


def link_view(conn: Connection, token: str) -> dict[str, Any]:
    """Everything the link's page shows; the refusal (4xx) when the link may not act now."""
    now = utcnow(conn)
    link = links.find(conn, token)
    task = links.check(conn, link, now)
    approval = operations.describe(conn, int(task["approval_id"]))
    form = get_form(conn, approval["form"])
    flow = get_flow(conn, approval["flow"], approval["flow_version"])
    actor = load_actor(conn, int(link["user_id"]))
    try:
        record: dict[str, Any] | None = get_record(
            conn=conn, actor=actor, form=form, record_id=int(approval["record_id"])
        )
    except MeridianError:  # the approver may no longer read it: the page shows no values
        record = None
    mentioned = {approval["submitter_id"], link["user_id"]} | {
        entry["actor_id"] for entry in approval["trail"]
    }
    return {
        "approval": approval,
        "task_id": int(task["id"]),
        "user_id": int(link["user_id"]),
        "form": form,
        "flow_label": flow["label"],
        "record": record,
        "names": user_names(conn, [m for m in mentioned if m is not None]),
        "form_token": links.form_token(token),
        "expires_at": link["expires_at"],
    }


def act_by_link(
    *, conn: Connection, token: str, act: str, comment: str | None = None
) -> dict[str, Any]:
    """Approve or reject the link's task as its assignee, once.

    The link's row is locked first, then the approval's (by the act), so two POSTs of one link
    act once: the second finds the link used. Any refusal leaves everything as it was."""
    now = utcnow(conn)
    link = links.find(conn, token, lock=True)
    task = links.check(conn, link, now)
    actor = load_actor(conn, int(link["user_id"]))
    task_id = int(task["id"])
    if act == "approve":
        result = operations.approve(
            conn=conn, actor=actor, task_id=task_id, comment=comment, channel="link"
        )
    elif act == "reject":
        result = operations.reject(
            conn=conn, actor=actor, task_id=task_id, comment=comment, channel="link"
        )
    else:
        raise NotFound(Text("no such act {act!r}", act=act))
    conn.execute(
        approval_links.update()
        .where(approval_links.c.id == link["id"], approval_links.c.used_at.is_(None))
        .values(used_at=now)
    )
    return result
