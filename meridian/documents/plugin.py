"""Documents as a plugin: the jobs that render a batch of documents and that turn a Word
document into PDF."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from meridian.documents import batch_run, batches, word_pdf
from meridian.jobs.queue import Handler
from meridian.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from meridian.http.deps import Workspace


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    return {
        batches.RUN: batch_run.batch_runner(meridian.settings),
        word_pdf.RUN: word_pdf.pdf_converter(meridian.settings),
    }
