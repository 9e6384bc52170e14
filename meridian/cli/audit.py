"""``meridian audit``: verify the trail, anchor its head elsewhere, key a trail begun unkeyed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from meridian.errors import MeridianError
from meridian.events.audit import verify_chain
from meridian.events.audit_anchors import check_anchors, current_anchor, read_anchors
from meridian.http.deps import Workspace
from meridian.settings import Settings
from meridian.workspace import create_workspace

audit_cli = typer.Typer(help="The audit trail.", no_args_is_help=True)


def _say(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def _opened(*, rekey: bool = False) -> Iterator[Workspace]:
    try:
        workspace = create_workspace(Settings(), rekey_audit_trail=rekey)
    except MeridianError as exc:
        _say(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    try:
        yield workspace
    except MeridianError as exc:
        _say(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        workspace.engine.dispose()


@audit_cli.command("verify")
def audit_verify(
    anchor: list[Path] = typer.Option(
        [], "--anchor", help="A file of anchors (from 'meridian audit anchor'); may repeat."
    ),
) -> None:
    """Check the audit trail's keyed hash chain, and that it still holds every anchored head:
    exit 0 when intact, 1 naming the first bad entry."""
    with _opened() as workspace:
        anchors = [found for path in anchor for found in read_anchors(path)]
        with workspace.read() as conn:
            report = verify_chain(conn)
            if report.intact:
                report = check_anchors(conn, anchors) or report
    if report.intact:
        held = f"; {len(anchors)} anchors held" if anchor else ""
        _say(f"audit trail intact: {report.entries} entries{held}")
        return
    _say(f"audit trail broken at entry {report.bad_id}: {report.reason}")
    raise typer.Exit(1)


@audit_cli.command("anchor")
def audit_anchor(
    append: Path | None = typer.Option(
        None, "--append", help="Append the anchor line to this file (kept off the database host)."
    ),
) -> None:
    """Print the trail's head as '<entry id> <hash> <time>', after checking the chain."""
    with _opened() as workspace, workspace.read() as conn:
        report = verify_chain(conn)
        anchor = current_anchor(conn)
    if not report.intact:
        _say(f"not anchored: audit trail broken at entry {report.bad_id}: {report.reason}")
        raise typer.Exit(1)
    if append is not None:
        with append.open("a", encoding="utf-8") as out:
            out.write(anchor.line + "\n")
        _say(f"anchor of entry {anchor.entry_id} appended to {append}")
    typer.echo(anchor.line)


@audit_cli.command("rekey")
def audit_rekey() -> None:
    """Key a trail begun before audit keys existed with this installation's key (once)."""
    with _opened(rekey=True) as workspace, workspace.read() as conn:
        report = verify_chain(conn)
    _say(f"audit trail keyed: {report.entries} entries")
