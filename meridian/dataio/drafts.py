"""An import prepared step by step before it runs — in the browser's wizard or over HTTP.

The file is uploaded into the workspace's file store (``imports/<sha256><suffix>``: the
readers go by the suffix) and an import is opened in state ``draft`` with the suggested
mapping; the mapping is then read, changed or taken from a saved one, previewed column by
column, dry-run (:mod:`meridian.dataio.run_dry`), its duplicate pairs decided, and finally
started as a job (:mod:`meridian.dataio.run_job`). Every step loads the import through
:func:`own_import`: an import is its importer's alone (another user's is "not found"), and
every step asks the form's 导入 right again, as the form's fields are those the importer sees.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access, visible_form
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.dataio.mapping import importable_fields, suggest_mapping
from meridian.dataio.mappings import (
    ImportMapping,
    header_row_of,
    read_mapping,
    save_mapping,
    saved_mapping,
    suggested,
)
from meridian.dataio.progress import pace
from meridian.dataio.reading import Sheet, read_sheet, sheet_names
from meridian.dataio.run_store import (
    DRAFT,
    FINISHED,
    ROLLED_BACK,
    RUNNING,
    ImportState,
    RowOutcome,
    load_import,
    start_import,
)
from meridian.db.tables import import_rows, imports
from meridian.errors import Conflict, FieldError, InvalidValue, NotFound, ValidationFailed
from meridian.records.readable import Readable
from meridian.records.reads import dump_rows
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

SUFFIXES = (".xlsx", ".xls", ".csv", ".tsv")
SAMPLE_ROWS = 5
"""Rows of the file shown beside its columns when it is uploaded."""


@dataclass(frozen=True)
class Upload:
    """A file received: where it is kept, its name as uploaded, and its SHA-256."""

    path: Path
    name: str
    sha256: str


def receive_upload(store: Path, name: str, stream: BinaryIO, max_bytes: int) -> Upload:
    """Keep an uploaded spreadsheet; refused (422 naming ``file``) when its name is not an
    .xlsx, .xls, .csv or .tsv, or it is larger than ``max_bytes`` — nothing is kept then."""
    clean = os.path.basename(name.replace("\\", "/")).strip()[:255] or "file"
    suffix = Path(clean).suffix.lower()
    if suffix not in SUFFIXES:
        raise _refused(
            "file",
            "unsupported_file",
            Text("{value!r} is not an .xlsx, .xls, .csv or .tsv file", value=clean[:80]),
            clean[:80],
        )
    folder = store / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".upload-{os.getpid()}-{secrets.token_hex(8)}"
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as out:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    raise _refused(
                        "file",
                        "file_too_large",
                        Text(
                            "the file has more than {limit} bytes; at most {limit} are accepted"
                            " here",
                            limit=max_bytes,
                        ),
                        clean[:80],
                    )
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        kept = folder / f"{sha}{suffix}"
        partial.replace(kept)
    finally:
        partial.unlink(missing_ok=True)
    return Upload(kept, clean, sha)


def upload_path(store: Path, state: ImportState) -> Path:
    """Where the import's file is kept."""
    return store / "imports" / f"{state.file_hash}{Path(state.file_name).suffix.lower()}"


def open_draft(
    conn: Connection,
    actor: Actor,
    form_key: str,
    upload: Upload,
    sheet: str | None,
    header_row: int | None = None,
) -> ImportState:
    """A new import of the uploaded file in state ``draft``, with the suggested mapping of
    its first sheet with a header (or ``sheet``), its header the row found (or
    ``header_row``). A file that cannot be read, a sheet it does not have or a row that
    cannot be the header is refused (422 naming ``file``, ``sheet`` or ``header_row``)."""
    form = _importable_form(conn, actor, form_key)
    chosen = header_row_of({"header_row": header_row})
    source = read_source(upload.path, sheet, chosen)
    mapping = suggested(form, suggest_mapping(source.header, form), chosen)
    return start_import(
        conn,
        actor,
        form_key=form_key,
        file_name=upload.name,
        file_hash=upload.sha256,
        mapping_hash=mapping.digest(),
        sheet=source.name,
        mapping=mapping.document(),
        on_duplicate="keep",
        state=DRAFT,
    )


def own_import(conn: Connection, actor: Actor, import_id: int) -> tuple[ImportState, Form]:
    """The import ``actor`` opened, and its form as they see it; another user's import is
    not found (its existence is not told), and the form's 导入 right is asked again."""
    state = load_import(conn, import_id)
    if state.created_by != actor.user_id and not actor.is_admin:
        raise NotFound(Text("import {value} is not found", value=import_id), id=import_id)
    return state, _importable_form(conn, actor, state.form_key)


def read_source(path: Path, sheet: str | None, header_row: int | None = None) -> Sheet:
    """The sheet headed at ``header_row`` (None: the row found), or a 422 naming ``sheet`` (a
    sheet the file has not), ``header_row`` (a blank row, or past the end) or ``file``."""
    try:
        return read_sheet(path, sheet, header_row)
    except InvalidValue as error:
        if error.code == "blank_header_row":
            raise _refused("header_row", error.code, error.message, header_row) from None
        where = "sheet" if error.code == "no_sheet" and sheet is not None else "file"
        raise _refused(where, error.code, error.message, sheet or path.name) from None


def describe(state: ImportState, form: Form, path: Path) -> dict[str, Any]:
    """The import as the wizard and the API show it: its file's sheets, the chosen sheet's
    header row, columns with what each fills, and the first rows."""
    source = read_source(path, state.sheet, header_row_of(state.mapping))
    sample = [
        {"row": row.number, "cells": [plain(cell) for cell in row.cells]}
        for _, row in zip(range(SAMPLE_ROWS), source.rows, strict=False)
    ]
    suggestions = {s.column: s for s in suggest_mapping(source.header, form)}
    mapped = {c["header"]: c for c in state.mapping.get("columns", [])}
    columns = []
    for position, header in enumerate(source.header):
        entry = mapped.get(header, {})
        suggestion = suggestions.get(position)
        columns.append(
            {
                "column": position,
                "header": header,
                "field": entry.get("field"),
                "key": entry.get("key"),
                "suggested": suggestion.field if suggestion else None,
                "basis": suggestion.basis if suggestion else None,
                "score": suggestion.score if suggestion else 0.0,
            }
        )
    return {
        **summary(state),
        "sheets": sheet_names(path),
        "header_row": source.header_row,
        "header_row_chosen": header_row_of(state.mapping) is not None,
        "encoding": source.encoding,
        "columns": columns,
        "sample": sample,
    }


def summary(state: ImportState) -> dict[str, Any]:
    return {
        "id": state.id,
        "form": state.form_key,
        "file_name": state.file_name,
        "sheet": state.sheet,
        "state": state.state,
        "on_duplicate": state.on_duplicate,
        "mapping": state.mapping,
        "counts": {
            "created": state.created,
            "updated": state.updated,
            "merged": state.merged,
            "rejected": state.rejected,
        },
    }


def fields_for_mapping(conn: Connection, form: Form) -> list[dict[str, Any]]:
    """The fields a column may fill (as the importer sees the form), with the keys a link
    may be looked up by — what the mapping step offers."""
    offered = []
    for field in importable_fields(form):
        entry: dict[str, Any] = {"key": field.key, "label": field.label, "type": field.type}
        if field_type(field).links_records and field.target:
            target = get_form(conn, field.target)
            entry["link_keys"] = [
                {"key": f.key, "label": f.label}
                for f in target.active_fields
                if field_type(f).has_plain_column(f)
            ]
        offered.append(entry)
    return offered


def current_mapping(conn: Connection, state: ImportState, form: Form, path: Path) -> ImportMapping:
    """The import's mapping fitted to its file (as stored, checked again)."""
    header = read_source(path, state.sheet, header_row_of(state.mapping)).header
    return read_mapping(state.mapping, form, header, conn)


def set_mapping(
    conn: Connection,
    actor: Actor,
    state: ImportState,
    form: Form,
    path: Path,
    *,
    document: Any = None,
    saved: str | None = None,
    save_as: str | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
    on_duplicate: str | None = None,
) -> ImportState:
    """Change a draft's sheet, header row (``0``: the row found again), mapping (a document,
    a saved mapping's name, or — with a new sheet or header row and neither — the suggestion
    for the new header) and default for duplicates; save the mapping under ``save_as``. Every
    problem is a 422 naming its field; nothing changes then."""
    _require_draft(state)
    if on_duplicate is not None and on_duplicate not in ("keep", "merge", "skip"):
        raise _refused(
            "on_duplicate",
            "invalid_choice",
            Text("on_duplicate is one of {allowed}", allowed="keep, merge, skip"),
            on_duplicate,
        )
    chosen_sheet = sheet if sheet is not None else state.sheet
    held_row = header_row_of(state.mapping)
    if header_row is None:
        chosen_row = held_row
    else:
        chosen_row = None if header_row == 0 else header_row_of({"header_row": header_row})
    if saved is not None:
        document = saved_mapping(conn, form, saved)
    if header_row is None and isinstance(document, dict) and "header_row" in document:
        chosen_row = header_row_of(document)  # a mapping saved with its header row
    header = read_source(path, chosen_sheet, chosen_row).header
    if document is None:
        moved = (sheet is not None and sheet != state.sheet) or chosen_row != held_row
        mapping = (
            suggested(form, suggest_mapping(header, form), chosen_row)
            if moved
            else read_mapping(state.mapping, form, header, conn)
        )
    else:
        mapping = replace(read_mapping(document, form, header, conn), header_row=chosen_row)
    if save_as:
        save_mapping(conn, actor, form, save_as[:200], mapping)
    conn.execute(
        imports.update()
        .where(imports.c.id == state.id, imports.c.state == DRAFT)
        .values(
            sheet=chosen_sheet,
            mapping=mapping.document(),
            mapping_hash=mapping.digest(),
            on_duplicate=on_duplicate or state.on_duplicate,
            dry_run=None,
            updated_at=utcnow(conn),
        )
    )
    return load_import(conn, state.id)


def keep_dry_run(conn: Connection, state: ImportState, result: dict[str, Any]) -> None:
    conn.execute(imports.update().where(imports.c.id == state.id).values(dry_run=result))


def stored_dry_run(conn: Connection, import_id: int) -> dict[str, Any] | None:
    found = conn.scalar(sa.select(imports.c.dry_run).where(imports.c.id == import_id))
    return dict(found) if found else None


def progress_of(conn: Connection, import_id: int) -> dict[str, Any]:
    """Rows settled, of how many, the pace and the time left (None while not known)."""
    row = conn.execute(
        sa.select(
            imports.c.state,
            imports.c.rows_done,
            imports.c.rows_total,
            imports.c.rows_per_second,
            imports.c.job_id,
        ).where(imports.c.id == import_id)
    ).one()
    return {
        "state": row.state,
        "rows_done": row.rows_done,
        "rows_total": row.rows_total,
        **pace(
            rows_done=row.rows_done,
            rows_total=row.rows_total,
            rows_per_second=row.rows_per_second,
            running=row.state == RUNNING,
            finished=row.state in (FINISHED, ROLLED_BACK),
        ),
        "job_id": row.job_id,
    }


def _require_draft(state: ImportState) -> None:
    if state.state != DRAFT:
        raise Conflict(
            Text("import {value} has started; its mapping can no longer change", value=state.id),
            id=state.id,
        )


def _importable_form(conn: Connection, actor: Actor, form_key: str) -> Form:
    form = get_form(conn, form_key)
    access = form_access(conn, actor, form)
    access.require("import")
    access.require("create")
    return visible_form(conn, actor, form)


def _refused(field: str, code: str, message: Text | str, value: Any) -> ValidationFailed:
    return ValidationFailed([FieldError(field, code, message, value)])


def plain(cell: Any) -> Any:
    """A cell as JSON holds it."""
    if isinstance(cell, datetime | date | time):
        return cell.isoformat()
    if isinstance(cell, Decimal):
        return str(cell)
    if cell is None or isinstance(cell, str | int | float | bool):
        return cell
    return str(cell)


def outcome_rows(
    outcomes: Sequence[Any], locale: str, labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Outcome rows as the API and the wizard list them, the reasons in ``locale`` (fields
    named by their ``labels`` when given)."""
    from meridian.dataio.run_report import reason_text

    def reasons(detail: Any) -> str:
        if labels and isinstance(detail, list):
            detail = [
                {**entry, "field": labels.get(entry.get("field") or "", entry.get("field"))}
                for entry in detail
            ]
        return reason_text(detail, locale)

    return [
        {
            "row": o.number,
            "outcome": o.outcome,
            "record_id": o.record_id,
            "reasons": o.detail if o.outcome == "rejected" else [],
            "reason": reasons(o.detail) if o.outcome == "rejected" else "",
        }
        for o in outcomes
    ]


def field_labels(form: Form) -> dict[str, str]:
    """The form's field labels by key, for reasons people read."""
    return {f.key: f.label for f in form.fields}


def own_form(conn: Connection, actor: Actor, form_key: str) -> Form:
    """The form as ``actor`` sees it, when they may import into it (403 otherwise)."""
    return _importable_form(conn, actor, form_key)


def require_report(path: Path) -> None:
    """A dry run's report not made yet is a 404 saying what to do first."""
    if not path.is_file():
        raise NotFound(Text("this import has no dry run yet: run one first"))


def report_path(store: Path, import_id: int) -> Path:
    """Where the import's last dry run's report is kept."""
    folder = store / "imports" / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{import_id}-dry-run.xlsx"


def pair_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored duplicate pair as the API lists it."""
    return {
        "id": row["id"],
        "row": row["row"],
        "other_row": row["other_row"],
        "record_id": row["record_id"],
        "reason": row["reason"],
        "field": row["field_key"],
        "score": row["score"],
        "value": row["value"],
        "decision": row["decision"],
    }


def page_of_outcomes(
    conn: Connection, import_id: int, outcome: str | None, after: int, limit: int
) -> list[RowOutcome]:
    """A page of the run's outcome rows after row ``after``, of one ``outcome`` if given."""
    where = [import_rows.c.import_id == import_id, import_rows.c.row_number > after]
    if outcome is not None:
        where.append(import_rows.c.outcome == outcome)
    rows = conn.execute(
        sa.select(
            import_rows.c.row_number,
            import_rows.c.outcome,
            import_rows.c.record_id,
            import_rows.c.detail,
        )
        .where(*where)
        .order_by(import_rows.c.row_number)
        .limit(limit)
    )
    return [RowOutcome(r.row_number, r.outcome, r.record_id, r.detail) for r in rows]


def refused_upload() -> ValidationFailed:
    """No file was chosen."""
    return _refused("file", "required", Text("choose a file to import"), None)


def record_titles(
    conn: Connection, actor: Actor, form: Form, ids: Sequence[int | None], tz: ZoneInfo
) -> dict[int, str]:
    """The titles of the records duplicate pairs name, as ``actor`` may read them (one query)."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted or not form.title_field:
        return {}
    readable = Readable.of(conn, form_access(conn, actor, form), tz)
    rows = conn.execute(readable.select().where(readable.table.c.id.in_(wanted))).all()
    records = dump_rows(conn, readable.plan, rows, actor=actor, tz=tz)
    return {r["id"]: str(r.get(form.title_field) or f"#{r['id']}") for r in records}


def record_ids_of(conn: Connection, import_id: int, limit: int) -> list[int]:
    """The records the import created, updated or merged into (the first ``limit``)."""
    return list(
        conn.scalars(
            sa.select(import_rows.c.record_id)
            .where(
                import_rows.c.import_id == import_id,
                import_rows.c.outcome != "rejected",
                import_rows.c.record_id.is_not(None),
            )
            .order_by(import_rows.c.row_number)
            .limit(limit)
        )
    )
