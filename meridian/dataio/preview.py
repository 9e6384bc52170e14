"""The cleanse preview: what each value of the first rows becomes, column by column, and what
is refused and why — the run's own conversion and lookups (``run_rows.BatchConverter``), read
only, before anything is written."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.access.users import user_names
from meridian.core.actor import Actor
from meridian.core.i18n import Text, localized
from meridian.dataio.drafts import plain, read_source, record_titles
from meridian.dataio.mappings import ImportMapping
from meridian.dataio.resolving import OWNER, Resolver
from meridian.dataio.run_rows import BatchConverter
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import Form

PREVIEW_ROWS = 20


def column_preview(
    conn: Connection,
    actor: Actor,
    form: Form,
    path: Path,
    sheet: str | None,
    mapping: ImportMapping,
    tz: ZoneInfo,
    locale: str,
    rows: int = PREVIEW_ROWS,
) -> list[dict[str, Any]]:
    """Per mapped column, its first ``rows`` cells: the value each becomes, or the refusal's
    code and reason (in ``locale``)."""
    source = read_source(path, sheet, mapping.header_row)
    chunk = list(itertools.islice(source.rows, rows))
    resolver = Resolver(conn, actor, form, mapping.link_keys, tz)
    batch = BatchConverter(form, mapping, resolver, ValueContext(tz)).convert(conn, chunk)
    labels = {f.key: f.label for f in form.fields}
    labels[OWNER] = localized(Text("Owner"), locale)
    shown = _shown_references(conn, actor, form, mapping, batch, tz)
    columns = []
    for column in mapping.columns:
        if column.field is None:
            continue
        values = []
        for row in batch:
            cell = row.cells[column.column]
            refusal = next((r for r in row.refusals if r.field == column.field), None)
            entry: dict[str, Any] = {"row": row.number, "cell": plain(cell)}
            if refusal is not None:
                entry["refusal"] = refusal.refusal
                entry["reason"] = localized(refusal.reason, locale) if refusal.reason else ""
            else:
                value = row.values.get(column.field)
                entry["value"] = plain(value)
                names = shown.get(column.field)
                if names is not None and value is not None:
                    ids = value if isinstance(value, list) else [value]
                    entry["shown"] = "、".join(names.get(i, f"#{i}") for i in ids)
            values.append(entry)
        columns.append(
            {
                "column": column.column,
                "header": column.header,
                "field": column.field,
                "label": labels.get(column.field, column.field),
                "values": values,
                "refused": sum(1 for v in values if "refusal" in v),
            }
        )
    return columns


def _shown_references(
    conn: Connection,
    actor: Actor,
    form: Form,
    mapping: ImportMapping,
    batch: list[Any],
    tz: ZoneInfo,
) -> dict[str, dict[int, str]]:
    """For columns naming users or records: who or what each id found is, so the preview
    says 梅 or 腾讯控股 rather than an id (one query per column)."""
    shown: dict[str, dict[int, str]] = {}
    for column in mapping.columns:
        key = column.field
        if key is None:
            continue
        field = form.get_field(key)
        ids: set[int] = set()
        for row in batch:
            value = row.values.get(key)
            ids.update(
                v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int)
            )
        if key == OWNER or (field is not None and field_type(field).references_users):
            shown[key] = user_names(conn, ids)
        elif field is not None and field_type(field).links_records and field.target:
            target = get_form(conn, field.target)
            shown[key] = record_titles(conn, actor, target, sorted(ids), tz)
    return shown
