"""Inbound webhooks: another system POSTs JSON to a secret URL and a record is created or updated.

A hook belongs to one form and maps payload paths to fields::

    {"fields": {"amount": "payment.amount", "paid_on": "payment.date"},
     "match": {"field": "reference", "path": "payment.ref"}}

With ``match``, the record whose ``reference`` equals the payload's ``payment.ref`` is updated,
or created when there is none; without it, every call creates a record. The values go through
the records service like any other write, so a bad payload is refused with every field's error
and nothing is written. The URL's token is shown once and stored hashed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.manage import require_admin
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.db.tables import inbound_hooks
from meridian.errors import ErrorCollector, FieldError, NotFound, ValidationFailed
from meridian.events.audit import audit
from meridian.records import service
from meridian.records.plan import plan_for
from meridian.schema.catalog import get_form

TOKEN_PREFIX = "mih_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_hook(
    conn: Connection, actor: Actor, *, name: str, form_key: str, mapping: Any
) -> dict[str, Any]:
    """A hook and its secret token (shown this once)."""
    require_admin(actor)
    form = get_form(conn, form_key)
    errors = ErrorCollector()
    if not name.strip():
        errors.add("name", "invalid_name", "give a name", name)
    fields = mapping.get("fields") if isinstance(mapping, Mapping) else None
    if not isinstance(fields, Mapping) or not fields:
        errors.add("mapping.fields", "invalid_mapping", "expected {field: path}", fields)
    else:
        for key, path in fields.items():
            if form.get_field(key) is None:
                errors.add(f"mapping.fields.{key}", "unknown_field", f"no field {key!r}", key)
            if not isinstance(path, str) or not path:
                errors.add(f"mapping.fields.{key}", "invalid_path", "a dotted path", path)
    match = mapping.get("match") if isinstance(mapping, Mapping) else None
    if match is not None:
        field = form.get_field(str(match.get("field"))) if isinstance(match, Mapping) else None
        if field is None or not isinstance(match.get("path"), str):
            errors.add("mapping.match", "invalid_match", "expected {field, path}", match)
    errors.raise_if_any()
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    result = conn.execute(
        inbound_hooks.insert().values(
            name=name.strip(),
            form_key=form.key,
            token_hash=_digest(token),
            mapping=dict(mapping),
            created_by=actor.user_id,
            created_at=utcnow(conn),
        )
    )
    assert result.inserted_primary_key is not None
    hook_id = int(result.inserted_primary_key[0])
    return {
        "id": hook_id,
        "name": name.strip(),
        "form_key": form.key,
        "path": f"/api/v1/hooks/{token}",
    }


def _at(payload: Any, path: str) -> Any:
    value = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def receive(conn: Connection, token: str, payload: Any, tz: ZoneInfo) -> dict[str, Any]:
    """Create or update the record the payload describes; returns it with ``action``."""
    hook = conn.execute(
        sa.select(inbound_hooks).where(inbound_hooks.c.token_hash == _digest(token))
    ).first()
    if hook is None:
        raise NotFound("no such hook")
    if not isinstance(payload, Mapping):
        raise ValidationFailed(
            [FieldError("body", "invalid_payload", "expected a JSON object", payload)]
        )
    form = get_form(conn, hook.form_key)
    values = {
        key: _at(payload, path)
        for key, path in hook.mapping["fields"].items()
        if _at(payload, path) is not None
    }
    system = Actor.system()
    existing = None
    match = hook.mapping.get("match")
    if match:
        wanted = _at(payload, match["path"])
        if wanted is None:
            raise ValidationFailed(
                [FieldError(match["path"], "required", "the payload must carry this value", None)]
            )
        table = plan_for(form).tables.main
        existing = conn.scalar(
            sa.select(table.c.id).where(
                table.c[match["field"]] == wanted, table.c.deleted_at.is_(None)
            )
        )
        values.setdefault(match["field"], wanted)
    if existing is None:
        record = service.create_record(conn=conn, actor=system, form=form, values=values, tz=tz)
        action = "created"
    else:
        record = service.update_record(
            conn=conn, actor=system, form=form, record_id=existing, values=values, tz=tz
        )
        action = "updated"
    audit(
        conn,
        actor_id=None,
        action="inbound_webhook",
        object_type=form.key,
        object_id=record["id"],
        detail={"hook": hook.id, "action": action},
    )
    return {"action": action, "record": record}
