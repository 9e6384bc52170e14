"""Generating a document: read the record as its reader, number it, render, seal and sign,
store it on the record.

The record and its links are read first in a read-only transaction. The write transaction
then checks the template's condition, takes the number, renders, signs and stores: the
number is taken in the same transaction as the document row, so a failure anywhere gives the
number back (no gaps), and the sequence's row lock makes concurrent generations queue for it
(no duplicates). A record's document keeps its number: generating it again adds a version.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.engine import Connection, Engine

from meridian.access.permissions import form_access
from meridian.core import clock
from meridian.core.actor import Actor
from meridian.db.engine import read_transaction
from meridian.db.locks import serialize
from meridian.db.tables import documents, files
from meridian.documents.assets import load_assets
from meridian.documents.context import record_context
from meridian.documents.pdf import ASSET_SCHEME, PageSettings, render_document, write_pdf
from meridian.documents.sandbox import Values, render
from meridian.documents.signing import active_signer, sign_pdf
from meridian.documents.templates import DOCX, get_template
from meridian.documents.word import fill_docx
from meridian.errors import Conflict, NotFound
from meridian.events.audit import audit
from meridian.records.files import store_file
from meridian.records.listing import expression_condition
from meridian.records.numbering import reserve
from meridian.records.plan import plan_for
from meridian.schema.catalog import get_form
from meridian.schema.values.autonumber import parse_pattern
from meridian.settings import Settings


@dataclass(frozen=True)
class Prepared:
    """What the read transaction gathered for one document."""

    form_key: str
    record_id: int
    template: dict[str, Any]
    context: dict[str, Any]
    assets: Mapping[str, tuple[bytes, str]]
    source: bytes | None
    """A Word template's .docx."""


def generate_document(
    *,
    engine: Engine,
    actor: Actor,
    settings: Settings,
    form_key: str,
    record_id: int,
    template_key: str,
    tz: ZoneInfo,
) -> dict[str, Any]:
    """Generate, number, store (and, when the template says so, sign) one document.

    Needs read access to the record (``NotFound`` otherwise, as for the record itself); a
    template with a condition needs the record to meet it first (``Conflict``).
    """
    with read_transaction(engine) as conn:
        prepared = prepare_document(
            conn=conn,
            actor=actor,
            settings=settings,
            form_key=form_key,
            record_id=record_id,
            template_key=template_key,
            tz=tz,
        )
    with engine.begin() as conn:
        result, _ = issue_document(
            conn=conn, actor=actor, settings=settings, prepared=prepared, tz=tz
        )
    return result


def prepare_document(
    *,
    conn: Connection,
    actor: Actor,
    settings: Settings,
    form_key: str,
    record_id: int,
    template_key: str,
    tz: ZoneInfo,
) -> Prepared:
    """Read the template, the record as the actor sees it, and the images."""
    form = get_form(conn, form_key)
    template = get_template(conn=conn, form_key=form_key, key=template_key)
    context = record_context(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)
    source = None
    if template["kind"] == "docx":
        stored = conn.execute(
            sa.select(files.c.storage_path).where(files.c.id == template["source_file_id"])
        ).scalar_one()
        source = (settings.file_store_dir / stored).read_bytes()
    assets = load_assets(conn=conn, store=settings.file_store_dir)
    return Prepared(form_key, record_id, template, context, assets, source)


def issue_document(
    *, conn: Connection, actor: Actor, settings: Settings, prepared: Prepared, tz: ZoneInfo
) -> tuple[dict[str, Any], Any]:
    """In the caller's write transaction: check, number, render, sign, store, record.

    Returns the document and, for an HTML template, its laid-out pages (a batch prints them
    again into one PDF without laying them out twice)."""
    template = prepared.template
    form = get_form(conn, prepared.form_key)
    if template["condition"]:
        _require_condition(
            conn, form_key=form.key, record_id=prepared.record_id, tz=tz, template=template
        )
    now = clock.utcnow()
    number, version = _number(conn, prepared, now, tz)
    document_values = Values(
        {
            "number": number,
            "version": version,
            "date": now.astimezone(tz).date(),
            "template": template["label"],
        }
    )
    context = {
        **prepared.context,
        "document": document_values,
        "logo": _image(prepared.assets, "logo"),
        "seal": _image(prepared.assets, "seal"),
    }
    pages = None
    if template["kind"] == "docx":
        assert prepared.source is not None
        content = fill_docx(prepared.source, context, tz.key)
        name, media_type = f"{number}.docx", DOCX
    else:
        html = render(template["body"], context, tz.key)
        pages = render_document(
            html, PageSettings.model_validate(template["page"]), prepared.assets
        )
        content = write_pdf([pages])
        name, media_type = f"{number}.pdf", "application/pdf"
    if version > 1:
        stem, dot, extension = name.rpartition(".")
        name = f"{stem}-v{version}{dot}{extension}"
    signing_key_id = None
    if template["sign"] and media_type == "application/pdf":
        signer = active_signer(conn=conn, settings=settings)
        content = sign_pdf(content, signer, reason=f"{template['label']} {number}", name=number)
        signing_key_id = signer.key_id
        audit(
            conn,
            actor_id=actor.user_id,
            action="document_signed",
            object_type=form.key,
            object_id=prepared.record_id,
            detail={
                "number": number,
                "version": version,
                "signing_key": signer.key_id,
                "fingerprint": signer.fingerprint,
            },
        )
    stored = store_file(
        conn=conn,
        actor=actor,
        store=settings.file_store_dir,
        name=name,
        content_type=media_type,
        stream=io.BytesIO(content),
    )
    result = conn.execute(
        documents.insert().values(
            form_key=form.key,
            record_id=prepared.record_id,
            template_key=template["key"],
            template_version=template["version"],
            number=number,
            version=version,
            file_id=stored["id"],
            signing_key_id=signing_key_id,
            created_by=actor.user_id,
            created_at=now,
        )
    )
    assert result.inserted_primary_key is not None
    document_id = int(result.inserted_primary_key[0])
    audit(
        conn,
        actor_id=actor.user_id,
        action="document_generated",
        object_type=form.key,
        object_id=prepared.record_id,
        detail={"document": document_id, "number": number, "version": version},
    )
    public = {
        "id": document_id,
        "form_key": form.key,
        "record_id": prepared.record_id,
        "template": template["key"],
        "template_version": template["version"],
        "number": number,
        "version": version,
        "file_id": stored["id"],
        "name": name,
        "content_type": media_type,
        "size": stored["size"],
        "signed": signing_key_id is not None,
        "created_at": now.isoformat(),
    }
    return public, pages


def _require_condition(
    conn: Connection, *, form_key: str, record_id: int, tz: ZoneInfo, template: dict[str, Any]
) -> None:
    form = get_form(conn, form_key)
    plan = plan_for(form)
    table = plan.tables.main
    condition = expression_condition(
        conn, plan, template["condition"], form_access(conn, Actor.system(), form), tz
    )
    met = conn.execute(sa.select(table.c.id).where(table.c.id == record_id, condition)).first()
    if met is None:
        raise Conflict(
            f"this record does not meet the template's condition: {template['condition']}"
            f" / 记录不满足模板“{template['label']}”的生成条件：{template['condition']}",
            reason="condition_not_met",
            condition=template["condition"],
        )


def _number(conn: Connection, prepared: Prepared, now: datetime, tz: ZoneInfo) -> tuple[str, int]:
    """The record's number for this template (taken from its sequence the first time) and
    the new version. Two generations for one record queue on a lock named for it, so they
    cannot both take a first number."""
    template = prepared.template
    serialize(conn, f"document:{prepared.form_key}:{prepared.record_id}:{template['key']}")
    previous = conn.execute(
        sa.select(documents.c.number, documents.c.version)
        .where(
            documents.c.form_key == prepared.form_key,
            documents.c.record_id == prepared.record_id,
            documents.c.template_key == template["key"],
        )
        .order_by(documents.c.version.desc())
        .limit(1)
    ).first()
    if previous is not None:
        return previous.number, previous.version + 1
    pattern = parse_pattern(template["number_pattern"])
    local = now.astimezone(tz)
    sequence = f"document:{prepared.form_key}.{template['key']}:{pattern.sequence_key(local)}"
    return pattern.format(reserve(conn, sequence, 1), local), 1


def _image(assets: Mapping[str, tuple[bytes, str]], name: str) -> Any:
    """``{{ seal() }}`` / ``{{ logo() }}``: the image, or nothing when none is uploaded."""

    def tag(css_class: str = "") -> Markup:
        if name not in assets:
            return Markup("")
        return Markup('<img class="{0} {1}" src="{2}{0}" alt="{0}">').format(
            name, css_class, ASSET_SCHEME
        )

    return tag


def list_documents(
    *, conn: Connection, actor: Actor, form_key: str, record_id: int, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """The record's documents, newest first, for whoever may read the record."""
    _require_readable(conn, actor, form_key, record_id, tz)
    rows = conn.execute(
        sa.select(documents, files.c.name, files.c.content_type, files.c.size)
        .join(files, files.c.id == documents.c.file_id)
        .where(documents.c.form_key == form_key, documents.c.record_id == record_id)
        .order_by(documents.c.id.desc())
    )
    return [
        {
            "id": row.id,
            "template": row.template_key,
            "template_version": row.template_version,
            "number": row.number,
            "version": row.version,
            "file_id": row.file_id,
            "name": row.name,
            "content_type": row.content_type,
            "size": row.size,
            "signed": row.signing_key_id is not None,
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat(),
        }
        for row in rows
    ]


def document_file(
    *, conn: Connection, actor: Actor, form_key: str, record_id: int, document_id: int, tz: ZoneInfo
) -> dict[str, Any]:
    """The stored file of one of the record's documents, for whoever may read the record."""
    _require_readable(conn, actor, form_key, record_id, tz)
    row = conn.execute(
        sa.select(files)
        .join(documents, documents.c.file_id == files.c.id)
        .where(
            documents.c.id == document_id,
            documents.c.form_key == form_key,
            documents.c.record_id == record_id,
        )
    ).first()
    if row is None:
        raise NotFound(f"document {document_id} does not exist / 文档不存在", id=document_id)
    return {"name": row.name, "content_type": row.content_type, "storage_path": row.storage_path}


def _require_readable(
    conn: Connection, actor: Actor, form_key: str, record_id: int, tz: ZoneInfo
) -> None:
    form = get_form(conn, form_key)
    access = form_access(conn, actor, form)
    table = plan_for(form).tables.main
    query = sa.select(table.c.id).where(table.c.id == record_id, table.c.deleted_at.is_(None))
    readable = access.rows(conn, table, "read", tz)
    if readable is not None:
        query = query.where(readable)
    if not access.may("read") or conn.execute(query).first() is None:
        raise NotFound(f"record {record_id} of form {form_key!r} is not found", id=record_id)
