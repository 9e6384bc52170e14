"""Word templates: a .docx with placeholders and loops, filled with docxtpl in the sandbox.

Filling works everywhere. Turning the filled .docx into PDF needs LibreOffice (``soffice``),
which takes seconds, so it runs as a job (``meridian.documents.word_pdf``); where LibreOffice is
not installed, the API and the record page say so instead of pretending.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
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
    """The LibreOffice command, when installed (``make system`` installs Debian's
    ``libreoffice-writer-nogui``)."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def libreoffice_missing() -> Conflict:
    """The answer where LibreOffice is not installed: said, never pretended."""
    return Conflict(
        Text(
            "PDF from Word templates needs LibreOffice, which is not installed on this "
            "server; download the .docx instead"
        ),
        reason="libreoffice_missing",
    )


def docx_to_pdf(docx: bytes) -> bytes:
    """The filled Word file as PDF, through LibreOffice.

    Each conversion runs ``soffice --headless`` with a profile of its own in a temporary
    folder (``-env:UserInstallation``): LibreOffice keeps one running instance per profile and
    a second conversion on a shared profile would hand its file to the first and exit without
    converting. The whole process group is killed after ``CONVERT_SECONDS``. ``Conflict``
    where LibreOffice is missing; ``ConversionFailed`` when it fails or takes too long."""
    command = libreoffice()
    if command is None:
        raise libreoffice_missing()
    with tempfile.TemporaryDirectory(prefix="meridian-soffice-") as folder:
        source = Path(folder) / "document.docx"
        source.write_bytes(docx)
        profile = (Path(folder) / "profile").as_uri()
        arguments = [
            command,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            folder,
            str(source),
        ]
        process = subprocess.Popen(
            arguments,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={"HOME": folder, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=CONVERT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise ConversionFailed(
                Text(
                    "LibreOffice did not finish converting the document within {seconds} s",
                    seconds=CONVERT_SECONDS,
                )
            ) from None
        converted = Path(folder) / "document.pdf"
        if process.returncode != 0 or not converted.exists():
            said = output.decode(errors="replace").strip()[-300:] or f"exit {process.returncode}"
            raise ConversionFailed(
                Text("LibreOffice could not convert the document: {reason}", reason=said)
            )
        return converted.read_bytes()


class ConversionFailed(Conflict):
    """LibreOffice failed on a document (or took too long); said on the document."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="conversion_failed")
