"""HTML to PDF with WeasyPrint: page size, margins, header and footer with page numbers.

The renderer fetches nothing from the network or the disk: images come from the workspace's
document assets (``meridian-asset:logo``, ``meridian-asset:seal``) or ``data:`` URLs, and any
other address a template names is refused, so a template cannot read a local file or probe the
network through an ``<img>``.

Importing this module imports WeasyPrint and pypdf (about half a second of CPU): the modules
that lay out or join PDFs import it where they do, holding ``core.late_imports.IMPORTING``;
what a template's page is (``page``) needs neither.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

from pypdf import PdfReader, PdfWriter
from weasyprint import CSS, HTML, Document
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from meridian.core.i18n import Text
from meridian.documents.page import ASSET_SCHEME, FONTS, PageSettings

_RENDERING = threading.Lock()
"""WeasyPrint's text layout goes through Pango and fontconfig, which are not safe to use from
several threads at once; documents are rendered one at a time per process."""


BASE_CSS = f"""
html {{ font-family: {FONTS}; font-size: 10.5pt; line-height: 1.5; color: #111; }}
h1 {{ font-size: 18pt; margin: 0 0 4mm; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 0.5pt solid #999; padding: 1.5mm 2mm; text-align: left; vertical-align: top; }}
thead {{ display: table-header-group; }}
tr {{ break-inside: avoid; }}
.num {{ text-align: right; white-space: nowrap; }}
img.seal {{ width: 42mm; height: 42mm; }}
img.logo {{ height: 14mm; }}
"""


class _AssetFetcher(URLFetcher):  # type: ignore[misc]
    """Serves the workspace's assets and ``data:`` URLs, and refuses every other address."""

    def __init__(self, assets: Mapping[str, tuple[bytes, str]]) -> None:
        super().__init__(allowed_protocols={"data"})
        self._assets = assets

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if url.startswith(ASSET_SCHEME):
            found = self._assets.get(url[len(ASSET_SCHEME) :])
            if found is None:
                raise ValueError(Text("no document asset {url!r}", url=url))
            return URLFetcherResponse(url, found[0], {"Content-Type": found[1]})
        if url.startswith("data:"):
            response: URLFetcherResponse = super().fetch(url, headers)
            return response
        raise ValueError(
            Text("documents load images only from the workspace's assets, not {url!r}", url=url)
        )


@functools.lru_cache(maxsize=64)
def _stylesheet(text: str) -> CSS:
    """Parsed once: a stylesheet is only read while laying out, never changed."""
    return CSS(string=text)


def render_document(
    html: str,
    page: PageSettings,
    assets: Mapping[str, tuple[bytes, str]],
    *,
    font_config: FontConfiguration | None = None,
    images: dict[str, Any] | None = None,
) -> Document:
    """Lay out the pages; ``assets`` maps names to (bytes, media type).

    A batch renders many documents of one template in one process: it passes one
    ``font_config`` (the template's ``@font-face`` rules loaded once) and one ``images``
    cache (the seal and the logo decoded once). A lone document gets fresh ones, so one
    template's fonts or an image replaced since never reach another document."""
    with _RENDERING:
        return HTML(string=html, url_fetcher=_AssetFetcher(assets), base_url=ASSET_SCHEME).render(
            stylesheets=[_stylesheet(BASE_CSS), _stylesheet(page.css())],
            font_config=font_config or FontConfiguration(),
            cache=images,
        )


def write_pdf(documents: Sequence[Document]) -> bytes:
    """One PDF of the pages of every document, in order."""
    with _RENDERING:
        first, *rest = documents
        combined = first.copy([page for document in documents for page in document.pages])
        pdf: bytes = combined.write_pdf() if rest else first.write_pdf()
    return pdf


def join_pdfs(parts: Sequence[bytes], out: BinaryIO) -> None:
    """One PDF of several, pages in order (parts written by :func:`write_pdf`), into ``out``."""
    if len(parts) == 1:
        out.write(parts[0])
        return
    joined = PdfWriter()
    for part in parts:
        joined.append(PdfReader(io.BytesIO(part)))
    joined.write(out)


def split_pdf(combined: bytes, page_counts: Sequence[int]) -> list[bytes]:
    """``combined`` cut into one PDF per document, ``page_counts`` pages each in order.

    A batch writes a chunk of documents as one PDF and cuts it: WeasyPrint's writing (painting
    and subsetting the CJK fonts) costs more than the layout's half again per document, cutting
    a few milliseconds. Each cut keeps the chunk's font subsets, so it prints exactly as the
    whole does."""
    reader = PdfReader(io.BytesIO(combined))
    out: list[bytes] = []
    start = 0
    for count in page_counts:
        writer = PdfWriter()
        for number in range(start, start + count):
            writer.add_page(reader.pages[number])
        if reader.metadata:
            writer.add_metadata(dict(reader.metadata))
        piece = io.BytesIO()
        writer.write(piece)
        out.append(piece.getvalue())
        start += count
    return out
