"""One record: its page (fields as designed, related records, timeline, files) and its forms."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from meridian.access import organisation
from meridian.access.permissions import form_access
from meridian.access.users import active_users, user_names
from meridian.core.ids import Id
from meridian.errors import MeridianError, NotFound, StaleVersion, ValidationFailed
from meridian.flows.tasks import service as task_service
from meridian.records import conflicts, listing, ownership, reads, service
from meridian.records.files import get_file
from meridian.rules import engine as rules_engine
from meridian.schema.catalog import get_form, list_forms
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form
from meridian.web.display import Presenter, mentioned_users, record_title
from meridian.web.inputs import parse_record_form
from meridian.web.layout import sections_of
from meridian.web.messages import localized, problems_of
from meridian.web.pages.common import fragment, page
from meridian.web.routing import PageRoute
from meridian.web.rule_words import RuleWords, Vocabulary
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)

RELATED_LIMIT = 10
RELATED_COLUMNS = 3
"""Columns a related list shows besides the title when the builder chose none."""


def related_columns(form: Form, link: Field) -> list[Field]:
    """The fields of ``form`` (as the viewer sees it) that its list under the record ``link``
    points at shows: the builder's choice, else the first few listed fields."""
    chosen = [form.get_field(key) for key in link.related_columns]
    shown = [f for f in chosen if f is not None and not f.archived]
    if link.related_columns:
        return shown
    return [
        f
        for f in form.active_fields
        if f.key not in (link.key, form.title_field) and not field_type(f).wide
    ][:RELATED_COLUMNS]


def _related(conn: Connection, viewer: Viewer, form: Form, record_id: int) -> list[dict[str, Any]]:
    """Records of other forms whose link points here, per link field the viewer may read,
    with the columns the builder chose for the list."""
    groups = []
    for other in list_forms(conn):
        for link in other.active_fields:
            if not field_type(link).links_records or link.target != form.key or link.many:
                continue
            access = form_access(conn, viewer.actor, other)
            if not access.may("read") or access.visible.get_field(link.key) is None:
                continue
            columns = related_columns(access.visible, link)
            page_ = listing.list_records(
                conn=conn,
                actor=viewer.actor,
                form=other,
                query=listing.RecordQuery(
                    filter={"field": link.key, "op": "eq", "value": record_id},
                    sort="-id",
                    limit=RELATED_LIMIT,
                    count=True,
                    expand=tuple(f.key for f in columns if field_type(f).links_records),
                ),
                tz=viewer.workspace.tz,
            )
            groups.append(
                {
                    "form": access.visible,
                    "link": link,
                    "page": page_,
                    "columns": columns,
                    "may_create": access.may("create") and link.key not in access.read_only,
                }
            )
    return groups


def _files(conn: Connection, form: Form, record: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for field in form.active_fields:
        if field_type(field).holds_files:
            for token in record.get(field.key) or []:
                try:
                    found.append({**get_file(conn=conn, token=token), "field": field.label})
                except NotFound:
                    continue
    return found


@router.get("/forms/{form_key}/records/{record_id}", response_class=HTMLResponse)
def detail(form_key: str, record_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _detail(request, viewer, form_key, record_id)


def _detail(
    request: Request,
    viewer: Viewer,
    form_key: str,
    record_id: int,
    *,
    status_code: int = 200,
    share_problems: list[str] | None = None,
) -> HTMLResponse:
    tz = viewer.workspace.tz
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        access = form_access(conn, viewer.actor, form)
        visible = access.visible
        links = tuple(f.key for f in visible.active_fields if field_type(f).links_records)
        record = reads.get_record(
            conn=conn, actor=viewer.actor, form=form, record_id=record_id, expand=links, tz=tz
        )
        history = reads.record_history(
            conn=conn, actor=viewer.actor, form=form, record_id=record_id, tz=tz
        )
        related = _related(conn, viewer, form, record_id)
        files = _files(conn, visible, record)
        automation = (
            rules_engine.runs(
                conn, form_key=form_key, record_id=record_id, limit=20, locale=viewer.locale
            )
            if viewer.actor.is_admin
            else []
        )
        shares = ownership.record_shares_of(
            conn=conn, actor=viewer.actor, form=form, record_id=record_id, tz=tz
        )
        allowed = ownership.may_share(
            conn=conn, actor=viewer.actor, form=form, record_id=record_id, tz=tz
        )
        sharing = _share_targets(conn) if allowed else None
        record_tasks = task_service.record_tasks(
            conn=conn, actor=viewer.actor, form_key=form_key, record_id=record_id, tz=tz
        )
        people = active_users(conn)
        mentioned = (
            mentioned_users(visible, [record])
            | {h["actor_id"] for h in history}
            | {s["user_id"] for s in shares}
            | {u for g in related for u in mentioned_users(g["form"], g["page"].items)}
            | {t["created_by"] for t in record_tasks}
            | {t["closed_by"] for t in record_tasks}
        )
        presenter = Presenter(viewer.locale, tz, user_names(conn, mentioned))
        departments = {d["id"]: d["name"] for d in organisation.list_departments(conn)}
    return page(
        request,
        viewer,
        "record.html",
        status_code=status_code,
        shares=shares,
        sharing=sharing,
        department_names=departments,
        share_problems=share_problems or [],
        app_key=form.app_key,
        form_key=form_key,
        form=visible,
        access=access,
        record=record,
        title=record_title(visible, record, presenter),
        sections=sections_of(visible),
        history=_timeline(history, record_tasks),
        tasks=record_tasks,
        people=people,
        related=related,
        files=files,
        automation=automation,
        rule_words=RuleWords(viewer._, Vocabulary(forms={})),
        presenter=presenter,
    )


def _editor(
    request: Request,
    viewer: Viewer,
    form_key: str,
    record: dict[str, Any] | None,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    general: list[str] | None = None,
    status_code: int = 200,
    conflict: conflicts.Reconciliation | None = None,
    back: str | None = None,
) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        access = form_access(conn, viewer.actor, form)
        access.require("update" if record else "create")
        choices = active_users(conn)
        names = user_names(conn, conflict.changed_by) if conflict else {}
    shown = {**(record or {}), **(values or {})}
    return page(
        request,
        viewer,
        "record_form.html",
        status_code=status_code,
        app_key=form.app_key,
        form_key=form_key,
        form=access.visible,
        access=access,
        record=record,
        values=shown,
        errors=errors or {},
        general=general or [],
        sections=sections_of(access.visible),
        users=choices,
        presenter=Presenter(viewer.locale, viewer.workspace.tz, names),
        conflict=conflict,
        back=back,
        conflicts_by_key={c.key: c for c in conflict.conflicts} if conflict else {},
        changed_by=[
            names.get(user_id, f"#{user_id}") if user_id else viewer._("Meridian")
            for user_id in (conflict.changed_by if conflict else [])
        ],
    )


def _problems(exc: ValidationFailed, form: Form, locale: str) -> tuple[dict[str, str], list[str]]:
    """Each error beside its field (``items.2.qty`` beside ``items``); the rest on top."""
    by_field: dict[str, list[str]] = {}
    general = []
    for error in exc.errors:
        head = error.field.split(".")[0]
        message = localized(error.message, locale)
        if form.get_field(head) is not None:
            where = error.field[len(head) + 1 :]
            by_field.setdefault(head, []).append(f"{where}: {message}" if where else message)
        else:
            general.append(message)
    return {key: "; ".join(messages) for key, messages in by_field.items()}, general


_RECORD_PAGE = re.compile(r"/forms/[a-z][a-z0-9_]{0,62}/records/[1-9][0-9]{0,18}")


def _back_to(target: Any) -> str | None:
    """A record page to return to after creating a related record; nothing else (never
    another site)."""
    text = str(target or "")
    return text if _RECORD_PAGE.fullmatch(text) else None


@router.get("/forms/{form_key}/new", response_class=HTMLResponse)
def new_record(form_key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    """A blank form; ``?<link field>=<id>`` fills a link (a follow-up started from the
    customer's page), and ``_back`` is the record page to return to after saving."""
    with viewer.workspace.read() as conn:
        visible = form_access(conn, viewer.actor, get_form(conn, form_key)).visible
        filled = _linked_from(conn, viewer, visible, request.query_params)
    return _editor(
        request,
        viewer,
        form_key,
        None,
        values=filled,
        back=_back_to(request.query_params.get("_back")),
    )


def _linked_from(conn: Connection, viewer: Viewer, form: Form, params: Any) -> dict[str, Any]:
    """Single links named in the address, each as ``{id, title}`` when the viewer may read
    the linked record (else left blank)."""
    filled: dict[str, Any] = {}
    for field in form.active_fields:
        given = str(params.get(field.key, ""))
        if (
            not field_type(field).links_records
            or field.many
            or not field.target
            or not given.isdecimal()
        ):
            continue
        target = get_form(conn, field.target)
        found = listing.list_records(
            conn=conn,
            actor=viewer.actor,
            form=target,
            query=listing.RecordQuery(filter={"field": "id", "op": "eq", "value": int(given)}),
            tz=viewer.workspace.tz,
        )
        if found.items:
            presenter = Presenter(viewer.locale, viewer.workspace.tz, {})
            target_visible = form_access(conn, viewer.actor, target).visible
            title = record_title(target_visible, found.items[0], presenter)
            filled[field.key] = {"id": found.items[0]["id"], "title": title}
    return filled


@router.post("/forms/{form_key}/new", response_class=HTMLResponse)
async def create_record(form_key: str, request: Request, viewer: ViewerDep) -> Response:
    posted = await request.form()
    with viewer.workspace.read() as conn:
        visible = form_access(conn, viewer.actor, get_form(conn, form_key)).visible
    values = parse_record_form(visible.active_fields, posted)
    back = _back_to(posted.get("_back"))
    try:
        with viewer.workspace.transaction() as conn:
            record = service.create_record(
                conn=conn,
                actor=viewer.actor,
                form=get_form(conn, form_key),
                values=values,
                tz=viewer.workspace.tz,
            )
    except ValidationFailed as exc:
        errors, general = _problems(exc, visible, viewer.locale)
        return _editor(
            request,
            viewer,
            form_key,
            None,
            values=values,
            errors=errors,
            general=general,
            status_code=422,
            back=back,
        )
    return RedirectResponse(back or f"/forms/{form_key}/records/{record['id']}", status_code=303)


@router.get("/forms/{form_key}/records/{record_id}/edit", response_class=HTMLResponse)
def edit_record(form_key: str, record_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        visible = form_access(conn, viewer.actor, form).visible
        record = reads.get_record(
            conn=conn,
            actor=viewer.actor,
            form=form,
            record_id=record_id,
            expand=tuple(f.key for f in visible.active_fields if field_type(f).links_records),
            tz=viewer.workspace.tz,
        )
    return _editor(request, viewer, form_key, record)


@router.post("/forms/{form_key}/records/{record_id}/edit", response_class=HTMLResponse)
async def update_record(
    form_key: str, record_id: Id, request: Request, viewer: ViewerDep
) -> Response:
    posted = await request.form()
    version = str(posted.get("_version", ""))
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        access = form_access(conn, viewer.actor, form)
        record = reads.get_record(
            conn=conn, actor=viewer.actor, form=form, record_id=record_id, tz=viewer.workspace.tz
        )
    editable = [f for f in access.visible.active_fields if f.key not in access.read_only]
    values = parse_record_form(editable, posted)
    for key in [key for key in values if posted.get(f"_conflict_{key}") == "theirs"]:
        del values[key]  # the editor chose the value someone else saved: it stands
    try:
        with viewer.workspace.transaction() as conn:
            service.update_record(
                conn=conn,
                actor=viewer.actor,
                form=get_form(conn, form_key),
                record_id=record_id,
                values=values,
                expected_version=int(version) if version.isdecimal() else None,
                tz=viewer.workspace.tz,
            )
    except ValidationFailed as exc:
        errors, general = _problems(exc, access.visible, viewer.locale)
        return _editor(
            request,
            viewer,
            form_key,
            record,
            values=values,
            errors=errors,
            general=general,
            status_code=422,
        )
    except StaleVersion:
        return _conflict(request, viewer, form_key, record_id, int(version), values)
    return RedirectResponse(f"/forms/{form_key}/records/{record_id}", status_code=303)


def _conflict(
    request: Request,
    viewer: Viewer,
    form_key: str,
    record_id: int,
    base_version: int,
    values: dict[str, Any],
) -> HTMLResponse:
    """Someone saved first: the form again, over the record as it is now, with the editor's
    changes kept and each field both changed shown theirs against mine (412: not saved)."""
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        visible = form_access(conn, viewer.actor, form).visible
        found = conflicts.reconcile(
            conn=conn,
            actor=viewer.actor,
            form=form,
            record_id=record_id,
            base_version=base_version,
            mine=values,
            tz=viewer.workspace.tz,
            expand=tuple(f.key for f in visible.active_fields if field_type(f).links_records),
        )
        # A link the editor chose shows its title, as the others' choice does.
        ids = {key: str(value) for key, value in found.values.items() if isinstance(value, int)}
        titled = _linked_from(conn, viewer, visible, ids)
    return _editor(
        request,
        viewer,
        form_key,
        found.record,
        values={**found.values, **titled},
        status_code=412,
        conflict=found,
    )


def _timeline(history: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The record's changes and its tasks (made, done, cancelled), newest first."""
    entries = [{**entry, "kind": "change"} for entry in history]
    for task in tasks:
        entries.append(
            {
                "kind": "task",
                "action": "task_created",
                "actor_id": task["created_by"],
                "at": task["created_at"],
                "task": task,
            }
        )
        if task["closed_at"]:
            entries.append(
                {
                    "kind": "task",
                    "action": f"task_{task['state']}",
                    "actor_id": task["closed_by"],
                    "at": task["closed_at"],
                    "task": task,
                }
            )
    return sorted(entries, key=lambda entry: _moment(entry["at"]), reverse=True)


def _moment(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _share_targets(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Whom a record can be shared with: active users and departments."""
    return {"users": active_users(conn), "departments": organisation.list_departments(conn)}


@router.post("/forms/{form_key}/records/{record_id}/shares", response_class=HTMLResponse)
async def share_record(
    form_key: str, record_id: Id, request: Request, viewer: ViewerDep
) -> Response:
    """Share with the user or department chosen as ``user:ID`` or ``department:ID``."""
    posted = await request.form()
    kind, _, number = str(posted.get("target", "")).partition(":")
    target = (
        {f"{kind}_id": int(number)} if kind in ("user", "department") and number.isdecimal() else {}
    )
    try:
        with viewer.workspace.transaction() as conn:
            ownership.share_record(
                conn=conn,
                actor=viewer.actor,
                form=get_form(conn, form_key),
                record_id=record_id,
                level=str(posted.get("level", "read")),
                tz=viewer.workspace.tz,
                **target,
            )
    except MeridianError as exc:
        problems = problems_of(exc, viewer.locale)
        return _detail(
            request, viewer, form_key, record_id, status_code=exc.status, share_problems=problems
        )
    return RedirectResponse(f"/forms/{form_key}/records/{record_id}#sharing", status_code=303)


@router.post("/forms/{form_key}/records/{record_id}/shares/{share_id}/delete")
def revoke_share(form_key: str, record_id: Id, share_id: Id, viewer: ViewerDep) -> Response:
    with viewer.workspace.transaction() as conn:
        ownership.revoke_share(
            conn=conn,
            actor=viewer.actor,
            form=get_form(conn, form_key),
            record_id=record_id,
            share_id=share_id,
            tz=viewer.workspace.tz,
        )
    return RedirectResponse(f"/forms/{form_key}/records/{record_id}#sharing", status_code=303)


@router.post("/forms/{form_key}/records/{record_id}/delete")
def delete_record(form_key: str, record_id: Id, viewer: ViewerDep) -> Response:
    with viewer.workspace.transaction() as conn:
        service.delete_record(
            conn=conn,
            actor=viewer.actor,
            form=get_form(conn, form_key),
            record_id=record_id,
            tz=viewer.workspace.tz,
        )
    return RedirectResponse(f"/forms/{form_key}", status_code=303)


@router.get("/forms/{form_key}/choices", response_class=HTMLResponse)
def choices(
    form_key: str, request: Request, viewer: ViewerDep, field: str = "", many: bool = False
) -> HTMLResponse:
    """Options for a link input: the target's records matching what was typed (pinyin too)."""
    typed = request.query_params.get(f"_q_{field}", "")
    chosen = [int(v) for v in request.query_params.getlist(field) if v.isdecimal()][:100]
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)

        def titles(query: listing.RecordQuery) -> list[tuple[int, str]]:
            found = listing.list_records(
                conn=conn, actor=viewer.actor, form=form, query=query, tz=viewer.workspace.tz
            )
            return [(item["id"], record_title(visible, item, presenter)) for item in found.items]

        visible = form_access(conn, viewer.actor, form).visible
        presenter = Presenter(viewer.locale, viewer.workspace.tz, {})
        selected = (
            titles(listing.RecordQuery(filter={"field": "id", "op": "in", "value": chosen}))
            if chosen
            else []
        )
        found = titles(listing.RecordQuery(search=typed or None, limit=20, sort="-id"))
    options = [option for option in found if option[0] not in chosen]
    return fragment(request, viewer, "choices.html", options=options, selected=selected, many=many)
