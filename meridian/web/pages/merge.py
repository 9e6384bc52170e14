"""Merging two records from the grid: both side by side, a choice per field, then one merge."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.access.permissions import form_access
from meridian.access.users import user_names
from meridian.core.i18n import Text
from meridian.errors import FieldError, MeridianError, ValidationFailed
from meridian.records import merging, reads
from meridian.schema.catalog import get_form
from meridian.web.display import Presenter, mentioned_users
from meridian.web.messages import problems_of
from meridian.web.pages.common import page
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)


def _pair(given: str) -> tuple[int, int]:
    parts = [part for part in given.split(",") if part.strip()]
    if len(parts) != 2 or not all(part.strip().isdecimal() for part in parts):
        raise ValidationFailed(
            [FieldError("ids", "invalid_selection", Text("select exactly two records"), given)]
        )
    first, second = (int(part) for part in parts)
    return first, second


def _merge_page(
    request: Request,
    viewer: Viewer,
    form_key: str,
    ids: tuple[int, int],
    *,
    chosen: dict[str, str] | None = None,
    survivor: int | None = None,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    tz = viewer.workspace.tz
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        access = form_access(conn, viewer.actor, form)
        records = [
            reads.get_record(conn=conn, actor=viewer.actor, form=form, record_id=i, tz=tz)
            for i in ids
        ]
        presenter = Presenter(
            viewer.locale, tz, user_names(conn, mentioned_users(access.visible, records))
        )
    keep = survivor if survivor is not None else ids[0]
    fields = [
        {
            "field": f,
            "listed": merging.listed(f),
            "differ": records[0].get(f.key) != records[1].get(f.key),
            "pick": (chosen or {}).get(f.key) or _default_pick(records, f.key, keep),
        }
        for f in merging.mergeable_fields(access.visible)
    ]
    return page(
        request,
        viewer,
        "merge.html",
        app_key=form.app_key,
        form_key=form_key,
        status_code=status_code,
        form=access.visible,
        records=records,
        fields=fields,
        presenter=presenter,
        chosen=chosen or {},
        survivor=keep,
        problems=problems or [],
    )


def _default_pick(records: list[dict[str, Any]], key: str, keep: int) -> str:
    """The kept record's value, unless it is empty and the other's is not."""
    kept, other = (records[0], records[1]) if records[0]["id"] == keep else (records[1], records[0])
    if _empty(kept.get(key)) and not _empty(other.get(key)):
        return str(other["id"])
    return str(kept["id"])


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


@router.get("/forms/{form_key}/merge", response_class=HTMLResponse)
def merge_form(form_key: str, request: Request, viewer: ViewerDep, ids: str = "") -> HTMLResponse:
    """The two selected records side by side; the first is kept unless chosen otherwise."""
    return _merge_page(request, viewer, form_key, _pair(ids))


@router.post("/forms/{form_key}/merge")
async def merge(form_key: str, request: Request, viewer: ViewerDep) -> Response:
    posted = await request.form()
    ids = _pair(str(posted.get("ids", "")))
    survivor_text = str(posted.get("survivor", ""))
    survivor = int(survivor_text) if survivor_text.isdecimal() else -1
    if survivor not in ids:
        raise ValidationFailed(
            [
                FieldError(
                    "survivor",
                    "invalid_survivor",
                    Text("keep one of the two records"),
                    survivor_text,
                )
            ]
        )
    other = ids[1] if survivor == ids[0] else ids[0]
    chosen = _choices(posted, survivor, other)
    try:
        with viewer.workspace.transaction() as conn:
            merging.merge_records(
                conn=conn,
                actor=viewer.actor,
                form=get_form(conn, form_key),
                record_id=survivor,
                other_id=other,
                fields=chosen,
                tz=viewer.workspace.tz,
            )
    except MeridianError as exc:
        if not isinstance(exc, ValidationFailed):
            raise
        return _merge_page(
            request,
            viewer,
            form_key,
            ids,
            chosen={key: str(posted.get(f"field_{key}")) for key in chosen},
            survivor=survivor,
            problems=problems_of(exc, viewer.locale),
            status_code=422,
        )
    return RedirectResponse(f"/forms/{form_key}/records/{survivor}", status_code=303)


def _choices(posted: Any, survivor: int, other: int) -> dict[str, str]:
    """The page posts, per field, whose value to keep (a record id) or ``both``: as the merge
    takes it, relative to the survivor."""
    chosen: dict[str, str] = {}
    for name, value in posted.multi_items():
        if not name.startswith("field_"):
            continue
        key, picked = name[len("field_") :], str(value)
        if picked == str(survivor):
            chosen[key] = "keep"
        elif picked == str(other):
            chosen[key] = "other"
        else:
            chosen[key] = picked
    return chosen
