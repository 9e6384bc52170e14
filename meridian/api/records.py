"""Records: list, read, create, bulk create, change, delete, restore, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse

from meridian.api.schemas import (
    BulkCreate,
    BulkUpdate,
    OwnerTransfer,
    RecordIds,
    RecordMerge,
    Share,
)
from meridian.core.i18n import Text
from meridian.core.ids import Id
from meridian.dataio import dossier
from meridian.errors import FieldError, StaleVersion, ValidationFailed
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.json_body import RecordsJSONResponse
from meridian.http.routing import ApiRoute, read_json
from meridian.records import bulk, conflicts, listing, merging, ownership, reads, service
from meridian.records.guards import WriteIntent
from meridian.schema.catalog import get_form

router = APIRouter(route_class=ApiRoute, tags=["records"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}


def _etag(record: dict[str, Any]) -> str:
    return f'"{record["_version"]}"'


def _if_match(header: str | None) -> int | None:
    """The version an ``If-Match`` header names (``"3"`` or ``W/"3"``)."""
    if header is None:
        return None
    token = header.strip().removeprefix("W/").strip('"')
    if not token.isdecimal():
        raise ValidationFailed(
            [FieldError("If-Match", "invalid_etag", Text('expected an ETag such as "3"'), header)]
        )
    return int(token)


Reason = Annotated[
    str | None,
    Query(
        max_length=500,
        description="Why the change is made: a stage moved back (or reopened) needs one.",
    ),
]
Override = Annotated[
    str | None,
    Query(
        max_length=500,
        description="The reason to pass unmet stage-gate criteria; only a permitted role may, "
        "and the override is recorded in the stage history and the audit trail.",
    ),
]


def _intent(reason: str | None, override: str | None) -> WriteIntent:
    return WriteIntent(reason=reason or None, override=override or None)


def _parse_filter(text: str | None) -> Any:
    return read_json(text, field="filter") if text else None


@router.get("/forms/{form_key}/records")
def list_records(
    form_key: str,
    workspace: WorkspaceDep,
    actor: ActorDep,
    filter: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    q: str | None = None,
    expr: str | None = None,
    count: bool = False,
    deleted: bool = False,
    expand: str | None = None,
) -> JSONResponse:
    """``filter`` is a JSON filter, ``expr`` a condition in the expression language, ``sort``
    like ``-amount,name``, ``q`` searches (pinyin too).

    The page is already plain JSON values, so it is written as it is: validating fifty records
    of ``Any`` against a response model cost more than reading them."""
    query = listing.RecordQuery(
        filter=_parse_filter(filter),
        sort=sort,
        limit=limit,
        cursor=cursor,
        search=q,
        expression=expr,
        count=count,
        deleted=deleted,
        expand=tuple(k.strip() for k in (expand or "").split(",") if k.strip()),
    )
    with workspace.read() as conn:
        form = get_form(conn, form_key)
        page = listing.list_records(conn=conn, actor=actor, form=form, query=query, tz=workspace.tz)
    return RecordsJSONResponse(
        {"items": page.items, "next_cursor": page.next_cursor, "total": page.total}
    )


def _answer(record: dict[str, Any], status_code: int = 200, **headers: str) -> JSONResponse:
    """The record as it is (already plain JSON values) with its ETag. Returned as a response,
    FastAPI does not validate it against ``dict[str, Any]`` in a second trip to the thread pool
    (a sync route's answer is validated there); ``response_model`` still documents it."""
    return RecordsJSONResponse(
        record, status_code=status_code, headers={"ETag": _etag(record), **headers}
    )


@router.post("/forms/{form_key}/records", status_code=201, response_model=dict[str, Any])
def create_record(
    form_key: str,
    values: dict[str, Any],
    workspace: WorkspaceDep,
    actor: ActorDep,
    reason: Reason = None,
    override: Override = None,
) -> JSONResponse:
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        record = service.create_record(
            conn=conn,
            actor=actor,
            form=form,
            values=values,
            tz=workspace.tz,
            intent=_intent(reason, override),
        )
    return _answer(record, 201, Location=f"/api/v1/forms/{form_key}/records/{record['id']}")


@router.post("/forms/{form_key}/records/bulk", status_code=201)
def create_records(
    form_key: str,
    body: BulkCreate,
    workspace: WorkspaceDep,
    actor: ActorDep,
    reason: Reason = None,
    override: Override = None,
) -> dict[str, Any]:
    """Up to 1,000 records, all or nothing."""
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        ids = bulk.create_records(
            conn=conn,
            actor=actor,
            form=form,
            items=body.items,
            tz=workspace.tz,
            intent=_intent(reason, override),
        )
    return {"ids": ids, "count": len(ids)}


@router.get("/forms/{form_key}/records/{record_id}", response_model=dict[str, Any])
def get_record(
    form_key: str,
    record_id: Id,
    workspace: WorkspaceDep,
    actor: ActorDep,
    expand: str | None = None,
) -> JSONResponse:
    keys = tuple(k.strip() for k in (expand or "").split(",") if k.strip())
    with workspace.read() as conn:
        form = get_form(conn, form_key)
        record = reads.get_record(
            conn=conn, actor=actor, form=form, record_id=record_id, expand=keys, tz=workspace.tz
        )
    return _answer(record)


@router.patch("/forms/{form_key}/records/{record_id}", response_model=dict[str, Any])
def update_record(
    form_key: str,
    record_id: Id,
    values: dict[str, Any],
    workspace: WorkspaceDep,
    actor: ActorDep,
    if_match: str | None = Header(default=None),
    reason: Reason = None,
    override: Override = None,
) -> JSONResponse:
    """Change the given fields; with ``If-Match`` a stale version gets 412 listing the
    ``clashes`` (fields changed since that this request changes too). A stage moves by
    writing its field like any other; a move its pipeline's gate refuses answers 422 with
    ``code`` ``stage_gate`` and one entry per unmet criterion."""
    expected = _if_match(if_match)
    try:
        with workspace.transaction() as conn:
            form = get_form(conn, form_key)
            record = service.update_record(
                conn=conn,
                actor=actor,
                form=form,
                record_id=record_id,
                values=values,
                expected_version=expected,
                tz=workspace.tz,
                intent=_intent(reason, override),
            )
    except StaleVersion as exc:
        if expected is None:
            raise
        with workspace.read() as conn:
            raise conflicts.stale_with_clashes(
                exc,
                conn=conn,
                actor=actor,
                form=get_form(conn, form_key),
                record_id=record_id,
                base_version=expected,
                mine=values,
                tz=workspace.tz,
            ) from None
    return _answer(record)


@router.delete("/forms/{form_key}/records/{record_id}", status_code=204)
def delete_record(
    form_key: str,
    record_id: Id,
    workspace: WorkspaceDep,
    actor: ActorDep,
    if_match: str | None = Header(default=None),
) -> Response:
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        service.delete_record(
            conn=conn,
            actor=actor,
            form=form,
            record_id=record_id,
            expected_version=_if_match(if_match),
            tz=workspace.tz,
        )
    return Response(status_code=204)


@router.post("/forms/{form_key}/records/{record_id}/restore")
def restore_record(
    form_key: str, record_id: Id, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        return service.restore_record(
            conn=conn, actor=actor, form=form, record_id=record_id, tz=workspace.tz
        )


@router.post("/forms/{form_key}/records/{record_id}/merge")
def merge_record(
    form_key: str, record_id: Id, body: RecordMerge, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """Merge record ``other`` into this one: chosen values, every link repointed, the other
    to the trash; both histories stay on this record's timeline."""
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        return merging.merge_records(
            conn=conn,
            actor=actor,
            form=form,
            record_id=record_id,
            other_id=body.other,
            fields=body.fields,
            tz=workspace.tz,
        )


@router.get("/forms/{form_key}/records/{record_id}/history")
def record_history(
    form_key: str, record_id: Id, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.read() as conn:
        form = get_form(conn, form_key)
        items = reads.record_history(
            conn=conn, actor=actor, form=form, record_id=record_id, tz=workspace.tz
        )
    return {"items": items}


@router.post("/forms/{form_key}/records/update")
def update_records(
    form_key: str,
    body: BulkUpdate,
    workspace: WorkspaceDep,
    actor: ActorDep,
    reason: Reason = None,
    override: Override = None,
) -> dict[str, Any]:
    """Give up to 1,000 records the same values, all or nothing."""
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        updated = bulk.update_records(
            conn=conn,
            actor=actor,
            form=form,
            record_ids=body.ids,
            values=body.values,
            tz=workspace.tz,
            intent=_intent(reason, override),
        )
    return {"updated": updated}


@router.post("/forms/{form_key}/records/delete")
def delete_records(
    form_key: str, body: RecordIds, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """Move up to 1,000 records to the trash, all or nothing."""
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        deleted = bulk.delete_records(
            conn=conn, actor=actor, form=form, record_ids=body.ids, tz=workspace.tz
        )
    return {"deleted": deleted}


@router.post("/forms/{form_key}/records/transfer")
def transfer_owner(
    form_key: str, body: OwnerTransfer, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        moved = ownership.transfer_owner(
            conn=conn,
            actor=actor,
            form=form,
            record_ids=body.ids,
            owner_id=body.owner_id,
            tz=workspace.tz,
        )
    return {"transferred": moved}


@router.post("/forms/{form_key}/records/{record_id}/shares", status_code=201)
def share_record(
    form_key: str, record_id: Id, body: Share, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        return ownership.share_record(
            conn=conn,
            actor=actor,
            form=form,
            record_id=record_id,
            tz=workspace.tz,
            **body.model_dump(),
        )


@router.get("/forms/{form_key}/records/{record_id}/shares")
def record_shares(
    form_key: str, record_id: Id, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.read() as conn:
        form = get_form(conn, form_key)
        items = ownership.record_shares_of(
            conn=conn, actor=actor, form=form, record_id=record_id, tz=workspace.tz
        )
    return {"items": items}


@router.delete("/forms/{form_key}/records/{record_id}/shares/{share_id}", status_code=204)
def revoke_share(
    form_key: str, record_id: Id, share_id: Id, workspace: WorkspaceDep, actor: ActorDep
) -> None:
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        ownership.revoke_share(
            conn=conn,
            actor=actor,
            form=form,
            record_id=record_id,
            share_id=share_id,
            tz=workspace.tz,
        )


@router.get(
    "/forms/{form_key}/records/{record_id}/dossier",
    response_class=Response,
    responses={200: {"description": "A ZIP archive", "content": {"application/zip": _BINARY}}},
)
def record_dossier(
    form_key: str, record_id: Id, workspace: WorkspaceDep, actor: ActorDep
) -> Response:
    """The compliance dossier: a ZIP of the record, its relations, history, files and audit."""
    with workspace.transaction() as conn:  # the export is audited
        archive = dossier.build_dossier(
            conn=conn,
            actor=actor,
            form=get_form(conn, form_key),
            record_id=record_id,
            file_root=workspace.settings.file_store_dir,
            tz=workspace.tz,
        )
    filename = f"{form_key}-{record_id}-dossier.zip"
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
