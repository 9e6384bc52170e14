"""The grid: columns, sort, filter, search, keyset pages, inline edit, bulk actions, views."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from meridian.access.permissions import FormAccess, form_access
from meridian.access.users import find_user_id, user_names
from meridian.core import strict_json
from meridian.core.i18n import Text
from meridian.core.ids import Id
from meridian.errors import FieldError, MeridianError, ValidationFailed
from meridian.records import bulk as bulk_writes
from meridian.records import listing, ownership, reads, service, views
from meridian.records.assignees import assignable_users
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import field_type, field_types_of
from meridian.schema.model import Field
from meridian.schema.model import Form as FormDef
from meridian.web.display import Presenter, mentioned_users
from meridian.web.inputs import editable_inline, parse_input
from meridian.web.messages import localized, problems_of
from meridian.web.pages.common import fragment, page
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50
MAX_BULK = 500
"""Bulk edit, delete and owner transfer are set-based; each record still gets its checks,
history, event and rules, all in one transaction, so a selection is bounded."""
DEFAULT_COLUMNS = 8


@dataclass(frozen=True)
class GridState:
    """What the grid shows; read from the address, so every view is a link."""

    columns: tuple[str, ...] = ()
    sort: str = ""
    filter: str = ""
    q: str = ""
    view: int | None = None

    @property
    def filter_value(self) -> Any:
        """The structured filter; text that is not JSON is handed on for the service to name."""
        if not self.filter:
            return None
        try:
            return strict_json.loads(self.filter)
        except strict_json.RefusedJSON:
            return self.filter

    def query_string(self, **changes: Any) -> str:
        state = replace(self, **changes)
        pairs = {
            "columns": ",".join(state.columns),
            "sort": state.sort,
            "filter": state.filter,
            "q": state.q,
            "view": "" if state.view is None else str(state.view),
        }
        return urlencode({k: v for k, v in pairs.items() if v})


def _state(conn: Connection, viewer: Viewer, form: FormDef, request: Request) -> GridState:
    params = request.query_params
    view_id = params.get("view")
    base: dict[str, Any] = {}
    if view_id and view_id.isdecimal():
        base = views.get_view(conn, viewer.actor, form.key, int(view_id))["settings"]
    columns = params.get("columns") or ",".join(base.get("columns", []))
    return GridState(
        columns=tuple(c for c in columns.split(",") if c),
        sort=params.get("sort", base.get("sort", "")),
        filter=params.get("filter", base.get("filter", "")),
        q=params.get("q", base.get("q", "")),
        view=int(view_id) if view_id and view_id.isdecimal() else None,
    )


def shown_columns(visible: FormDef, chosen: tuple[str, ...]) -> list[Field]:
    fields = {f.key: f for f in visible.active_fields}
    picked = [fields[key] for key in chosen if key in fields]
    if picked:
        return picked
    return [f for f in visible.active_fields if not field_type(f).wide][:DEFAULT_COLUMNS]


@dataclass
class GridPage:
    form: FormDef
    access: FormAccess
    columns: list[Field]
    items: list[dict[str, Any]]
    next_cursor: str | None
    presenter: Presenter
    state: GridState
    error: str = ""


def load_grid(
    conn: Connection, viewer: Viewer, form: FormDef, state: GridState, cursor: str | None
) -> GridPage:
    access = form_access(conn, viewer.actor, form)
    columns = shown_columns(access.visible, state.columns)
    query = listing.RecordQuery(
        filter=state.filter_value,
        sort=state.sort or "-id",
        limit=PAGE_SIZE,
        cursor=cursor,
        search=state.q or None,
        expand=tuple(f.key for f in columns if field_type(f).links_records),
    )
    error = ""
    try:
        result = listing.list_records(
            conn=conn, actor=viewer.actor, form=form, query=query, tz=viewer.workspace.tz
        )
    except ValidationFailed as exc:
        if not (state.filter or state.sort or state.q):
            raise
        error = "; ".join(problems_of(exc, viewer.locale))
        result = listing.list_records(
            conn=conn,
            actor=viewer.actor,
            form=form,
            query=replace(query, filter=None, sort="-id", search=None),
            tz=viewer.workspace.tz,
        )
    presenter = Presenter(
        viewer.locale,
        viewer.workspace.tz,
        user_names(conn, mentioned_users(access.visible, result.items)),
    )
    return GridPage(
        form=access.visible,
        access=access,
        columns=columns,
        items=result.items,
        next_cursor=result.next_cursor,
        presenter=presenter,
        state=state,
        error=error,
    )


def _filter_fields(form: FormDef, _: Any) -> list[dict[str, Any]]:
    """What the filter builder offers: every visible field its type gives a filter input
    (``FieldType.filter_input``), with its options."""
    system = [
        {"key": "owner_id", "label": _("Owner"), "input": "id", "options": []},
        {"key": "created_at", "label": _("Created"), "input": "date", "options": []},
        {"key": "updated_at", "label": _("Updated"), "input": "date", "options": []},
    ]
    return [
        {
            "key": f.key,
            "label": f.label,
            "type": f.type,
            "input": field_type(f).filter_input,
            "ops": list(field_type(f).operators(f)),
            "options": [{"value": o.value, "label": o.label} for o in f.options],
        }
        for f in form.active_fields
        if field_type(f).filter_input is not None
    ] + system


@router.get("/forms/{form_key}", response_class=HTMLResponse)
def grid(form_key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        grid = load_grid(conn, viewer, form, _state(conn, viewer, form, request), None)
        saved = views.list_views(conn, viewer.actor, form_key)
    return page(
        request,
        viewer,
        "grid.html",
        app_key=grid.form.app_key,
        form_key=form_key,
        grid=grid,
        views=saved,
        filter_fields=_filter_fields(grid.form, viewer._),
        editable=editable_inline(field_types_of(viewer.workspace.plugins)),
    )


@router.get("/forms/{form_key}/count", response_class=HTMLResponse)
def count(form_key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    """The total, asked for after the first page is on screen: counting a million rows takes
    longer than showing fifty of them."""
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        state = _state(conn, viewer, form, request)
        try:
            total = listing.count_records(
                conn=conn,
                actor=viewer.actor,
                form=form,
                query=listing.RecordQuery(filter=state.filter_value, search=state.q or None),
                tz=viewer.workspace.tz,
            )
        except ValidationFailed:
            total = None
    return fragment(request, viewer, "grid_total.html", total=total)


@router.get("/forms/{form_key}/rows", response_class=HTMLResponse)
def more_rows(form_key: str, request: Request, viewer: ViewerDep, cursor: str) -> HTMLResponse:
    """The next page of rows, appended in place of the "more" row (keyset, stays fast)."""
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        grid = load_grid(conn, viewer, form, _state(conn, viewer, form, request), cursor)
    return fragment(
        request,
        viewer,
        "grid_rows.html",
        grid=grid,
        editable=editable_inline(field_types_of(viewer.workspace.plugins)),
    )


def _cell(
    request: Request,
    viewer: Viewer,
    form_key: str,
    record_id: int,
    key: str,
    *,
    editing: bool,
    error: str = "",
    raw: Any = None,
) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        access = form_access(conn, viewer.actor, form)
        field = access.visible.get_field(key)
        if field is None:
            raise ValidationFailed([FieldError(key, "unknown_field", Text("no such field"), key)])
        expand = (key,) if field_type(field).links_records and not editing else ()
        record = reads.get_record(
            conn=conn,
            actor=viewer.actor,
            form=form,
            record_id=record_id,
            expand=expand,
            tz=viewer.workspace.tz,
        )
        presenter = Presenter(
            viewer.locale, viewer.workspace.tz, user_names(conn, mentioned_users(form, [record]))
        )
    return fragment(
        request,
        viewer,
        "grid_cell.html",
        form=access.visible,
        access=access,
        field=field,
        record=record,
        presenter=presenter,
        editing=editing,
        editable=editable_inline(field_types_of(viewer.workspace.plugins)),
        error=error,
        raw=raw,
    )


@router.get("/forms/{form_key}/records/{record_id}/cells/{key}", response_class=HTMLResponse)
def cell(
    form_key: str, record_id: Id, key: str, request: Request, viewer: ViewerDep, edit: bool = False
) -> HTMLResponse:
    return _cell(request, viewer, form_key, record_id, key, editing=edit)


@router.post("/forms/{form_key}/records/{record_id}/cells/{key}", response_class=HTMLResponse)
async def save_cell(
    form_key: str, record_id: Id, key: str, request: Request, viewer: ViewerDep
) -> HTMLResponse:
    """Inline edit: the server's own validation; an error stays beside the cell."""
    posted = await request.form()
    version = posted.get("_version")
    try:
        with viewer.workspace.transaction() as conn:
            form = get_form(conn, form_key)
            field = form.get_field(key)
            if field is None:
                raise ValidationFailed(
                    [FieldError(key, "unknown_field", Text("no such field"), key)]
                )
            service.update_record(
                conn=conn,
                actor=viewer.actor,
                form=form,
                record_id=record_id,
                values={key: parse_input(field, posted.getlist(key))},
                expected_version=int(str(version)) if version else None,
                tz=viewer.workspace.tz,
            )
    except MeridianError as exc:
        said = [e.message for e in getattr(exc, "errors", [])] or [exc.detail]
        messages = list(dict.fromkeys(localized(message, viewer.locale) for message in said))
        return _cell(
            request,
            viewer,
            form_key,
            record_id,
            key,
            editing=True,
            error="; ".join(messages),
            raw=posted.get(key),
        )
    return _cell(request, viewer, form_key, record_id, key, editing=False)


@router.post("/forms/{form_key}/bulk")
async def bulk(form_key: str, request: Request, viewer: ViewerDep) -> Response:
    """Bulk delete, set one field, or transfer owner for the selected records."""
    posted = await request.form()
    ids = [int(str(i)) for i in posted.getlist("ids") if str(i).isdecimal()]
    if not 1 <= len(ids) <= MAX_BULK:
        raise ValidationFailed(
            [
                FieldError(
                    "ids",
                    "invalid_selection",
                    Text("select 1 to {limit} records", limit=MAX_BULK),
                    len(ids),
                )
            ]
        )
    action = str(posted.get("action", ""))
    back = request.headers.get("hx-current-url") or f"/forms/{form_key}"
    with viewer.workspace.transaction() as conn:
        form = get_form(conn, form_key)
        if action == "delete":
            bulk_writes.delete_records(
                conn=conn, actor=viewer.actor, form=form, record_ids=ids, tz=viewer.workspace.tz
            )
        elif action == "transfer":
            ownership.transfer_owner(
                conn=conn,
                actor=viewer.actor,
                form=form,
                record_ids=ids,
                owner_id=_user_id(conn, str(posted.get("owner_id", ""))),
                tz=viewer.workspace.tz,
            )
        elif action == "edit":
            key = str(posted.get("field", ""))
            field = form.get_field(key)
            if field is None:
                raise ValidationFailed(
                    [FieldError("field", "unknown_field", Text("no such field"), key)]
                )
            bulk_writes.update_records(
                conn=conn,
                actor=viewer.actor,
                form=form,
                record_ids=ids,
                values={key: parse_input(field, posted.getlist("value"))},
                tz=viewer.workspace.tz,
            )
        else:
            raise ValidationFailed(
                [FieldError("action", "unknown_action", Text("no such action"), action)]
            )
    return Response(status_code=204, headers={"HX-Redirect": back})


@router.get("/forms/{form_key}/assignees", response_class=HTMLResponse)
def assignees(form_key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    """The owner picker's options: the users the viewer may give these records to, found by
    name, email or pinyin."""
    typed = request.query_params.get("_q_owner_id", "")
    with viewer.workspace.read() as conn:
        found = assignable_users(
            conn=conn, actor=viewer.actor, form=get_form(conn, form_key), search=typed
        )
    options = [(user["id"], f"{user['name']} · {user['email']}") for user in found]
    return fragment(request, viewer, "choices.html", options=options, selected=[], many=False)


def _user_id(conn: Connection, given: str) -> int:
    """A user named by id or email."""
    given = given.strip()
    found = int(given) if given.isdecimal() else find_user_id(conn, given.lower())
    if found is None:
        raise ValidationFailed(
            [FieldError("owner_id", "unknown_user", Text("no user with this id or email"), given)]
        )
    return found


@router.post("/forms/{form_key}/views")
def save_view(
    form_key: str,
    viewer: ViewerDep,
    name: str = Form(...),
    settings: str = Form(...),
    shared: bool = Form(False),
) -> Response:
    with viewer.workspace.transaction() as conn:
        view = views.save_view(
            conn,
            viewer.actor,
            get_form(conn, form_key),
            name=name,
            shared=shared,
            settings=settings,
        )
    kind = view["settings"].get("kind", "grid")
    suffix = "" if kind == "grid" else f"/{kind}"
    return RedirectResponse(f"/forms/{form_key}{suffix}?view={view['id']}", status_code=303)


@router.post("/forms/{form_key}/views/{view_id}/delete")
def delete_view(form_key: str, view_id: Id, viewer: ViewerDep) -> Response:
    with viewer.workspace.transaction() as conn:
        views.delete_view(conn, viewer.actor, form_key, view_id)
    return RedirectResponse(f"/forms/{form_key}", status_code=303)
