"""Generating a document: read the record as its reader, number it, render, seal and sign,
store it on the record.

Reading and rendering happen outside any write transaction; the number is claimed and the
file recorded in two short ones (see ``meridian.documents.issuing``), so generating documents
never holds other writers up for the time a PDF takes to lay out.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
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
from meridian.core.i18n import Text
from meridian.core.late_imports import IMPORTING
from meridian.db.engine import read_transaction, transaction
from meridian.db.sets import one_of
from meridian.db.tables import files
from meridian.documents.assets import load_assets
from meridian.documents.context import record_context
from meridian.documents.issuing import Claim, claim_number, complete, fail
from meridian.documents.page import ASSET_SCHEME, PageSettings
from meridian.documents.sandbox import Values, render
from meridian.documents.signing import CompanySigner, active_signer, sign_pdf
from meridian.documents.templates import DOCX, get_template
from meridian.documents.visibility import Hidden, hidden_from
from meridian.documents.word import fill_docx
from meridian.documents.word_pdf import queue_pdf
from meridian.errors import Conflict
from meridian.events.audit import audit
from meridian.records.files import store_file
from meridian.records.listing import expression_condition
from meridian.records.plan import plan_for
from meridian.schema.catalog import get_form
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
    hidden: Hidden
    """The fields the generator could not see, kept with the document."""


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
    document, _ = produce_document(
        engine=engine, actor=actor, settings=settings, prepared=prepared, tz=tz
    )
    return document


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
        # The template shows its .docx by the file's token, the only file id clients see.
        stored = conn.execute(
            sa.select(files.c.storage_path).where(files.c.token == template["source_file_id"])
        ).scalar_one()
        source = (settings.file_store_dir / stored).read_bytes()
    assets = load_assets(conn=conn, store=settings.file_store_dir)
    hidden = hidden_from(conn, actor=actor, form=form)
    return Prepared(form_key, record_id, template, context, assets, source, hidden)


def produce_document(
    *,
    engine: Engine,
    actor: Actor,
    settings: Settings,
    prepared: Prepared,
    tz: ZoneInfo,
    on_done: Callable[[Connection, dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Claim the number, render and sign, then store the file; ``on_done`` runs in the
    transaction that records the document (a batch counts its progress there).

    Returns the document and, for an HTML template, its laid-out pages (a batch prints them
    again into one PDF without laying them out twice)."""
    template = prepared.template
    with transaction(engine) as conn:
        if template["condition"]:
            _require_condition(conn, prepared=prepared, tz=tz)
        signer = None
        if template["sign"] and template["kind"] == "html":
            signer = active_signer(conn=conn, settings=settings)
        claim = claim_number(
            conn,
            actor=actor,
            form_key=prepared.form_key,
            record_id=prepared.record_id,
            template=template,
            hidden=prepared.hidden,
            now=clock.utcnow(conn),
            tz=tz,
        )
    try:
        rendered = render_content(
            prepared, number=claim.number, version=claim.version, issued=claim.issued, tz=tz
        )
        content = rendered.content
        if signer is not None:
            content = sign_pdf(
                content, signer, reason=f"{template['label']} {claim.number}", name=claim.number
            )
        with transaction(engine) as conn:
            document = record_document(
                conn,
                actor,
                settings,
                form_key=prepared.form_key,
                record_id=prepared.record_id,
                template=template,
                claim=claim,
                name=rendered.name,
                media_type=rendered.media_type,
                content=content,
                signer=signer,
            )
            if on_done is not None:
                on_done(conn, document)
    except BaseException:
        with transaction(engine) as conn:
            fail(conn, claim)
        raise
    return document, rendered.pages


def record_document(
    conn: Connection,
    actor: Actor,
    settings: Settings,
    *,
    form_key: str,
    record_id: int,
    template: Mapping[str, Any],
    claim: Claim,
    name: str,
    media_type: str,
    content: bytes,
    signer: CompanySigner | None,
) -> dict[str, Any]:
    """Store the document's file, mark its row done and write its audit entries."""
    stored = store_file(
        conn=conn,
        actor=actor,
        store=settings.file_store_dir,
        name=name,
        stream=io.BytesIO(content),
    )
    complete(
        conn,
        claim,
        file_id=stored["row_id"],
        signing_key_id=signer.key_id if signer is not None else None,
    )
    if media_type == DOCX:  # its PDF is made by LibreOffice, as a job, where installed
        queue_pdf(conn, claim.document_id)
    detail = {"document": claim.document_id, "number": claim.number, "version": claim.version}
    if signer is not None:
        audit(
            conn,
            actor_id=actor.user_id,
            action="document_signed",
            object_type=form_key,
            object_id=record_id,
            detail={**detail, "signing_key": signer.key_id, "fingerprint": signer.fingerprint},
        )
    audit(
        conn,
        actor_id=actor.user_id,
        action="document_generated",
        object_type=form_key,
        object_id=record_id,
        detail=detail,
    )
    return {
        "id": claim.document_id,
        "form_key": form_key,
        "record_id": record_id,
        "template": template["key"],
        "template_version": template["version"],
        "number": claim.number,
        "version": claim.version,
        "file_id": stored["row_id"],
        "name": name,
        "content_type": media_type,
        "size": stored["size"],
        "signed": signer is not None,
        "created_at": claim.issued.isoformat(),
    }


@dataclass(frozen=True)
class Rendered:
    """A document's bytes before signing, and for an HTML template its laid-out pages."""

    content: bytes
    name: str
    media_type: str
    pages: Any


def render_content(
    prepared: Prepared, *, number: str, version: int, issued: datetime, tz: ZoneInfo
) -> Rendered:
    """The filled template as PDF (HTML templates) or .docx (Word templates)."""
    template = prepared.template
    context = document_context(
        prepared.template,
        prepared.context,
        prepared.assets,
        number=number,
        version=version,
        issued=issued,
        tz=tz,
    )
    name = document_name(number, version, template)
    if template["kind"] == "docx":
        assert prepared.source is not None
        content = fill_docx(prepared.source, context, tz.key)
        return Rendered(content, name, DOCX, None)
    html = render(template["body"], context, tz.key)
    with IMPORTING:  # WeasyPrint where a document is laid out, not at start (core/late_imports)
        from meridian.documents.pdf import render_document, write_pdf
    pages = render_document(html, PageSettings.model_validate(template["page"]), prepared.assets)
    return Rendered(write_pdf([pages]), name, "application/pdf", pages)


def document_context(
    template: Mapping[str, Any],
    record: Mapping[str, Any],
    assets: Mapping[str, tuple[bytes, str]],
    *,
    number: str,
    version: int,
    issued: datetime,
    tz: ZoneInfo,
) -> dict[str, Any]:
    """What the template is filled with: the record's context, the document and images."""
    document_values = Values(
        {
            "number": number,
            "version": version,
            "date": issued.astimezone(tz).date(),
            "template": template["label"],
        }
    )
    return {
        **record,
        "document": document_values,
        "logo": _image(assets, "logo"),
        "seal": _image(assets, "seal"),
    }


def document_name(number: str, version: int, template: Mapping[str, Any]) -> str:
    """The file's name: the number, the version after the first, the kind's extension."""
    suffix = f"-v{version}" if version > 1 else ""
    return f"{number}{suffix}.{'docx' if template['kind'] == 'docx' else 'pdf'}"


def _require_condition(conn: Connection, *, prepared: Prepared, tz: ZoneInfo) -> None:
    """``Conflict`` unless the record meets the template's condition now."""
    template = prepared.template
    met = meeting_condition(conn, prepared.form_key, template, [prepared.record_id], tz)
    if not met:
        raise condition_not_met(template)


def meeting_condition(
    conn: Connection,
    form_key: str,
    template: Mapping[str, Any],
    record_ids: list[int],
    tz: ZoneInfo,
) -> set[int]:
    """Which of the records meet the template's condition now, in one query."""
    if not template["condition"]:
        return set(record_ids)
    form = get_form(conn, form_key)
    plan = plan_for(form)
    table = plan.tables.main
    condition = expression_condition(
        conn, plan, template["condition"], form_access(conn, Actor.system(), form), tz
    )
    return set(
        conn.scalars(sa.select(table.c.id).where(one_of(conn, table.c.id, record_ids), condition))
    )


def condition_not_met(template: Mapping[str, Any]) -> Conflict:
    """The refusal for a record that does not meet the template's condition."""
    return Conflict(
        Text(
            "this record does not meet the condition of template {label!r}: {condition}",
            condition=template["condition"],
            label=template["label"],
        ),
        reason="condition_not_met",
        condition=template["condition"],
    )


def _image(assets: Mapping[str, tuple[bytes, str]], name: str) -> Any:
    """``{{ seal() }}`` / ``{{ logo() }}``: the image, or nothing when none is uploaded."""

    def tag(css_class: str = "") -> Markup:
        if name not in assets:
            return Markup("")
        return Markup('<img class="{0} {1}" src="{2}{0}" alt="{0}">').format(
            name, css_class, ASSET_SCHEME
        )

    return tag
