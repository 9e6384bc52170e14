"""Kanban (grouped by a select field; a drag changes it) and calendar (by a date field)."""

from __future__ import annotations

import calendar as calendars
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from meridian.access.permissions import FormAccess, form_access
from meridian.access.users import user_names
from meridian.core.ids import Id
from meridian.errors import FieldError, ValidationFailed
from meridian.records import listing, service
from meridian.schema.catalog import get_form
from meridian.schema.colors import DEFAULT_COLOR, safe_color
from meridian.schema.model import Field, Form
from meridian.web.display import Presenter, mentioned_users, record_title
from meridian.web.pages.common import page
from meridian.web.pages.grid import shown_columns
from meridian.web.session import ViewerDep

router = APIRouter()

CARDS_PER_COLUMN = 50
CALENDAR_LIMIT = 500


def _pick(form: Form, wanted: str | None, types: tuple[str, ...], what: str) -> Field:
    fields = [f for f in form.active_fields if f.type in types]
    chosen = next((f for f in fields if f.key == wanted), fields[0] if fields else None)
    if chosen is None or (wanted and chosen.key != wanted):
        raise ValidationFailed(
            [FieldError("by", "invalid_grouping", f"choose a {what} field of this form", wanted)]
        )
    return chosen


@dataclass(frozen=True)
class KanbanColumn:
    """One option of the grouping field: its first cards and how many there are in all."""

    value: str | None
    label: str
    color: str
    records: list[dict[str, Any]]
    total: int


@dataclass(frozen=True)
class _Board:
    """The form as the viewer sees it, for the page head shared with the grid."""

    form: Form
    access: FormAccess


@router.get("/forms/{form_key}/kanban", response_class=HTMLResponse)
def kanban(
    form_key: str, request: Request, viewer: ViewerDep, by: str | None = None, q: str = ""
) -> HTMLResponse:
    """One indexed query per column, each the first cards in the column."""
    tz = viewer.workspace.tz
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        access = form_access(conn, viewer.actor, form)
        field = _pick(access.visible, by, ("select",), "single select")
        card_fields = [f for f in shown_columns(access.visible, ()) if f.key != field.key][:3]
        expand = tuple(f.key for f in card_fields if f.type == "link")
        columns = []
        for value, label, color in [
            *((o.value, o.label, safe_color(o.color)) for o in field.options),
            (None, "—", DEFAULT_COLOR),
        ]:
            condition = (
                {"field": field.key, "op": "is_blank", "value": True}
                if value is None
                else {"field": field.key, "op": "eq", "value": value}
            )
            result = listing.list_records(
                conn=conn,
                actor=viewer.actor,
                form=form,
                query=listing.RecordQuery(
                    filter=condition,
                    search=q or None,
                    sort="-updated_at",
                    limit=CARDS_PER_COLUMN,
                    count=True,
                    expand=expand,
                ),
                tz=tz,
            )
            if value is None and not result.items:
                continue
            columns.append(KanbanColumn(value, label, color, result.items, result.total or 0))
        records = [item for column in columns for item in column.records]
        presenter = Presenter(
            viewer.locale, tz, user_names(conn, mentioned_users(access.visible, records))
        )
    return page(
        request,
        viewer,
        "kanban.html",
        app_key=form.app_key,
        form_key=form_key,
        grid=_Board(access.visible, access),
        by=field,
        groupings=[f for f in access.visible.active_fields if f.type == "select"],
        columns=columns,
        card_fields=card_fields,
        presenter=presenter,
        title_of=lambda record: record_title(access.visible, record, presenter),
        can_move=access.may("update") and field.key not in access.read_only,
        q=q,
    )


@router.post("/forms/{form_key}/records/{record_id}/move")
async def move(form_key: str, record_id: Id, request: Request, viewer: ViewerDep) -> Any:
    """A card dropped in another column: the same update, validation and history as any edit."""
    body = await request.json()
    if not isinstance(body, dict) or not isinstance(body.get("field"), str):
        raise ValidationFailed(
            [FieldError("field", "invalid_move", "say which field the column is", body)]
        )
    version = body.get("version")
    with viewer.workspace.transaction() as conn:
        record = service.update_record(
            conn=conn,
            actor=viewer.actor,
            form=get_form(conn, form_key),
            record_id=record_id,
            values={body["field"]: body.get("value")},
            expected_version=version if isinstance(version, int) else None,
            tz=viewer.workspace.tz,
        )
    return {"id": record["id"], "_version": record["_version"]}


@router.get("/forms/{form_key}/calendar", response_class=HTMLResponse)
def calendar(
    form_key: str,
    request: Request,
    viewer: ViewerDep,
    by: str | None = None,
    month: str | None = None,
) -> HTMLResponse:
    tz = viewer.workspace.tz
    try:
        today = viewer.workspace.clock.now().astimezone(tz).date()
        first = date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
    except ValueError:
        raise ValidationFailed(
            [FieldError("month", "invalid_month", "a month is written YYYY-MM", month)]
        ) from None
    days_in_month = calendars.monthrange(first.year, first.month)[1]
    last = first + timedelta(days=days_in_month - 1)
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        access = form_access(conn, viewer.actor, form)
        field = _pick(access.visible, by, ("date", "datetime"), "date")
        upper = (last + timedelta(days=1)).isoformat()
        result = listing.list_records(
            conn=conn,
            actor=viewer.actor,
            form=form,
            query=listing.RecordQuery(
                filter={
                    "and": [
                        {"field": field.key, "op": "gte", "value": first.isoformat()},
                        {"field": field.key, "op": "lt", "value": upper},
                    ]
                },
                sort=field.key,
                limit=CALENDAR_LIMIT,
            ),
            tz=tz,
        )
        presenter = Presenter(viewer.locale, tz, {})
    by_day: dict[date, list[dict[str, Any]]] = {}
    for item in result.items:
        value = item[field.key]
        day = (
            date.fromisoformat(value)
            if field.type == "date"
            else datetime.fromisoformat(value).astimezone(tz).date()
        )
        by_day.setdefault(day, []).append(
            {"id": item["id"], "title": record_title(access.visible, item, presenter)}
        )
    start = first - timedelta(days=first.weekday())
    weeks = [[start + timedelta(days=7 * w + d) for d in range(7)] for w in range(6)]
    if weeks[-1][0] > last:
        weeks = weeks[:-1]
    previous = (first - timedelta(days=1)).strftime("%Y-%m")
    following = (last + timedelta(days=1)).strftime("%Y-%m")
    return page(
        request,
        viewer,
        "calendar.html",
        app_key=form.app_key,
        form_key=form_key,
        grid=_Board(access.visible, access),
        by=field,
        dates=[f for f in access.visible.active_fields if f.type in ("date", "datetime")],
        first=first,
        weeks=weeks,
        by_day=by_day,
        previous=previous,
        following=following,
        truncated=result.next_cursor is not None,
    )
