"""Approvals: flows and their versions, the caller's inbox, and the acts (one table, one
route each, so the paths clients use stay as they were)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.ids import Id
from meridian.flows.approvals import definitions, inbox, operations
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, tags=["approvals"])

Comment = Annotated[str | None, Field(max_length=operations.MAX_COMMENT)]
FileToken = Annotated[str, Field(min_length=1, max_length=64)]
Attachments = Annotated[list[FileToken], Field(max_length=operations.MAX_ATTACHMENTS)]


class Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flow: str = Field(min_length=1, max_length=63)
    record_id: Id
    comment: Comment = None


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Comment = None
    attachments: Attachments = []


class Approval(Decision):
    values: dict[str, Any] | None = None


class Rejection(Decision):
    to: Literal["end", "submitter", "previous"] | None = None


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Comment = None


class Transfer(Note):
    user_id: Id


class AddApprover(Note):
    user_id: Id
    position: Literal["before", "after"]


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(min_length=1, max_length=operations.MAX_COMMENT)
    attachments: Attachments = []


class BulkApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_ids: Annotated[list[Id], Field(min_length=1, max_length=operations.MAX_BULK)]
    comment: Comment = None


class Delegation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delegate_id: Id | None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@router.get("/approvals/flows")
def list_flows(
    workspace: WorkspaceDep,
    actor: ActorDep,
    form: Annotated[str | None, Query(max_length=63)] = None,
) -> dict[str, Any]:
    """Every flow at its newest version, with the versions it has had."""
    with workspace.read() as conn:
        return {"items": definitions.list_flows(conn, form)}


@router.post("/approvals/flows", status_code=201)
def save_flow(
    workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
) -> dict[str, Any]:
    """Create a flow, or add a version of it: ``{key, form, label, definition}``."""
    with workspace.transaction() as conn:
        return definitions.save_flow(conn, actor, document)


@router.get("/approvals/flows/{key}")
def get_flow(
    key: Annotated[str, Path(max_length=63)],
    workspace: WorkspaceDep,
    actor: ActorDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> dict[str, Any]:
    with workspace.read() as conn:
        return definitions.get_flow(conn, key, version)


@router.get("/approvals/inbox")
def my_inbox(
    workspace: WorkspaceDep,
    actor: ActorDep,
    box: Literal["pending", "done", "submitted", "cc"] = "pending",
    before: Id | None = None,
) -> dict[str, Any]:
    """One page of a box (待我审批 pending, 我已审批 done, 我发起的 submitted, 抄送我的 cc)
    and the count of every box."""
    with workspace.read() as conn:
        return inbox.inbox(conn, actor, box=box, before=before)


@router.post("/approvals", status_code=201)
def submit(body: Submission, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """Submit a record for approval (or resubmit one returned to its submitter)."""
    with workspace.transaction() as conn:
        return operations.submit(
            conn=conn,
            actor=actor,
            flow_key=body.flow,
            record_id=body.record_id,
            comment=body.comment,
        )


@router.get("/approvals/{approval_id}")
def get_approval(approval_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        return operations.get_approval(conn, actor, approval_id)


@router.post("/approvals/{approval_id}/comments")
def comment(
    approval_id: Id, body: CommentCreate, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return operations.comment_on(
            conn=conn,
            actor=actor,
            approval_id=approval_id,
            comment=body.comment,
            attachments=body.attachments,
        )


@router.post("/approvals/tasks/bulk-approve")
def bulk_approve(body: BulkApproval, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """Approve many of the caller's tasks; each that cannot be is listed with its reason."""
    with workspace.transaction() as conn:
        return operations.bulk_approve(
            conn=conn, actor=actor, task_ids=body.task_ids, comment=body.comment
        )


# ---- the acts, one table ----------------------------------------------------------------------
# Each act is a row: its path word, its body, what it does and the sentence the API document
# shows. The routes are registered from the table, so every act takes the same way through the
# caller, the transaction and the problem details, and a new act is one row.

Perform = Callable[[Connection, Actor, int, Any], dict[str, Any]]


@dataclass(frozen=True)
class Act:
    word: str
    body: type[BaseModel]
    perform: Perform
    summary: str


APPROVAL_ACTS = (
    Act(
        "recall",
        Note,
        lambda conn, actor, ident, body: operations.recall(
            conn=conn, actor=actor, approval_id=ident, comment=body.comment
        ),
        "撤回: the submitter withdraws, while nobody has acted.",
    ),
    Act(
        "resubmit",
        Note,
        lambda conn, actor, ident, body: operations.resubmit(
            conn=conn, actor=actor, approval_id=ident, comment=body.comment
        ),
        "The submitter sends an approval returned for edit on again.",
    ),
)

TASK_ACTS = (
    Act(
        "approve",
        Approval,
        lambda conn, actor, ident, body: operations.approve(
            conn=conn,
            actor=actor,
            task_id=ident,
            comment=body.comment,
            values=body.values,
            attachments=body.attachments,
        ),
        "Approve the task (``values`` for the node's editable fields).",
    ),
    Act(
        "reject",
        Rejection,
        lambda conn, actor, ident, body: operations.reject(
            conn=conn,
            actor=actor,
            task_id=ident,
            comment=body.comment,
            to=body.to,
            attachments=body.attachments,
        ),
        "Reject the task: to the end, the submitter or the previous node.",
    ),
    Act(
        "return",
        Note,
        lambda conn, actor, ident, body: operations.return_for_edit(
            conn=conn, actor=actor, task_id=ident, comment=body.comment
        ),
        "Return the approval to its submitter for edit.",
    ),
    Act(
        "transfer",
        Transfer,
        lambda conn, actor, ident, body: operations.transfer(
            conn=conn, actor=actor, task_id=ident, user_id=body.user_id, comment=body.comment
        ),
        "转交: hand the task to another user.",
    ),
    Act(
        "add-approver",
        AddApprover,
        lambda conn, actor, ident, body: operations.add_approver(
            conn=conn,
            actor=actor,
            task_id=ident,
            user_id=body.user_id,
            position=body.position,
            comment=body.comment,
        ),
        "加签: ``before`` (they decide first, then it comes back) or ``after`` the caller.",
    ),
)


def _register(act: Act, path: str, ident: str) -> None:
    """One route for ``act``: the id from the path, the act's own body model."""

    def endpoint(**arguments: Any) -> dict[str, Any]:
        with arguments["workspace"].transaction() as conn:
            return act.perform(conn, arguments["actor"], arguments[ident], arguments["body"])

    # The body's model differs per act, so FastAPI reads the signature from the table.
    keyword = inspect.Parameter.KEYWORD_ONLY
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(ident, keyword, annotation=Id),
            inspect.Parameter("body", keyword, annotation=act.body),
            inspect.Parameter("workspace", keyword, annotation=WorkspaceDep),
            inspect.Parameter("actor", keyword, annotation=ActorDep),
        ],
        return_annotation=dict[str, Any],
    )
    word = act.word.replace("-", "_")
    router.add_api_route(
        path.format(word=act.word),
        endpoint,
        methods=["POST"],
        name=word if ident == "task_id" else f"{word}_approval",
        summary=act.summary,
    )


for _act in APPROVAL_ACTS:
    _register(_act, "/approvals/{{approval_id}}/{word}", "approval_id")
for _act in TASK_ACTS:
    _register(_act, "/approvals/tasks/{{task_id}}/{word}", "task_id")


@router.put("/approvals/delegation")
def set_delegation(body: Delegation, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """While away, the caller's new tasks go to ``delegate_id`` (null clears it)."""
    with workspace.transaction() as conn:
        return operations.set_delegation(
            conn=conn,
            actor=actor,
            delegate_id=body.delegate_id,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
        )


@router.get("/forms/{form_key}/records/{record_id}/approvals")
def record_approvals(
    form_key: Annotated[str, Path(max_length=63)],
    record_id: Id,
    workspace: WorkspaceDep,
    actor: ActorDep,
) -> dict[str, Any]:
    """The record's approvals with their trails, newest first (its timeline)."""
    with workspace.read() as conn:
        return {"items": operations.record_approvals(conn, actor, form_key, record_id)}
