"""Which files an attachment field accepts: by name, by sniffed content, by size.

A file's *kind* is what its bytes are (``meridian.records.sniff`` reads them), never what its
name or the uploading browser claims. A field lists the extensions it accepts (``accept``)
and a ``max_size``; with no list it takes anything but programs and scripts. A named
extension must agree with the content, so ``invoice.pdf`` holding a Windows program is
refused for what it is. Nothing here does IO: the upload and every record write both call
:func:`file_problem` with what the store recorded.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from meridian.core.i18n import N_, Text

MIME_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "svg": "image/svg+xml",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odf": "application/octet-stream",
    "ole": "application/octet-stream",
    "zip": "application/zip",
    "rar": "application/vnd.rar",
    "7z": "application/x-7z-compressed",
    "gzip": "application/gzip",
    "rtf": "application/rtf",
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
    "wav": "audio/wav",
    "text": "text/plain; charset=utf-8",
    "xml": "text/plain; charset=utf-8",
    "binary": "application/octet-stream",
}
"""What a file is served as, by kind: never ``text/html`` and never a script type, so a
stored file cannot run in the workspace's pages. Dangerous kinds go out as octet streams."""

DANGEROUS_KINDS: dict[str, str] = {
    "executable": N_("a program"),
    "jar": N_("a Java program"),
    "apk": N_("an Android app"),
    "msi": N_("a Windows installer"),
    "script": N_("a script"),
    "html": N_("a web page"),
    "svg_script": N_("an SVG image with scripts"),
}
"""Kinds refused unless a field names their extension in ``accept``."""

DANGEROUS_EXTENSIONS = frozenset(
    "." + ext
    for ext in """exe dll com scr pif cpl sys drv ocx msi msp mst msc bat cmd sh bash zsh csh
    ksh ps1 psm1 psd1 js mjs cjs jse vbs vbe vb wsf wsh wsc ws hta jar apk app dmg pkg deb rpm
    run html htm xhtml shtml mht mhtml svgz php phtml py pyc pl rb jsp asp aspx cgi lnk reg inf
    scf url gadget application chm docm xlsm pptm xll""".split()
)
"""Programs, scripts, installers, pages and macro documents: refused by default."""

_EXPECTED: dict[str, frozenset[str]] = {
    "." + ext: frozenset(kinds.split())
    for exts, kinds in [
        ("pdf", "pdf"),
        ("png", "png"),
        ("jpg jpeg jfif", "jpeg"),
        ("gif", "gif"),
        ("webp", "webp"),
        ("bmp", "bmp"),
        ("tif tiff", "tiff"),
        ("svg", "svg svg_script"),
        ("docx", "docx"),
        ("xlsx", "xlsx"),
        ("pptx", "pptx"),
        ("odt ods odp", "odf"),
        ("doc xls ppt msg", "ole"),
        ("zip", "zip docx xlsx pptx odf"),
        ("rar", "rar"),
        ("7z", "7z"),
        ("gz tgz", "gzip"),
        ("rtf", "rtf"),
        ("mp3", "mp3"),
        ("mp4 m4a mov", "mp4"),
        ("wav", "wav"),
        ("txt csv tsv md log json yaml yml eml ini", "text"),
        ("xml", "xml text"),
        ("exe dll scr com sys ocx cpl", "executable"),
        ("jar", "jar zip"),
        ("apk", "apk zip"),
        ("msi msp mst", "msi"),
        ("sh bash py pl rb", "script text"),
        ("html htm xhtml", "html text xml"),
    ]
    for ext in exts.split()
}
"""Extension → the kinds its content may be; an extension not listed may hold any kind
that is not dangerous."""

_KIND_NAMES: dict[str, str] = {
    "binary": N_("binary data"),
    "text": N_("plain text"),
    **DANGEROUS_KINDS,
}

_EXTENSION = re.compile(r"^\.[a-z0-9]{1,10}$")
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def is_token(value: object) -> bool:
    """Whether ``value`` has a file token's shape (32 lower-case hex digits)."""
    return isinstance(value, str) and bool(_TOKEN.match(value))


def unknown_file(value: object) -> Text:
    """The one answer for a file that does not exist *and* for one the actor may not use,
    so a refusal never tells whether an id names a file."""
    return Text("file {token} does not exist", token=str(value)[:40])


def extension_of(name: str) -> str:
    """The name's last extension, lower case and with its dot (``""`` when it has none)."""
    suffix = PurePosixPath(name.strip().rstrip(". ")).suffix.lower()
    return suffix if _EXTENSION.match(suffix) else ""


def normalise_accept(accept: tuple[str, ...]) -> tuple[tuple[str, ...], list[Text]]:
    """A field's ``accept`` list as stored (``.pdf`` lower case, each once) and its problems."""
    cleaned: dict[str, None] = {}
    problems = []
    for item in accept:
        ext = "." + item.strip().lower().lstrip(".")
        if not _EXTENSION.match(ext):
            problems.append(Text("{item!r} is not a file extension such as .pdf", item=item[:20]))
        cleaned[ext] = None
    return tuple(cleaned), problems


def file_problem(
    *, accept: tuple[str, ...], max_size: int | None, name: str, kind: str | None, size: int
) -> tuple[str, Text] | None:
    """Why a field refuses this file, as ``(code, message)``; None if it takes it.

    ``kind`` is None for files stored before content was sniffed: only their name and size
    are checked.
    """
    if max_size is not None and size > max_size:
        return (
            "file_too_large",
            Text(
                "the file has {size} bytes; at most {max_size} are accepted here",
                size=size,
                max_size=max_size,
            ),
        )
    ext = extension_of(name)
    shown = ext or Text("(none)")
    if accept and ext not in accept:
        listed = " ".join(accept)
        return (
            "file_type_refused",
            Text(
                "files of type {shown} are not accepted here; accepted: {listed}",
                shown=shown,
                listed=listed,
            ),
        )
    if not accept and ext in DANGEROUS_EXTENSIONS:
        return (
            "file_type_refused",
            Text("programs and scripts ({shown}) are not accepted here", shown=shown),
        )
    if kind is None:
        return None
    expected = _EXPECTED.get(ext)
    named = bool(accept) and ext in accept
    if kind in DANGEROUS_KINDS and not (named and expected is not None and kind in expected):
        return _mismatch(kind, shown)
    if expected is not None and kind not in expected:
        return _mismatch(kind, shown)
    return None


def _mismatch(kind: str, shown: str) -> tuple[str, Text]:
    return (
        "file_content_refused",
        Text(
            "the content is {kind}, not a {shown} file",
            kind=Text(_KIND_NAMES.get(kind, kind)),
            shown=shown,
        ),
    )


def served_type(kind: str | None) -> str:
    """The content type a stored file is sent with (see ``MIME_TYPES``)."""
    return MIME_TYPES.get(kind or "binary", "application/octet-stream")
