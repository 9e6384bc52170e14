"""The images templates place: the company's logo and its seal, kept in the file store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from meridian.access.manage import require_admin
from meridian.core import clock
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.tables import document_assets, files
from meridian.documents.page import ASSET_NAMES
from meridian.errors import FieldError, ValidationFailed
from meridian.events.audit import audit
from meridian.records.files import store_file

IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


def set_asset(
    *,
    conn: Connection,
    actor: Actor,
    store: Path,
    name: str,
    filename: str,
    content_type: str,
    stream: BinaryIO,
) -> dict[str, Any]:
    """Replace the logo or the seal with an uploaded PNG, JPEG or SVG image."""
    require_admin(actor)
    if name not in ASSET_NAMES:
        raise ValidationFailed(
            [FieldError("name", "unknown_asset", Text("use logo or seal"), name)]
        )
    if content_type not in IMAGE_TYPES:
        raise ValidationFailed(
            [
                FieldError(
                    "file",
                    "not_an_image",
                    Text("upload a PNG, JPEG or SVG image"),
                    content_type,
                )
            ]
        )
    stored = store_file(conn=conn, actor=actor, store=store, name=filename, stream=stream)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values = {
        "file_id": stored["row_id"],
        "updated_by": actor.user_id,
        "updated_at": clock.utcnow(conn),
    }
    conn.execute(
        insert(document_assets)
        .values(name=name, **values)
        .on_conflict_do_update(index_elements=["name"], set_=values)
    )
    audit(
        conn,
        actor_id=actor.user_id,
        action="document_asset_set",
        object_type="document_asset",
        object_id=name,
        detail={"file_id": stored["row_id"], "sha256": stored["sha256"]},
    )
    return {"name": name, "file_id": stored["row_id"]}


def load_assets(*, conn: Connection, store: Path) -> dict[str, tuple[bytes, str]]:
    """Every asset's bytes and media type, by name, for the renderer."""
    rows = conn.execute(
        sa.select(document_assets.c.name, files.c.storage_path, files.c.content_type).join(
            files, files.c.id == document_assets.c.file_id
        )
    )
    return {row.name: ((store / row.storage_path).read_bytes(), row.content_type) for row in rows}
