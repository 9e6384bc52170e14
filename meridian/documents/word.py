"""Word templates: a .docx with placeholders and loops, filled with docxtpl in the sandbox.

Filling works everywhere. Turning the filled .docx into PDF needs LibreOffice (``soffice``);
where it is not installed, :func:`docx_to_pdf` says so instead of pretending.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from meridian.core.i18n import Text
from meridian.documents.sandbox import environment
from meridian.errors import Conflict, FieldError, ValidationFailed

CONVERT_SECONDS = 120


def fill_docx(source: bytes, context: Mapping[str, Any], time_zone: str) -> bytes:
    """The Word file with its placeholders filled from ``context``."""
    from docxtpl import DocxTemplate  # imported on use: python-docx loads lxml and its schemas

    try:
        template = DocxTemplate(io.BytesIO(source))
        template.render(dict(context), jinja_env=environment(time_zone))
    except (TemplateError, ValueError, TypeError, KeyError) as exc:
        message = str(exc) or type(exc).__name__
        raise ValidationFailed(
            [
                FieldError(
                    "template",
                    "template_failed",
                    Text("the Word template failed: {message}", message=message),
                    message[:80],
                )
            ]
        ) from None
    out = io.BytesIO()
    template.save(out)
    return out.getvalue()


def libreoffice() -> str | None:
    """The LibreOffice command, when installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def docx_to_pdf(docx: bytes) -> bytes:
    """The filled Word file as PDF, through LibreOffice; ``Conflict`` where it is missing."""
    command = libreoffice()
    if command is None:
        raise Conflict(
            Text(
                "PDF from Word templates needs LibreOffice, which is not installed on this "
                "server; download the .docx instead"
            ),
            reason="libreoffice_missing",
        )
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "document.docx"
        source.write_bytes(docx)
        subprocess.run(
            [command, "--headless", "--convert-to", "pdf", "--outdir", folder, str(source)],
            check=True,
            capture_output=True,
            timeout=CONVERT_SECONDS,
            env={"HOME": folder, "PATH": "/usr/bin:/bin"},
        )
        return (Path(folder) / "document.pdf").read_bytes()
