"""Documents as a plugin: the jobs that render a batch of documents and that turn a Word
document into PDF.

The batch handler imports the press (``batch_run``: WeasyPrint, pyHanko, pypdf) when a batch
first runs, not when the handlers are registered: every ``meridian worker`` registers them at
start, and those imports are most of its start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from meridian.core.late_imports import IMPORTING
from meridian.documents import word_pdf
from meridian.jobs.queue import Handler, JobContext
from meridian.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from meridian.http.deps import Workspace

BATCH = "documents.batch"
"""The batch job's name (``documents.batches.RUN``, which imports WeasyPrint to join PDFs)."""


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    settings = meridian.settings

    def run_batch(context: JobContext) -> None:
        with IMPORTING:  # a request may be importing WeasyPrint too (core/late_imports)
            from meridian.documents import batch_run

        batch_run.batch_runner(settings)(context)

    return {BATCH: run_batch, word_pdf.RUN: word_pdf.pdf_converter(settings)}
