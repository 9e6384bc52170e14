"""Kanban (grouped by a select field; a drag changes it) and calendar (by a date field)."""

from __future__ import annotations

import calendar as calendars
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy.engine import Connection

from meridian.access.permissions import FormAccess, form_access
from meridian.access.users import user_names
from meridian.core.i18n import Text
from meridian.core.ids import Id
from meridian.db.beside import read_beside
from meridian.errors import FieldError, ValidationFailed
from meridian.records import grouping, listing, service, views
from meridian.records.expand import expand_links
from meridian.records.guards import WriteIntent
from meridian.schema.catalog import get_form
from meridian.schema.colors import DEFAULT_COLOR, safe_color
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form
from meridian.web.display import Presenter, mentioned_users, record_title
from meridian.web.pages.common import page
from meridian.web.pages.grid import shown_columns
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)

CARDS_PER_COLUMN = 50
CALENDAR_LIMIT = 500


def _on_calendar(field: Field) -> bool:
    return field_type(field).calendar_dated


def _pick(
    form: Form, wanted: str | None, fits: Callable[[Field], bool], what: Text, param: str = "by"
) -> Field:
    fields = [f for f in form.active_fields if fits(f)]
    chosen = next((f for f in fields if f.key == wanted), fields[0] if fields else None)
    if chosen is None or (wanted and chosen.key != wanted):
        raise ValidationFailed(
            [
                FieldError(
                    param,
                    "invalid_grouping",
                    Text("choose a {what} field of this form", what=what),
                    wanted,
                )
            ]
        )
    return chosen


@dataclass(frozen=True)
class KanbanCard:
    """One record as its card shows it: the title and the card fields' values, formatted
    here once rather than through a template call per value (a board shows up to 350 cards:
    the template's calls were half of the page's time, issue 21)."""

    id: int
    version: int
    title: str
    lines: list[Markup]

    def markup(self, form_key: str) -> Markup:
        """The card as the board shows it, in one piece: a template's expressions per card (a
        lookup, an escape and a Markup each) were a third of a board's rendering."""
        lines = "".join(f'<div class="muted">{line}</div>' for line in self.lines)
        form_key = escape(form_key)
        return Markup(
            f'<article class="card kanban-card" data-id="{self.id}" data-version="{self.version}">'
            f'<a class="title" href="/forms/{form_key}/records/{self.id}">{escape(self.title)}</a>'
            f"{lines}</article>"
        )


@dataclass(frozen=True)
class KanbanColumn:
    """One option of the grouping field: its first cards and how many there are in all."""

    value: str | None
    label: str
    color: str
    records: list[dict[str, Any]]
    cards: Markup
    """The column's cards in one piece (a template's call per card costs more than the card:
    see :meth:`KanbanCard.markup`), made while the counts are still being read."""
    total: int
    sum: Decimal | None = None


@dataclass(frozen=True)
class _Board:
    """The form as the viewer sees it, for the page head shared with the grid."""

    form: Form
    access: FormAccess


@dataclass(frozen=True)
class KanbanSettings:
    """How a board looks: the grouping field, the search and the field each column sums; read
    from the address, or from a saved kanban view."""

    by: str | None = None
    q: str = ""
    sum: str | None = None
    view: int | None = None


def _settings(conn: Connection, viewer: Viewer, form_key: str, request: Request) -> KanbanSettings:
    params = request.query_params
    view_id = params.get("view", "")
    base: dict[str, Any] = {}
    if view_id.isdecimal():
        base = views.get_view(conn, viewer.actor, form_key, int(view_id))["settings"]
    return KanbanSettings(
        by=params.get("by") or base.get("by") or None,
        q=params.get("q", base.get("q", "")),
        sum=params.get("sum", base.get("sum", "")) or None,
        view=int(view_id) if view_id.isdecimal() else None,
    )


def _totals(
    conn: Connection, viewer: Viewer, form: Form, by: Field, sum_of: Field | None, q: str
) -> dict[str | None, grouping.GroupTotal]:
    return grouping.group_totals(
        conn=conn,
        actor=viewer.actor,
        form=form,
        by=by.key,
        sum_of=sum_of.key if sum_of else None,
        search=q or None,
        tz=viewer.workspace.tz,
    )


def _summed(access: FormAccess, wanted: str | None) -> Field | None:
    if not wanted:
        return None
    return _pick(access.visible, wanted, grouping.sums, Text("number or money"), "sum")


def _in_column(field: Field, value: str | None) -> dict[str, Any]:
    """The filter of a column's cards: the option, or the field left blank."""
    if value is None:
        return {"field": field.key, "op": "is_blank", "value": True}
    return {"field": field.key, "op": "eq", "value": value}


def _cards(
    records: list[dict[str, Any]],
    form_key: str,
    form: Form,
    shown: list[Field],
    presenter: Presenter,
) -> Markup:
    """A column's cards in one piece: each record's title and the values of ``shown``."""
    return Markup(
        "".join(
            KanbanCard(
                record["id"],
                record["_version"],
                record_title(form, record, presenter),
                [line for f in shown if (line := presenter.html(f, record[f.key]))],
            ).markup(form_key)
            for record in records
        )
    )


@router.get("/forms/{form_key}/kanban", response_class=HTMLResponse)
def kanban(form_key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    """Counts and sums of every column in one grouped statement, read beside the cards on
    PostgreSQL (``db.beside``: the same snapshot, on a second connection, while the cards are
    read, their links' titles and owners' names looked up and the cards written out); the
    first cards of every column in one more (an indexed page per column,
    ``listing.list_first_pages``; the blank column's too, shown only when the counts find
    records there), and the titles their links show for all columns at once."""
    tz = viewer.workspace.tz
    with viewer.workspace.read() as conn:
        settings = _settings(conn, viewer, form_key, request)
        q = settings.q
        form = get_form(conn, form_key)
        access = form_access(conn, viewer.actor, form)
        field = _pick(access.visible, settings.by, grouping.groups, Text("single select"))
        sum_of = _summed(access, settings.sum)
        card_fields = [f for f in shown_columns(access.visible, ()) if f.key != field.key][:3]
        expand = tuple(f.key for f in card_fields if field_type(f).links_records)
        shape = [
            *((o.value, o.label, safe_color(o.color)) for o in field.options),
            (None, "—", DEFAULT_COLOR),
        ]
        with read_beside(
            conn, lambda side: _totals(side, viewer, form, field, sum_of, q)
        ) as counted:
            pages = listing.list_first_pages(  # every column's first cards in one statement
                conn=conn,
                actor=viewer.actor,
                form=form,
                queries=[
                    listing.RecordQuery(
                        filter=_in_column(field, value),
                        search=q or None,
                        sort="-updated_at",
                        limit=CARDS_PER_COLUMN,
                    )
                    for value, _, _ in shape
                ],
                tz=tz,
                fields=[
                    field.key,
                    access.visible.title_field or "id",
                    *(f.key for f in card_fields),
                ],
            )
            records = [record for page in pages for record in page]
            if expand:  # the linked titles of every column's cards in one query per link field
                expand_links(conn, access.visible, records, expand, viewer.actor, tz)
            presenter = Presenter(
                viewer.locale, tz, user_names(conn, mentioned_users(access.visible, records))
            )
            shown = [f for f in card_fields if f.key != access.visible.title_field]
            cards = [_cards(page, form_key, access.visible, shown, presenter) for page in pages]
            saved = views.list_views(conn, viewer.actor, form_key)
            totals = counted.result()
        columns = [
            KanbanColumn(value, label, color, page, markup, total.count, total.sum)
            for (value, label, color), page, markup in zip(shape, pages, cards, strict=True)
            if (total := totals.get(value, grouping.GroupTotal(0, None))).count or value is not None
        ]
    return page(
        request,
        viewer,
        "kanban.html",
        app_key=form.app_key,
        form_key=form_key,
        grid=_Board(access.visible, access),
        by=field,
        sum_of=sum_of,
        settings=settings,
        views=saved,
        groupings=[f for f in access.visible.active_fields if grouping.groups(f)],
        summables=grouping.summable_fields(access.visible),
        columns=columns,
        presenter=presenter,
        can_move=access.may("update") and field.key not in access.read_only,
        q=q,
    )


@router.get("/forms/{form_key}/kanban/totals")
def kanban_totals(
    form_key: str, viewer: ViewerDep, by: str, q: str = "", sum: str = ""
) -> dict[str, Any]:
    """Every column's count and sum as they are now (the board asks after each drop)."""
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        access = form_access(conn, viewer.actor, form)
        field = _pick(access.visible, by, grouping.groups, Text("single select"))
        sum_of = _summed(access, sum)
        totals = _totals(conn, viewer, form, field, sum_of, q)
    presenter = Presenter(viewer.locale, viewer.workspace.tz, {})
    return {
        "columns": {
            value or "": {
                "count": total.count,
                "sum": presenter.number(sum_of, total.sum if total.sum is not None else 0)
                if sum_of
                else None,
            }
            for value, total in totals.items()
        }
    }


@router.post("/forms/{form_key}/records/{record_id}/move")
async def move(form_key: str, record_id: Id, request: Request, viewer: ViewerDep) -> Any:
    """A card dropped in another column: the same update, validation and history as any edit."""
    body = await request.json()
    if not isinstance(body, dict) or not isinstance(body.get("field"), str):
        raise ValidationFailed(
            [FieldError("field", "invalid_move", Text("say which field the column is"), body)]
        )
    version = body.get("version")
    reason = body.get("reason")  # a stage moved back needs one (the board asks for it)
    with viewer.workspace.transaction() as conn:
        record = service.update_record(
            conn=conn,
            actor=viewer.actor,
            form=get_form(conn, form_key),
            record_id=record_id,
            values={body["field"]: body.get("value")},
            expected_version=version if isinstance(version, int) else None,
            tz=viewer.workspace.tz,
            intent=WriteIntent(reason=reason if isinstance(reason, str) and reason else None),
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
            [FieldError("month", "invalid_month", Text("a month is written YYYY-MM"), month)]
        ) from None
    days_in_month = calendars.monthrange(first.year, first.month)[1]
    last = first + timedelta(days=days_in_month - 1)
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        access = form_access(conn, viewer.actor, form)
        field = _pick(access.visible, by, _on_calendar, Text("date"))
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
        day = field_type(field).calendar_day(field, value, tz)
        if day is None:
            continue
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
        dates=[f for f in access.visible.active_fields if _on_calendar(f)],
        first=first,
        weeks=weeks,
        by_day=by_day,
        previous=previous,
        following=following,
        truncated=result.next_cursor is not None,
    )
