"""Laying out many documents at once: WeasyPrint in a pool of processes, one per core.

WeasyPrint lays a document out on one core (its text layout goes through Pango and
fontconfig, which are not safe across threads), and a 2-page quote takes a few hundred
milliseconds of it — a thousand quotes on one core miss any reasonable wait. A batch
therefore gathers its records and fills its templates in the parent (set-based reads, a
millisecond a document) and hands the HTML to worker processes in chunks; each worker lays out
a chunk and writes it as one PDF (painting once and subsetting the fonts once for the chunk:
writing a 2-page quote alone costs two thirds of its layout again), then cuts that into each
document's own PDF (``pdf.split_pdf``); a batch printed as one PDF keeps the whole chunk as its
part. The parent numbers, signs and stores.

Each worker is started fresh (``spawn``: the parent may run threads — a job worker's
heartbeat — which a ``fork`` could copy mid-lock), loads the template's page settings and the
workspace's images once, and keeps one font configuration and one image cache for the
batch's one template, so fonts are looked up and the seal decoded once per worker, not once
per document. Stylesheets are parsed once per process (``pdf._stylesheet``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from weasyprint.text.fonts import FontConfiguration

from meridian.documents.page import PageSettings
from meridian.documents.pdf import render_document, split_pdf, write_pdf


@dataclass(frozen=True)
class Pressed:
    """One chunk laid out: each document's PDF in order, and the chunk's pages as one PDF
    when asked for."""

    pdfs: list[bytes]
    part: bytes | None


def cores() -> int:
    """The cores this process may run on (a container's limit, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


class Press:
    """A pool of layout processes for one batch's template; :meth:`close` it after."""

    def __init__(
        self,
        page: PageSettings,
        assets: Mapping[str, tuple[bytes, str]],
        *,
        workers: int,
    ) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=max(1, workers),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(page, dict(assets)),
        )

    def submit(self, html: Sequence[str], *, own: bool, part: bool) -> Future[Pressed]:
        """Lay out ``html`` (one document each) in a worker: each document's own PDF
        (``own``) and the chunk's pages as one PDF (``part``)."""
        return self._pool.submit(_press, list(html), own, part)

    def close(self) -> None:
        """Stop the workers; chunks not started are dropped."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Worker:
    """What one worker process keeps for the whole batch."""

    page: PageSettings
    assets: dict[str, tuple[bytes, str]]
    fonts: FontConfiguration
    images: dict[str, Any]


_WORKER = _Worker()


def _start(page: PageSettings, assets: dict[str, tuple[bytes, str]]) -> None:
    _WORKER.page = page
    _WORKER.assets = assets
    _WORKER.fonts = FontConfiguration()
    _WORKER.images = {}


def _press(html: list[str], own: bool, part: bool) -> Pressed:
    laid_out = [
        render_document(
            one, _WORKER.page, _WORKER.assets, font_config=_WORKER.fonts, images=_WORKER.images
        )
        for one in html
    ]
    combined = write_pdf(laid_out)
    pdfs = split_pdf(combined, [len(d.pages) for d in laid_out]) if own else []
    return Pressed(pdfs, combined if part else None)
