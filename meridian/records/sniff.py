"""What a stored file's bytes are (its *kind*), read from magic numbers, never from its name.

The kinds are those of ``meridian.schema.values.filetypes``. Containers are looked into as far
as telling a program from a document needs: a ZIP's entry names (a Java or Android program, an
Office or OpenDocument file), an OLE2 file's root class (a Windows installer or an Office
document), an SVG's text (scripts or event handlers).
"""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

_HEAD = 8192
_SVG_SCAN = 2 * 1024 * 1024
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MSI_CLASSES = (b"\x84\x10\x0c\x00", b"\x86\x10\x0c\x00", b"\x82\x10\x0c\x00")
_MSI_CLASS_TAIL = b"\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
_PROGRAMS = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # a macOS universal program, or a Java class
)
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"Rar!\x1a\x07", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x1f\x8b", "gzip"),
    (b"{\\rtf", "rtf"),
    (b"ID3", "mp3"),
)
_PAGE = re.compile(rb"^\s*<(!doctype\s+html|html|head|body|script|iframe|meta|title)[\s>]", re.I)
_SVG = re.compile(rb"<svg[\s>]", re.I)
_ACTIVE = re.compile(
    rb"<script|<foreignobject|<iframe|<embed|<object|<handler|\son[a-z]+\s*=|javascript:|"
    rb"data:text/html|<!entity",
    re.I,
)


def sniff(path: Path) -> str:
    """The kind of the file at ``path`` (``binary`` or ``text`` when nothing more is known)."""
    with path.open("rb") as file:
        head = file.read(_HEAD)
    if head.startswith(_PROGRAMS):
        return "executable"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(path)
    if head.startswith(_OLE):
        return _ole_kind(path, head)
    if b"%PDF-" in head[:1024]:
        return "pdf"
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE"):
        return "webp" if head[8:12] == b"WEBP" else "wav"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:2] == b"BM" and len(head) > 26 and b"\x00" in head[6:10]:
        return "bmp"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"
    return _text_kind(path, head)


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "binary"
    if "AndroidManifest.xml" in names or "classes.dex" in names:
        return "apk"
    if "META-INF/MANIFEST.MF" in names or any(name.endswith(".class") for name in names):
        return "jar"
    for prefix, kind in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
        if "[Content_Types].xml" in names and any(name.startswith(prefix) for name in names):
            return kind
    if "mimetype" in names and "content.xml" in names:
        return "odf"
    return "zip"


def _ole_kind(path: Path, head: bytes) -> str:
    """An OLE2 compound file is an Office document unless its root storage's class says it
    is a Windows installer (or an installer's patch or transform)."""
    if len(head) < 64:
        return "binary"
    shift = struct.unpack_from("<H", head, 30)[0]
    first_directory = struct.unpack_from("<I", head, 48)[0]
    if not 7 <= shift <= 16:
        return "binary"
    with path.open("rb") as file:
        file.seek((first_directory + 1) << shift)
        root = file.read(128)
    if len(root) < 96:
        return "binary"
    clsid = root[80:96]
    if clsid[:4] in _MSI_CLASSES and clsid[4:] == _MSI_CLASS_TAIL:
        return "msi"
    return "ole"


def _text_kind(path: Path, head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"  # UTF-16, as spreadsheets export "Unicode text"
    if b"\x00" in head or not _decodes(head):
        return "binary"
    body = head.removeprefix(b"\xef\xbb\xbf")
    if body.startswith(b"#!"):
        return "script"
    if _PAGE.match(body):
        return "html"
    if _SVG.search(body):
        with path.open("rb") as file:
            text = file.read(_SVG_SCAN)
        return "svg_script" if _ACTIVE.search(text) else "svg"
    if body.lstrip().startswith(b"<?xml"):
        return "xml"
    return "text"


def _decodes(head: bytes) -> bool:
    """UTF-8 or GB 18030 text (the read may have cut the last character short)."""
    for encoding in ("utf-8", "gb18030"):
        for cut in range(4):
            try:
                head[: len(head) - cut].decode(encoding)
            except UnicodeDecodeError:
                continue
            return True
    return False
