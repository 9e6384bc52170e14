"""``meridian import FILE --form KEY``: the import run (or its ``--dry-run``), with progress,
``--mapping``, ``--report``, resuming an interrupted import; ``meridian import-rollback ID``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from meridian.access.actors import load_actor
from meridian.access.users import get_user_id
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.dataio.cleansing import STEPS
from meridian.dataio.converting import convert_row
from meridian.dataio.dedup_run import duplicate_finder
from meridian.dataio.mapping import suggest_mapping
from meridian.dataio.mappings import (
    MAX_HEADER_ROW,
    ImportMapping,
    header_row_of,
    read_mapping,
    save_mapping,
    saved_mapping,
    suggested,
)
from meridian.dataio.reading import SourceRow, read_sheet
from meridian.dataio.run_decisions import ON_DUPLICATE
from meridian.dataio.run_dry import dry_run
from meridian.dataio.run_report import ReportWriter, reason_text, write_report
from meridian.dataio.run_rollback import rollback_import
from meridian.dataio.run_store import RowOutcome, outcomes_of
from meridian.dataio.running import Progress, begin_import, count_rows, run_import
from meridian.db.engine import read_transaction
from meridian.errors import InvalidValue, MeridianError
from meridian.http.deps import Workspace
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import ValueContext
from meridian.schema.model import Field, Form

SHOWN_REJECTIONS = 100
"""Rejected rows listed on the terminal; the report (``--report``) lists every row."""


def import_command(
    open_workspace: Callable[[], AbstractContextManager[Workspace]],
) -> Callable[..., None]:
    """The command, over the CLI's way of opening the workspace."""

    def import_file(
        file: Path = typer.Argument(..., help="An .xlsx, .xls, .csv or .tsv file."),
        form: str = typer.Option(..., "--form", help="Form key, e.g. customer."),
        sheet: str | None = typer.Option(None, "--sheet", help="Sheet name (default: first)."),
        header_row: int | None = typer.Option(
            None,
            "--header-row",
            min=1,
            max=MAX_HEADER_ROW,
            help="The header's row number as the sheet shows it (default: the row found).",
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Report per row, write nothing."),
        sample: int | None = typer.Option(None, "--sample", min=1, help="Only the first N rows."),
        verbose: bool = typer.Option(False, "--verbose", help="Also list each row's steps."),
        mapping_file: Path | None = typer.Option(
            None, "--mapping", help="A mapping document (JSON); default: the suggestion."
        ),
        saved: str | None = typer.Option(None, "--saved-mapping", help="A saved mapping's name."),
        save_as: str | None = typer.Option(
            None, "--save-mapping", help="Save the mapping used under this name."
        ),
        write_mapping: Path | None = typer.Option(
            None, "--write-mapping", help="Write the mapping used to this JSON file."
        ),
        on_duplicate: str = typer.Option("keep", "--on-duplicate", help="keep, merge or skip."),
        report: Path | None = typer.Option(None, "--report", help="Write every row to this .xlsx."),
        import_id: int | None = typer.Option(None, "--import-id", help="Resume this import."),
        user: str | None = typer.Option(None, "--user", help="Import as this user (e-mail)."),
        batch: int = typer.Option(1000, "--batch", min=1, max=1000, help="Rows per batch."),
        lang: str = typer.Option("en", "--lang", help="Language of the report: en or zh-CN."),
    ) -> None:
        """Import FILE into a form. Exit 0 when every row was created, updated or merged, 1
        when some were rejected, 2 when the import cannot start; the last line counts them:
        created N, updated N, merged N, rejected N."""
        if on_duplicate not in ON_DUPLICATE:
            typer.echo(f"error: --on-duplicate is one of {', '.join(ON_DUPLICATE)}", err=True)
            raise typer.Exit(2)
        with open_workspace() as workspace:
            with workspace.engine.connect() as conn:
                target = get_form(conn, form)
                actor = _actor(conn, user)
            try:
                with workspace.engine.connect() as conn:
                    document = _document(conn, target, mapping_file, saved)
                    if header_row is None and document is not None:
                        header_row = header_row_of(document)
                    header = read_sheet(file, sheet, header_row).header
                    mapping = _mapping(conn, target, header, document, header_row)
                if dry_run:
                    _dry_run(
                        workspace,
                        actor,
                        target,
                        file,
                        sheet,
                        sample,
                        verbose,
                        mapping,
                        on_duplicate,
                        report,
                        lang,
                    )
                    return
                _print_mapping(mapping, announce=mapping_file is None and saved is None)
                if save_as or write_mapping:
                    _keep_mapping(workspace, actor, target, mapping, save_as, write_mapping)
                state, resumed = begin_import(
                    workspace.engine,
                    actor,
                    form,
                    file,
                    mapping,
                    sheet=sheet,
                    on_duplicate=on_duplicate,
                    import_id=import_id,
                )
                typer.echo(
                    f"import {state.id}: "
                    + (f"resuming after {state.rows_done} rows" if resumed else "started")
                )
                total = count_rows(file, sheet, mapping.header_row)
                state = run_import(
                    workspace.engine,
                    actor,
                    state,
                    file,
                    mapping,
                    workspace.tz,
                    finder=duplicate_finder(
                        actor=actor,
                        form=target,
                        mode=on_duplicate,
                        tz=workspace.tz,
                        batch_key=str(state.id),
                    ),
                    batch_rows=batch,
                    rows_total=total,
                    on_progress=_show_progress,
                    ahead=True,  # the next batches converted in a second process
                )
                _print_rejections(workspace, state.id, lang)
                if report is not None:
                    rows = write_report(workspace.engine, state, file, report, lang)
                    typer.echo(f"report: {rows} rows written to {report}")
            except InvalidValue as error:
                typer.echo(f"error: {error.message}", err=True)
                raise typer.Exit(2) from None
            except MeridianError as error:
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(2) from None
            typer.echo(f"import {state.id}: {state.state}")
            typer.echo(state.summary())
            if state.rejected:
                raise typer.Exit(1)

    return import_file


def rollback_command(
    open_workspace: Callable[[], AbstractContextManager[Workspace]],
) -> Callable[..., None]:
    def rollback(
        import_id: int = typer.Argument(..., help="The import's id."),
        user: str | None = typer.Option(None, "--user", help="Act as this user (e-mail)."),
    ) -> None:
        """Roll back an import: its records to the trash, its updates put back."""
        with open_workspace() as workspace:
            with workspace.engine.connect() as conn:
                actor = _actor(conn, user)
            done = rollback_import(workspace.engine, actor, import_id, workspace.tz)
            typer.echo(
                f"import {import_id} rolled back: {done.deleted} records moved to the trash, "
                f"{done.reverted} updates put back, {len(done.kept)} kept (changed since)"
            )

    return rollback


def _actor(conn: object, email: str | None) -> Actor:
    if email is None:
        return Actor.system()
    return load_actor(conn, get_user_id(conn, email))  # type: ignore[arg-type]


def _document(conn: object, form: Form, path: Path | None, saved: str | None) -> Any:
    """The mapping document of ``--mapping`` or ``--saved-mapping``; None for neither."""
    if path is not None:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidValue(
                "invalid_mapping",
                Text("{value!r} is not a JSON file: {reason}", value=str(path), reason=str(error)),
            ) from None
    if saved is not None:
        return saved_mapping(conn, form, saved)  # type: ignore[arg-type]
    return None


def _mapping(
    conn: object, form: Form, header: tuple[str, ...], document: Any, header_row: int | None
) -> ImportMapping:
    """The document fitted to the header (the suggestion without one), headed at
    ``header_row``."""
    if document is None:
        return suggested(form, suggest_mapping(header, form), header_row)
    mapping = read_mapping(document, form, header, conn)  # type: ignore[arg-type]
    return replace(mapping, header_row=header_row)


def _keep_mapping(
    workspace: Workspace,
    actor: Actor,
    form: Form,
    mapping: ImportMapping,
    name: str | None,
    path: Path | None,
) -> None:
    if path is not None:
        text = json.dumps(mapping.document(), ensure_ascii=False, indent=2)
        path.write_text(text + "\n", encoding="utf-8")
    if name is not None:
        with workspace.transaction() as conn:
            save_mapping(conn, actor, form, name, mapping)


def _print_mapping(mapping: ImportMapping, *, announce: bool) -> None:
    if announce:
        typer.echo("mapping (suggested; --write-mapping M.json keeps it to edit):")
    for column in mapping.columns:
        target = column.field or "(not imported)"
        if column.key:
            target += f" by {column.key}"
        typer.echo(f"column {column.header!r} -> {target}")


def _show_progress(progress: Progress) -> None:
    total = f" of {progress.rows_total:,}" if progress.rows_total is not None else ""
    eta = (
        f", about {progress.seconds_left:,.0f} s left" if progress.seconds_left is not None else ""
    )
    line = f"{progress.rows_done:,}{total} rows, {progress.rows_per_second:,.0f} rows/s{eta}"
    end = "\n" if not sys.stderr.isatty() else "\r"
    typer.echo(line, err=True, nl=False)
    typer.echo(end, err=True, nl=False)


def _print_rejections(workspace: Workspace, import_id: int, lang: str) -> None:
    shown = 0
    more = 0
    with read_transaction(workspace.engine) as conn:
        for outcome in outcomes_of(conn, import_id):
            if outcome.outcome != "rejected":
                continue
            if shown < SHOWN_REJECTIONS:
                reasons = reason_text(outcome.detail, lang)
                typer.echo(f"row {outcome.number}: rejected: {reasons}")
                shown += 1
            else:
                more += 1
    if more:
        typer.echo(f"… {more} more rejected rows (--report R.xlsx lists every row)")


def _dry_run(
    workspace: Workspace,
    actor: Actor,
    target: Form,
    file: Path,
    sheet: str | None,
    sample: int | None,
    verbose: bool,
    mapping: ImportMapping,
    on_duplicate: str,
    report: Path | None,
    lang: str,
) -> None:
    """The run's own code on the file (or its first ``sample`` rows), rolled back: the same
    mapping, lookups, deduplication and write path, per row what the run would do."""
    source = read_sheet(file, sheet, mapping.header_row)
    typer.echo(
        f"sheet {source.name!r}, header on row {source.header_row}"
        + (f", read as {source.encoding}" if source.encoding else "")
    )
    suggestions = {s.column: s for s in suggest_mapping(source.header, target)}
    for column in mapping.columns:
        suggestion = suggestions.get(column.column)
        shown = column.field or "(not imported)"
        if column.key:
            shown += f" by {column.key}"
        elif suggestion is not None and column.field and suggestion.field == column.field:
            shown += f" ({suggestion.basis} {suggestion.score:g})"
        typer.echo(f"column {column.header!r} -> {shown}")
    fields = {f.key: f for f in target.fields}
    columns: list[Field | None] = [fields.get(c.field or "") for c in mapping.columns]
    ctx = ValueContext(workspace.tz)
    writer = ReportWriter(source.header, lang) if report is not None else None

    def show(rows: Sequence[SourceRow], outcomes: Sequence[RowOutcome]) -> None:
        if writer is not None:
            writer.add_batch(rows, outcomes)
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome.outcome == "rejected":
                reasons = reason_text(outcome.detail, lang)
                typer.echo(f"row {outcome.number}: rejected: {reasons}")
            elif verbose:
                cells = convert_row(row, columns, ctx).cells
                steps = sorted({step for cell in cells for step in cell.steps})
                done = ", ".join(STEPS[step] for step in steps) or "as written"
                typer.echo(f"row {outcome.number}: {outcome.outcome} ({done})")

    result = dry_run(
        workspace.engine,
        actor,
        target.key,
        file,
        mapping,
        workspace.tz,
        sheet=sheet,
        on_duplicate=on_duplicate,
        limit=sample,
        on_batch=show,
    )
    if writer is not None and report is not None:
        typer.echo(f"report: {writer.save(report)} rows written to {report}")
    typer.echo("dry run: nothing was written")
    typer.echo(result.summary())
    if result.counts["rejected"]:
        raise typer.Exit(1)
