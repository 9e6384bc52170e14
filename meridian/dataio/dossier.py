"""The compliance dossier: one record and everything around it, as one ZIP an auditor can trust.

The archive holds the record with its lines, its full history, the records it links to and the
records that link to it (one level, each with its history), its attachments, and the audit
entries that touch any of them; ``manifest.json`` lists every file with its size and SHA-256.
The actor's rights apply throughout — hidden fields and unreadable related records are left
out — and producing the dossier is itself audited.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.tables import audit_log, files
from meridian.errors import NotFound, PermissionDenied
from meridian.events.audit import audit
from meridian.records import reads
from meridian.records.listing import RecordQuery, list_records
from meridian.records.readable import Readable
from meridian.schema.catalog import get_form, list_forms
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

DOSSIER_FORMAT = "meridian.dossier/1"
MAX_RELATED = 500


def build_dossier(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    file_root: Path,
    tz: ZoneInfo,
) -> bytes:
    """The dossier of one record as ZIP bytes (the caller's transaction records the audit)."""
    access = form_access(conn, actor, form)
    access.require("export")
    record = reads.get_record(
        conn=conn, actor=actor, form=form, record_id=record_id, include_deleted=True, tz=tz
    )
    if not Readable.of(conn, access, tz, deleted=None, operation="export").ids(conn, [record_id]):
        raise PermissionDenied(
            Text("you may not export record {record_id}", record_id=record_id), id=record_id
        )
    entries: dict[str, bytes] = {}

    def add_json(path: str, value: Any) -> None:
        entries[path] = json.dumps(value, ensure_ascii=False, indent=2, default=str).encode()

    def add_record(prefix: str, of: Form, data: dict[str, Any]) -> None:
        add_json(f"{prefix}.json", data)
        history = reads.record_history(conn=conn, actor=actor, form=of, record_id=data["id"], tz=tz)
        add_json(f"{prefix}.history.json", history)

    add_record("record", form, record)
    touched = {(form.key, record_id)}
    for related_form, related in _related(conn, actor, form, record, tz):
        add_record(f"related/{related_form.key}/{related['id']}", related_form, related)
        touched.add((related_form.key, related["id"]))
    for file_row in _attachments(conn, form, record):
        stored = file_root / file_row.storage_path
        if stored.is_file():
            entries[f"attachments/{file_row.token}_{Path(file_row.name).name}"] = (
                stored.read_bytes()
            )
    add_json("audit.json", _audit_entries(conn, touched))
    manifest = {
        "format": DOSSIER_FORMAT,
        "form": form.key,
        "record_id": record_id,
        "generated_at": utcnow(conn).isoformat(),
        "generated_by": actor.user_id,
        "files": [
            {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for path, data in sorted(entries.items())
        ],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        for path, data in sorted(entries.items()):
            archive.writestr(path, data)
    audit(
        conn,
        actor_id=actor.user_id,
        action="dossier_exported",
        object_type=form.key,
        object_id=record_id,
        detail={"files": len(entries), "related": len(touched) - 1},
    )
    return buffer.getvalue()


def _related(
    conn: Connection, actor: Actor, form: Form, record: dict[str, Any], tz: ZoneInfo
) -> list[tuple[Form, dict[str, Any]]]:
    """Records this one links to, and records of any form that link to it, that the actor
    may read."""
    found: list[tuple[Form, dict[str, Any]]] = []
    for field in form.active_fields:
        if not field_type(field).links_records or not field.target:
            continue
        value = record.get(field.key)
        for target_id in value if isinstance(value, list) else [value] if value else []:
            target = get_form(conn, field.target)
            try:
                found.append(
                    (
                        target,
                        reads.get_record(
                            conn=conn, actor=actor, form=target, record_id=target_id, tz=tz
                        ),
                    )
                )
            except NotFound:
                continue
    for other in list_forms(conn):
        links = [
            f for f in other.active_fields if field_type(f).links_records and f.target == form.key
        ]
        if not links or not form_access(conn, actor, other).may("read"):
            continue
        condition = {
            "or": [{"field": link.key, "op": "in", "value": [record["id"]]} for link in links]
        }
        page = list_records(
            conn=conn,
            actor=actor,
            form=other,
            query=RecordQuery(filter=condition, limit=MAX_RELATED),
            tz=tz,
        )
        found.extend((other, item) for item in page.items)
    return found


def _attachments(conn: Connection, form: Form, record: dict[str, Any]) -> list[Any]:
    tokens = [
        token
        for field in form.active_fields
        if field_type(field).holds_files
        for token in record.get(field.key) or []
    ]
    if not tokens:
        return []
    query = sa.select(files).where(files.c.token.in_(tokens)).order_by(files.c.id)
    return list(conn.execute(query))


def _audit_entries(conn: Connection, touched: set[tuple[str, int]]) -> list[dict[str, Any]]:
    by_form: dict[str, list[str]] = {}
    for form_key, record_id in touched:
        by_form.setdefault(form_key, []).append(str(record_id))
    conditions = [
        sa.and_(audit_log.c.object_type == form_key, audit_log.c.object_id.in_(ids))
        for form_key, ids in by_form.items()
    ]
    rows = conn.execute(sa.select(audit_log).where(sa.or_(*conditions)).order_by(audit_log.c.id))
    return [{**row._mapping, "at": row.at.isoformat()} for row in rows]
