"""The import's own rows: one per run of a file into a form (``sys_import``) and one per data
row of the file (``sys_import_row``: created, updated, merged or rejected, the record, why).

A batch's records, its outcome rows and the import's progress are written in one transaction,
so after a crash the import says exactly which rows are settled: ``rows_done`` data rows, in
file order. :func:`claim_batch` moves the progress forward only from where the caller read it,
so two runs of one import can never both write a batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.bulk import insert_columns
from meridian.db.tables import import_rows, imports
from meridian.errors import Conflict, NotFound

OUTCOMES = ("created", "updated", "merged", "rejected")
DRAFT, RUNNING, FINISHED, ROLLED_BACK = "draft", "running", "finished", "rolled_back"


@dataclass(frozen=True)
class ImportState:
    """An import as stored."""

    id: int
    form_key: str
    file_name: str
    file_hash: str
    mapping_hash: str
    sheet: str | None
    mapping: dict[str, Any]
    on_duplicate: str
    state: str
    rows_done: int
    batches: int
    created: int
    updated: int
    merged: int
    rejected: int
    created_by: int | None

    def summary(self) -> str:
        return (
            f"created {self.created}, updated {self.updated}, merged {self.merged}, "
            f"rejected {self.rejected}"
        )


class RowOutcome(NamedTuple):
    """What became of one data row (``detail``: the reasons of a rejection, the values an
    update replaced). A named tuple: a batch makes one per row, and hands them to
    :func:`record_outcomes` as columns."""

    number: int
    outcome: str
    record_id: int | None = None
    detail: Any = None


def load_import(conn: Connection, import_id: int) -> ImportState:
    row = conn.execute(sa.select(imports).where(imports.c.id == import_id)).first()
    if row is None:
        raise NotFound(Text("import {value} is not found", value=import_id), id=import_id)
    return _state(row)


def unfinished_import(
    conn: Connection, form_key: str, file_hash: str, mapping_hash: str
) -> ImportState | None:
    """The running import of this file with this mapping, if one was interrupted."""
    row = conn.execute(
        sa.select(imports)
        .where(
            imports.c.form_key == form_key,
            imports.c.file_hash == file_hash,
            imports.c.mapping_hash == mapping_hash,
            imports.c.state == RUNNING,
        )
        .order_by(imports.c.id.desc())
    ).first()
    return None if row is None else _state(row)


def start_import(
    conn: Connection,
    actor: Actor,
    *,
    form_key: str,
    file_name: str,
    file_hash: str,
    mapping_hash: str,
    sheet: str | None,
    mapping: dict[str, Any],
    on_duplicate: str,
    state: str = RUNNING,
) -> ImportState:
    """A new import: ``running`` (the CLI starts it at once) or ``draft`` (prepared in the
    browser or over HTTP before it runs)."""
    now = utcnow(conn)
    import_id = conn.execute(
        imports.insert()
        .values(
            form_key=form_key,
            file_name=file_name[:255],
            file_hash=file_hash,
            mapping_hash=mapping_hash,
            sheet=sheet,
            mapping=mapping,
            on_duplicate=on_duplicate,
            state=state,
            rows_done=0,
            batches=0,
            created=0,
            updated=0,
            merged=0,
            rejected=0,
            created_by=actor.user_id,
            started_at=now,
            updated_at=now,
        )
        .returning(imports.c.id)
    ).scalar_one()
    return load_import(conn, import_id)


def claim_batch(conn: Connection, state: ImportState, rows_before: int, rows: int) -> None:
    """Move the import's progress from ``rows_before`` to ``rows_before + rows`` data rows;
    ``Conflict`` when another run moved it first (this batch is theirs: write nothing)."""
    moved = conn.execute(
        imports.update()
        .where(
            imports.c.id == state.id,
            imports.c.state == RUNNING,
            imports.c.rows_done == rows_before,
        )
        .values(
            rows_done=rows_before + rows,
            batches=imports.c.batches + 1,
            updated_at=utcnow(conn),
        )
    )
    if moved.rowcount != 1:
        raise Conflict(
            Text("import {value} is being run by another process", value=state.id), id=state.id
        )


def record_outcomes(conn: Connection, import_id: int, outcomes: Sequence[RowOutcome]) -> None:
    """The batch's outcome rows (one executemany, handed over column by column) and the
    import's counts (one UPDATE)."""
    if not outcomes:
        return
    numbers, kinds, record_ids, details = zip(*outcomes, strict=True)
    insert_columns(
        conn,
        import_rows,
        {
            "import_id": [import_id] * len(outcomes),
            "row_number": numbers,
            "outcome": kinds,
            "record_id": record_ids,
            "detail": details,
        },
    )
    counts = Counter(kinds)
    conn.execute(
        imports.update()
        .where(imports.c.id == import_id)
        .values({key: imports.c[key] + counts[key] for key in OUTCOMES if counts[key]})
    )


def finish_import(conn: Connection, import_id: int) -> None:
    now = utcnow(conn)
    conn.execute(
        imports.update()
        .where(imports.c.id == import_id, imports.c.state == RUNNING)
        .values(state=FINISHED, finished_at=now, updated_at=now)
    )


def outcomes_of(conn: Connection, import_id: int, chunk: int = 5000) -> Iterator[RowOutcome]:
    """Every row's outcome in row order, read a chunk at a time (a million rows stream)."""
    after = -1
    while True:
        rows = list(
            conn.execute(
                sa.select(
                    import_rows.c.row_number,
                    import_rows.c.outcome,
                    import_rows.c.record_id,
                    import_rows.c.detail,
                )
                .where(import_rows.c.import_id == import_id, import_rows.c.row_number > after)
                .order_by(import_rows.c.row_number)
                .limit(chunk)
            )
        )
        if not rows:
            return
        for row in rows:
            yield RowOutcome(row.row_number, row.outcome, row.record_id, row.detail)
        after = rows[-1].row_number


def import_of_record(conn: Connection, form_key: str, record_id: int) -> int | None:
    """The import that created a record of ``form_key``, if one did."""
    return conn.scalar(
        sa.select(import_rows.c.import_id)
        .join(imports, imports.c.id == import_rows.c.import_id)
        .where(
            import_rows.c.record_id == record_id,
            import_rows.c.outcome == "created",
            imports.c.form_key == form_key,
        )
    )


def _state(row: Any) -> ImportState:
    data = row._mapping
    return ImportState(**{name: data[name] for name in ImportState.__dataclass_fields__})
