"""Inbound webhooks: another system POSTs JSON to a secret URL and records are created or updated.

A hook belongs to one form and maps payload paths to fields::

    {"fields": {"title": "labels.alertname",
                "priority": {"path": "labels.severity",
                             "map": {"critical": "P1", "warning": "P2"}, "default": "P3"}},
     "constants": {"source": "alertmanager"},
     "items": "alerts",
     "owner": {"strategy": "round_robin", "department": 3},
     "match": {"field": "reference", "path": "payment.ref"}}

- A field's value is the payload's value at a dotted path, or — with ``map`` — that value
  translated (``critical`` → ``P1``), else ``default`` (else the field is left out).
- ``constants`` set fields to fixed values on every record the hook writes.
- ``items`` names an array in the payload (or the payload is itself an array): each element
  makes one record, paths read inside the element, and all of them are written or none
  (an Alertmanager message with three alerts opens three tickets).
- ``owner``: ``{"user": id}``, or ``{"strategy": "round_robin" | "least_loaded"}`` over
  ``users``, a ``department`` or a ``role`` (``meridian.rules.owners``); round robin keeps its
  turn in a sequence of its own. Without it the records have no owner.
- With ``match``, the record whose ``reference`` equals the payload's ``payment.ref`` is
  updated, or created when there is none; without it, every element creates a record.

The values go through the records service like any other write (several new records in one
set-based insert), so a bad payload is refused with every field's error — under
``items.N.`` for an array — and nothing is written. The URL's token is shown once and stored
hashed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.manage import require_admin
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.tables import inbound_hooks
from meridian.errors import ErrorCollector, FieldError, NotFound, ValidationFailed
from meridian.events.audit import audit
from meridian.records import bulk, reads, service
from meridian.records.numbering import reserve
from meridian.records.plan import plan_for
from meridian.rules import owners
from meridian.schema.catalog import get_form
from meridian.schema.model import Form

TOKEN_PREFIX = "mih_"
MAX_ITEMS = bulk.MAX_BULK


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_mapping(conn: Connection, form: Form, mapping: Any, errors: ErrorCollector) -> None:
    """Add every problem with a hook's mapping to ``errors``."""
    fields = mapping.get("fields") if isinstance(mapping, Mapping) else None
    if not isinstance(fields, Mapping) or not fields:
        errors.add(
            "mapping.fields",
            "invalid_mapping",
            Text("expected {shape}", shape="{field: path}"),
            fields,
        )
    else:
        for key, source in fields.items():
            where = f"mapping.fields.{key}"
            if form.get_field(key) is None:
                errors.add(where, "unknown_field", Text("no field {key!r}", key=key), key)
            if isinstance(source, Mapping):
                if not isinstance(source.get("path"), str) or not source["path"]:
                    errors.add(
                        f"{where}.path", "invalid_path", Text("a dotted path"), source.get("path")
                    )
                if "map" in source and not isinstance(source["map"], Mapping):
                    errors.add(
                        f"{where}.map",
                        "invalid_map",
                        Text("expected {shape}", shape="{payload value: value}"),
                        source["map"],
                    )
                unknown = set(source) - {"path", "map", "default"}
                if unknown:
                    errors.add(
                        where, "invalid_source", Text("path, map and default"), sorted(unknown)
                    )
            elif not isinstance(source, str) or not source:
                errors.add(where, "invalid_path", Text("a dotted path"), source)
    if not isinstance(mapping, Mapping):
        return
    constants = mapping.get("constants", {})
    if not isinstance(constants, Mapping):
        errors.add(
            "mapping.constants",
            "invalid_constants",
            Text("expected {shape}", shape="{field: value}"),
            constants,
        )
    else:
        for key in constants:
            if form.get_field(key) is None:
                errors.add(
                    f"mapping.constants.{key}",
                    "unknown_field",
                    Text("no field {key!r}", key=key),
                    key,
                )
    items = mapping.get("items")
    if items is not None and (not isinstance(items, str) or not items):
        errors.add("mapping.items", "invalid_path", Text("the dotted path of an array"), items)
    if "owner" in mapping:
        owner = mapping["owner"]
        ways = ("user", "strategy") if isinstance(owner, Mapping) else ()
        owners.check_person(conn, form, owner, "mapping.owner", errors, ways=ways)
    match = mapping.get("match")
    if match is not None:
        field = form.get_field(str(match.get("field"))) if isinstance(match, Mapping) else None
        if field is None or not isinstance(match.get("path"), str):
            errors.add(
                "mapping.match",
                "invalid_match",
                Text("expected {shape}", shape="{field, path}"),
                match,
            )


def create_hook(
    conn: Connection, actor: Actor, *, name: str, form_key: str, mapping: Any
) -> dict[str, Any]:
    """A hook and its secret token (shown this once)."""
    require_admin(actor)
    form = get_form(conn, form_key)
    errors = ErrorCollector()
    if not name.strip():
        errors.add("name", "invalid_name", Text("give a name"), name)
    check_mapping(conn, form, mapping, errors)
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


def list_hooks(conn: Connection, actor: Actor) -> list[dict[str, Any]]:
    """Every hook with its mapping (never its token)."""
    require_admin(actor)
    rows = conn.execute(
        sa.select(
            inbound_hooks.c.id,
            inbound_hooks.c.name,
            inbound_hooks.c.form_key,
            inbound_hooks.c.mapping,
            inbound_hooks.c.created_at,
        ).order_by(inbound_hooks.c.id)
    )
    return [{**row._mapping, "created_at": row.created_at.isoformat()} for row in rows]


def delete_hook(conn: Connection, actor: Actor, hook_id: int) -> None:
    """Remove a hook: its URL stops working at once."""
    require_admin(actor)
    removed = conn.execute(inbound_hooks.delete().where(inbound_hooks.c.id == hook_id))
    if not removed.rowcount:
        raise NotFound(Text("inbound hook {hook_id} does not exist", hook_id=hook_id), id=hook_id)


def _at(payload: Any, path: str) -> Any:
    value = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _values(mapping: Mapping[str, Any], element: Any) -> dict[str, Any]:
    """The fields one payload element gives, mapped, with the hook's constants."""
    values: dict[str, Any] = {}
    for key, source in mapping["fields"].items():
        if isinstance(source, Mapping):
            found = _at(element, source["path"])
            table = source.get("map") or {}
            if found is not None and str(found) in table:
                found = table[str(found)]
            elif table or found is None:
                found = source.get("default")
        else:
            found = _at(element, source)
        if found is not None:
            values[key] = found
    values.update(mapping.get("constants") or {})
    return values


def _elements(mapping: Mapping[str, Any], payload: Any) -> tuple[list[Any], str]:
    """The payload's elements, each one record, and the prefix naming them in errors."""
    if isinstance(payload, list):
        found, where = payload, "body"
    elif not isinstance(payload, Mapping):
        raise ValidationFailed(
            [
                FieldError(
                    "body", "invalid_payload", Text("expected a JSON object or array"), payload
                )
            ]
        )
    elif mapping.get("items"):
        found, where = _at(payload, mapping["items"]), mapping["items"]
        if not isinstance(found, list):
            raise ValidationFailed(
                [FieldError(where, "invalid_payload", Text("expected an array here"), found)]
            )
    else:
        return [payload], ""
    if not found or len(found) > MAX_ITEMS:
        raise ValidationFailed(
            [
                FieldError(
                    where,
                    "invalid_payload",
                    Text("give 1 to {limit} items", limit=MAX_ITEMS),
                    len(found),
                )
            ]
        )
    return list(found), "items."


def receive(conn: Connection, token: str, payload: Any, tz: ZoneInfo) -> dict[str, Any]:
    """Create or update the records the payload describes; one element returns its record
    with ``action``, several return ``records`` (id and action each)."""
    hook = conn.execute(
        sa.select(inbound_hooks).where(inbound_hooks.c.token_hash == _digest(token))
    ).first()
    if hook is None:
        raise NotFound(Text("no such hook"))
    form = get_form(conn, hook.form_key)
    mapping = hook.mapping
    elements, prefix = _elements(mapping, payload)
    values = [_values(mapping, element) for element in elements]
    _assign_owners(conn, hook.id, form, mapping.get("owner"), values)
    if mapping.get("match"):
        done = [
            _create_or_update(
                conn, form, mapping["match"], element, item, tz, f"{prefix}{i}." if prefix else ""
            )
            for i, (element, item) in enumerate(zip(elements, values, strict=True))
        ]
    else:
        ids = bulk.create_records(conn=conn, actor=Actor.system(), form=form, items=values, tz=tz)
        done = [(record_id, "created") for record_id in ids]
    for record_id, action in done:
        audit(
            conn,
            actor_id=None,
            action="inbound_webhook",
            object_type=form.key,
            object_id=record_id,
            detail={"hook": hook.id, "action": action},
        )
    if not prefix:
        [(record_id, action)] = done
        record = reads.get_record(
            conn=conn, actor=Actor.system(), form=form, record_id=record_id, tz=tz
        )
        return {"action": action, "record": record}
    return {"records": [{"id": record_id, "action": action} for record_id, action in done]}


def _assign_owners(
    conn: Connection,
    hook_id: int,
    form: Form,
    owner: Mapping[str, Any] | None,
    values: list[dict[str, Any]],
) -> None:
    """Give each new record its owner, as the hook's ``owner`` says (an element's own
    ``owner_id`` mapping wins)."""
    if not owner:
        return
    if "user" in owner:
        chosen: Sequence[int | None] = [int(owner["user"])] * len(values)
    else:
        turn = reserve(conn, f"inbound_hook:{hook_id}:owner", len(values)) - 1
        chosen = owners.share_out(conn, form=form, choice=owner, count=len(values), first_turn=turn)
    for item, person in zip(values, chosen, strict=True):
        if person is not None:
            item.setdefault("owner_id", person)


def _create_or_update(
    conn: Connection,
    form: Form,
    match: Mapping[str, Any],
    element: Any,
    values: dict[str, Any],
    tz: ZoneInfo,
    prefix: str,
) -> tuple[int, str]:
    wanted = _at(element, match["path"])
    if wanted is None:
        raise ValidationFailed(
            [
                FieldError(
                    f"{prefix}{match['path']}" if prefix else match["path"],
                    "required",
                    Text("the payload must carry this value"),
                    None,
                )
            ]
        )
    table = plan_for(form).tables.main
    existing = conn.scalar(
        sa.select(table.c.id).where(table.c[match["field"]] == wanted, table.c.deleted_at.is_(None))
    )
    values.setdefault(match["field"], wanted)
    system = Actor.system()
    try:
        if existing is None:
            record = service.create_record(conn=conn, actor=system, form=form, values=values, tz=tz)
            return int(record["id"]), "created"
        values.pop("owner_id", None)  # an update keeps the record's owner
        record = service.update_record(
            conn=conn, actor=system, form=form, record_id=existing, values=values, tz=tz
        )
        return int(record["id"]), "updated"
    except ValidationFailed as exc:
        if not prefix:
            raise
        raise ValidationFailed(
            [
                FieldError(f"{prefix}{e.field}", e.code, e.message, e.value, e.detail)
                for e in exc.errors
            ]
        ) from exc
