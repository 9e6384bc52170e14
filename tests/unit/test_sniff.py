"""Files are known by their bytes: programs and scripts under harmless names are caught."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from meridian.records.sniff import sniff
from meridian.schema.values.filetypes import file_problem

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
WINDOWS_PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120 + b"PE\x00\x00"


def _zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return buffer.getvalue()


def _ole(root_class: bytes) -> bytes:
    """A compound file whose first directory sector (sector 0) holds the root entry."""
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<H", header, 30, 9)
    struct.pack_into("<I", header, 48, 0)
    directory = bytearray(512)
    directory[:10] = "Root Entry".encode("utf-16-le")
    directory[80:96] = root_class
    return bytes(header + directory)


MSI_CLASS = b"\x84\x10\x0c\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
WORD_CLASS = b"\x06\x09\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "pdf"),
        (PNG, "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (WINDOWS_PROGRAM, "executable"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 40, "executable"),
        (b"\xcf\xfa\xed\xfe" + b"\x00" * 40, "executable"),
        (_zip("META-INF/MANIFEST.MF", "app/Main.class"), "jar"),
        (_zip("AndroidManifest.xml", "classes.dex"), "apk"),
        (_zip("[Content_Types].xml", "word/document.xml"), "docx"),
        (_zip("[Content_Types].xml", "xl/workbook.xml"), "xlsx"),
        (_zip("报价单.txt"), "zip"),
        (_ole(MSI_CLASS), "msi"),
        (_ole(WORD_CLASS), "ole"),
        (b"#!/bin/sh\nrm -rf /\n", "script"),
        (b"  <!DOCTYPE html><html><script>alert(1)</script>", "html"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', "svg"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "svg_script"),
        (b'<?xml version="1.0"?><svg><script>x()</script></svg>', "svg_script"),
        (b'<?xml version="1.0"?><order id="HT-2026-0001"/>', "xml"),
        ("客户,金额\n华为云,100\n".encode(), "text"),
        ("客户,金额\n华为云,100\n".encode("gb18030"), "text"),
        (b"\x00\x01\x02\x03\xfe", "binary"),
    ],
)
def test_kinds_come_from_the_bytes(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "upload"
    path.write_bytes(content)
    assert sniff(path) == kind


def _problem(name: str, kind: str | None, **rules: object) -> str | None:
    accept = rules.get("accept", ())
    max_size = rules.get("max_size")
    assert isinstance(accept, tuple)
    assert max_size is None or isinstance(max_size, int)
    found = file_problem(
        accept=accept, max_size=max_size, name=name, kind=kind, size=int(str(rules.get("size", 10)))
    )
    return None if found is None else found[0]


def test_by_default_everything_but_programs_and_scripts_is_taken() -> None:
    assert _problem("合同.pdf", "pdf") is None
    assert _problem("图纸.dwg", "binary") is None
    assert _problem("setup.exe", "executable") == "file_type_refused"
    assert _problem("deploy.ps1", "text") == "file_type_refused"
    assert _problem("page.HTML", "html") == "file_type_refused"
    assert _problem("invoice.pdf", "executable") == "file_content_refused"  # renamed program
    assert _problem("invoice.pdf", "text") == "file_content_refused"
    assert _problem("notes", "script") == "file_content_refused"
    assert _problem("logo.svg", "svg") is None
    assert _problem("logo.svg", "svg_script") == "file_content_refused"
    assert _problem("old-scan.pdf", None) is None  # stored before sniffing: name and size only


def test_a_field_names_what_it_takes_and_how_big() -> None:
    rules = {"accept": (".pdf", ".png"), "max_size": 1000}
    assert _problem("合同.pdf", "pdf", **rules) is None
    assert _problem("合同.PDF", "pdf", **rules) is None
    assert _problem("报价.xlsx", "xlsx", **rules) == "file_type_refused"
    assert _problem("合同.pdf", "png", **rules) == "file_content_refused"
    assert _problem("合同.pdf", "pdf", size=1001, **rules) == "file_too_large"
    tools = {"accept": (".exe",)}
    assert _problem("agent.exe", "executable", **tools) is None  # named, so taken
    assert _problem("agent.exe", "msi", **tools) == "file_content_refused"
