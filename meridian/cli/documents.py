"""``meridian documents``: check the signature of a generated PDF."""

from __future__ import annotations

from pathlib import Path

import typer

from meridian.documents.signing import verify_pdf

documents_cli = typer.Typer(help="Generated documents.", no_args_is_help=True)


@documents_cli.command("verify")
def verify(file: Path) -> None:
    """Exit 0 when every signature of FILE is intact and covers the whole file, else 1."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    result = verify_pdf(data)
    for signature in result.signatures:
        state = "intact" if signature["intact"] and signature["valid"] else "BROKEN"
        typer.echo(
            f"{signature['field']}: {state}, signed by {signature['signer']}"
            f" at {signature['signed_at']}, covers {signature['coverage']}"
        )
    if not result.intact:
        typer.echo(f"not verified: {result.problem}", err=True)
        raise typer.Exit(1)
    typer.echo("verified: the signature is intact and covers the whole file")
