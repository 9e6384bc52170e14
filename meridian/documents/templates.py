"""Print templates: stored per form, versioned (each save is a new version), checked whole.

A template is HTML in the sandboxed template language (``kind="html"``), or a Word file with
placeholders (``kind="docx"``, the file in the store). Documents name the version they were
made from, so an old contract can always be traced to the exact template that printed it.
"""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core import clock
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.locks import serialize
from meridian.db.tables import document_templates, files
from meridian.documents.page import PageSettings
from meridian.documents.sandbox import compile_template
from meridian.errors import (
    ErrorCollector,
    FieldError,
    InvalidValue,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from meridian.events.audit import audit
from meridian.records.files import usable_files
from meridian.records.listing import expression_condition
from meridian.records.plan import plan_for
from meridian.schema.model import KEY_PATTERN, Form, parse_model
from meridian.schema.values.autonumber import parse_pattern

MAX_BODY = 200_000
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class TemplateDraft(BaseModel):
    """A template as a builder saves it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = PydanticField(min_length=1, max_length=63)
    label: str = PydanticField(min_length=1, max_length=200)
    kind: Literal["html", "docx"] = "html"
    body: str = PydanticField(default="", max_length=MAX_BODY)
    source_file_id: str | None = PydanticField(default=None, max_length=40)
    """The .docx's id as ``POST /files`` gave it (a token); the uploader's own file, or one
    on a record the builder may read."""
    page: PageSettings = PageSettings()
    condition: str = PydanticField(default="", max_length=2000)
    number_pattern: str = "{YYYY}{MM}{DD}-{0000}"
    sign: bool = False


def may_manage_templates(conn: Connection, actor: Actor, form: Form) -> bool:
    """Form administrators: administrators, builders, and roles that may manage the form."""
    if actor.token is not None and not actor.token.write:
        return False
    return actor.is_admin or actor.can_build or form_access(conn, actor, form).may("manage")


def require_template_manager(*, conn: Connection, actor: Actor, form: Form) -> None:
    """``PermissionDenied`` unless the actor administers the form's templates."""
    if not may_manage_templates(conn, actor, form):
        raise PermissionDenied(
            Text(
                "only administrators of form {label!r} may change its templates",
                key=form.key,
                label=form.label,
            ),
            form=form.key,
        )


def save_template(
    *, conn: Connection, actor: Actor, form: Form, draft: Any, tz: ZoneInfo
) -> dict[str, Any]:
    """Check the draft whole and store it as the template's next version."""
    require_template_manager(conn=conn, actor=actor, form=form)
    checked = parse_model(TemplateDraft, draft)
    source = _check(conn, actor, form, checked, tz)
    serialize(conn, f"document-template:{form.key}:{checked.key}")
    latest = conn.scalar(
        sa.select(sa.func.max(document_templates.c.version)).where(
            document_templates.c.form_key == form.key, document_templates.c.key == checked.key
        )
    )
    version = int(latest or 0) + 1
    conn.execute(
        document_templates.insert().values(
            form_key=form.key,
            version=version,
            created_by=actor.user_id,
            created_at=clock.utcnow(conn),
            **{**checked.model_dump(mode="json"), "source_file_id": source},
        )
    )
    audit(
        conn,
        actor_id=actor.user_id,
        action="document_template_saved",
        object_type=form.key,
        object_id=checked.key,
        detail={"version": version},
    )
    return get_template(conn=conn, form_key=form.key, key=checked.key, version=version)


def _check(
    conn: Connection, actor: Actor, form: Form, draft: TemplateDraft, tz: ZoneInfo
) -> int | None:
    """Every problem of the draft at once; the stored file row of its .docx, if any."""
    source = None
    errors = ErrorCollector()
    if not KEY_PATTERN.match(draft.key):
        errors.add(
            "key",
            "invalid_key",
            Text("a template key starts with a-z and holds only a-z, 0-9 and _"),
            draft.key,
        )
    if draft.kind == "html":
        try:
            compile_template(draft.body, tz.key)
        except ValidationFailed as exc:
            errors.errors.extend(exc.errors)
        if not draft.body.strip():
            errors.add("body", "required", Text("an HTML template needs a body"), "")
    elif (source := _docx_row(conn, actor, draft.source_file_id, tz)) is None:
        errors.add(
            "source_file_id",
            "not_a_docx",
            Text("a Word template needs an uploaded .docx file"),
            draft.source_file_id,
        )
    try:
        parse_pattern(draft.number_pattern)
    except InvalidValue as exc:
        errors.add("number_pattern", exc.code, exc.message, draft.number_pattern)
    if draft.condition.strip():
        system = Actor.system()
        try:
            expression_condition(
                conn, plan_for(form), draft.condition, form_access(conn, system, form), tz
            )
        except ValidationFailed as exc:
            errors.errors.extend(
                FieldError("condition", e.code, e.message, e.value, e.detail) for e in exc.errors
            )
    errors.raise_if_any()
    return source


def _docx_row(conn: Connection, actor: Actor, token: str | None, tz: ZoneInfo) -> int | None:
    """The file's row when the actor may use it (``usable_files``) and it is a .docx."""
    if token is None:
        return None
    found = usable_files(conn=conn, actor=actor, tokens={token}, tz=tz).get(token)
    if found is None or not found["name"].lower().endswith(".docx"):
        return None
    row_id: int = found["row_id"]
    return row_id


def _with_source_token(query: Any) -> Any:
    """The template rows with their .docx's token, the only file id clients see."""
    token = sa.select(files.c.token).where(files.c.id == document_templates.c.source_file_id)
    return query.add_columns(token.scalar_subquery().label("source_file_token"))


def get_template(
    *, conn: Connection, form_key: str, key: str, version: int | None = None
) -> dict[str, Any]:
    """The template's newest version, or the one asked for; ``NotFound`` otherwise."""
    t = document_templates
    query = _with_source_token(sa.select(t)).where(t.c.form_key == form_key, t.c.key == key)
    if version is not None:
        query = query.where(t.c.version == version)
    row = conn.execute(query.order_by(t.c.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound(
            Text("form {form_key!r} has no document template {key!r}", form_key=form_key, key=key),
            template=key,
        )
    return _public(row._mapping)


def list_templates(*, conn: Connection, actor: Actor, form: Form) -> list[dict[str, Any]]:
    """Each template's newest version (without its body), for anyone who may read the form."""
    form_access(conn, actor, form).require("read")
    t = document_templates
    newest = (
        sa.select(t.c.key, sa.func.max(t.c.version).label("version"))
        .where(t.c.form_key == form.key)
        .group_by(t.c.key)
        .subquery()
    )
    rows = conn.execute(
        _with_source_token(sa.select(t))
        .join(newest, sa.and_(t.c.key == newest.c.key, t.c.version == newest.c.version))
        .where(t.c.form_key == form.key)
        .order_by(t.c.key)
    )
    return [{k: v for k, v in _public(row._mapping).items() if k != "body"} for row in rows]


def template_versions(*, conn: Connection, form_key: str, key: str) -> list[dict[str, Any]]:
    """Every version of a template, newest first: who saved it and when."""
    t = document_templates
    rows = conn.execute(
        sa.select(t.c.version, t.c.created_by, t.c.created_at)
        .where(t.c.form_key == form_key, t.c.key == key)
        .order_by(t.c.version.desc())
    )
    return [
        {"version": r.version, "created_by": r.created_by, "created_at": r.created_at.isoformat()}
        for r in rows
    ]


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "form_key": row["form_key"],
        "key": row["key"],
        "version": row["version"],
        "label": row["label"],
        "kind": row["kind"],
        "body": row["body"],
        "source_file_id": row["source_file_token"],
        "page": row["page"],
        "condition": row["condition"],
        "number_pattern": row["number_pattern"],
        "sign": row["sign"],
        "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat(),
    }
