"""A column mapping as a document: which field each column of a file fills, how a link column
names its records, which words mean which option — saved per form and reused, or kept as a
JSON file beside the spreadsheets (``meridian import … --mapping M.json``).

The document::

    {"format": "meridian.import-mapping/1", "form": "contact",
     "columns": [
       {"header": "所属客户", "field": "customer", "key": "name"},
       {"header": "负责人", "field": "owner_id"},
       {"header": "决策角色", "field": "decision_role", "options": {"拍板人": "decision_maker"}},
       {"header": "备注", "field": null}]}

Columns are found in a file by their header, compared as :func:`mapping.header_key` compares
them (width, case, spaces and brackets aside); a file column the document does not name is
left out. ``key`` names the target field a link column's cells are looked up by (``id`` for
record ids; the target's title by default); ``options`` maps a file's words to option values or
labels. ``owner_id`` fills the record's owner, looked up by user name or e-mail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.dataio.mapping import SYNONYMS, Suggestion, header_key, importable_fields
from meridian.dataio.resolving import BY_ID, OWNER
from meridian.db.tables import import_mappings
from meridian.errors import ErrorCollector, NotFound
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

FORMAT = "meridian.import-mapping/1"
MAX_HEADER_ROW = 1000
"""The lowest row a header may be chosen at: a title block above a header is a few rows."""
_OWNER_HEADERS = next(group for group in SYNONYMS if "负责人" in group)


@dataclass(frozen=True)
class ColumnMapping:
    """One column: its 0-based position and header, the field it fills (None: left out),
    the target field a link is looked up by, and words meaning options."""

    column: int
    header: str
    field: str | None
    key: str | None = None
    options: Mapping[str, str] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class ImportMapping:
    """The columns of a file and the fields they fill; ``header_row`` is the row the header
    is read from as the sheet numbers it (None: the row :func:`reading.find_header` finds)."""

    form: str
    columns: tuple[ColumnMapping, ...]
    header_row: int | None = None

    def document(self) -> dict[str, Any]:
        """The mapping as its JSON document (saved, written to a file, printed)."""
        columns = []
        for column in self.columns:
            entry: dict[str, Any] = {"header": column.header, "field": column.field}
            if column.key:
                entry["key"] = column.key
            if column.options:
                entry["options"] = dict(column.options)
            columns.append(entry)
        document: dict[str, Any] = {"format": FORMAT, "form": self.form, "columns": columns}
        if self.header_row is not None:
            document["header_row"] = self.header_row
        return document

    def digest(self) -> str:
        """SHA-256 of the canonical document: the same file imported with the same mapping
        is the same import."""
        text = json.dumps(self.document(), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def link_keys(self) -> dict[str, str]:
        return {c.field: c.key for c in self.columns if c.field and c.key}


def header_row_of(document: Any) -> int | None:
    """The header row a mapping document names (None: found); a 422 naming ``header_row``
    when it is not a row number."""
    row = document.get("header_row") if isinstance(document, Mapping) else None
    if row is None:
        return None
    if isinstance(row, bool) or not isinstance(row, int) or not 1 <= row <= MAX_HEADER_ROW:
        errors = ErrorCollector()
        errors.add(
            "header_row",
            "invalid_header_row",
            Text("the header row is a row number from 1 to {limit}", limit=MAX_HEADER_ROW),
            row,
        )
        errors.raise_if_any()
    return int(row)


def suggested(
    form: Form, suggestions: Sequence[Suggestion], header_row: int | None = None
) -> ImportMapping:
    """The mapping the suggestions make, with a column headed 负责人 / 销售 / owner (and no
    field of that name) filling the owner."""
    columns = []
    owner_taken = any(s.field == OWNER for s in suggestions)
    for s in suggestions:
        chosen = s.field
        if chosen is None and not owner_taken and header_key(s.header) in _OWNER_HEADERS:
            chosen, owner_taken = OWNER, True
        columns.append(ColumnMapping(s.column, s.header, chosen))
    return ImportMapping(form.key, tuple(columns), header_row)


def read_mapping(
    document: Any, form: Form, header: Sequence[str], conn: Connection
) -> ImportMapping:
    """A mapping document checked against the form and fitted to a file's header; every
    problem is reported at once (``ValidationFailed``, each naming the column and value)."""
    errors = ErrorCollector()
    if not isinstance(document, Mapping) or not isinstance(document.get("columns"), list):
        errors.add(
            "mapping", "invalid_mapping", Text("expected an object with a list of columns"), None
        )
        errors.raise_if_any()
    if document.get("form") not in (None, form.key):
        errors.add(
            "form",
            "other_form",
            Text(
                "the mapping is for form {value!r}, not {key!r}",
                value=document["form"],
                key=form.key,
            ),
            document["form"],
        )
    fields = {f.key: f for f in importable_fields(form)}
    positions = {header_key(text): index for index, text in enumerate(header) if text}
    chosen: dict[int, ColumnMapping] = {}
    for index, entry in enumerate(document["columns"]):
        where = f"columns.{index}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("header"), str):
            errors.add(
                where, "invalid_column", Text("expected an object with a header and a field"), entry
            )
            continue
        position = positions.get(header_key(entry["header"]))
        if position is None:
            errors.add(
                f"{where}.header",
                "unknown_column",
                Text("the file has no column {value!r}", value=entry["header"]),
                entry["header"],
            )
            continue
        target = entry.get("field")
        if target is not None and target != OWNER and target not in fields:
            errors.add(
                f"{where}.field",
                "unknown_field",
                Text(
                    "form {form!r} has no field {key!r} a file can fill", form=form.key, key=target
                ),
                target,
            )
            continue
        key = entry.get("key")
        if key is not None:
            problem = _key_problem(conn, fields.get(target or ""), key)
            if problem is not None:
                errors.add(f"{where}.key", "unknown_key", problem, key)
                continue
        options = entry.get("options") or {}
        if not isinstance(options, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in options.items()
        ):
            errors.add(
                f"{where}.options",
                "invalid_options",
                Text("expected an object of words and the options they mean"),
                options,
            )
            continue
        chosen[position] = ColumnMapping(position, header[position], target, key, dict(options))
    errors.raise_if_any()
    columns = tuple(
        chosen.get(position, ColumnMapping(position, text, None))
        for position, text in enumerate(header)
    )
    return ImportMapping(form.key, columns, header_row_of(document))


def _key_problem(conn: Connection, link: Any, key: Any) -> Text | None:
    if link is None or not field_type(link).links_records or not link.target:
        return Text("only a link column is looked up by a key")
    if key == BY_ID:
        return None
    target = get_form(conn, link.target)
    if not isinstance(key, str) or target.get_field(key) is None:
        return Text("form {form!r} has no field {key!r}", form=target.key, key=key)
    return None


# ---- saved per form --------------------------------------------------------------------------


def save_mapping(
    conn: Connection, actor: Actor, form: Form, name: str, mapping: ImportMapping
) -> None:
    """Save (or replace) the form's mapping called ``name``."""
    now = utcnow(conn)
    document = mapping.document()
    updated = conn.execute(
        import_mappings.update()
        .where(import_mappings.c.form_key == form.key, import_mappings.c.name == name)
        .values(document=document, updated_at=now)
    )
    if not updated.rowcount:
        conn.execute(
            import_mappings.insert().values(
                form_key=form.key,
                name=name,
                document=document,
                created_by=actor.user_id,
                created_at=now,
                updated_at=now,
            )
        )


def saved_mapping(conn: Connection, form: Form, name: str) -> dict[str, Any]:
    """The document of the form's mapping called ``name`` (``NotFound`` when none)."""
    document = conn.scalar(
        sa.select(import_mappings.c.document).where(
            import_mappings.c.form_key == form.key, import_mappings.c.name == name
        )
    )
    if document is None:
        raise NotFound(
            Text("form {key!r} has no saved mapping {value!r}", key=form.key, value=name)
        )
    return dict(document)


def saved_mappings(conn: Connection, form: Form) -> list[dict[str, Any]]:
    """The form's saved mappings: name, who saved it and when, newest first."""
    rows = conn.execute(
        sa.select(
            import_mappings.c.name, import_mappings.c.created_by, import_mappings.c.updated_at
        )
        .where(import_mappings.c.form_key == form.key)
        .order_by(import_mappings.c.updated_at.desc(), import_mappings.c.name)
    )
    return [dict(row._mapping) for row in rows]
