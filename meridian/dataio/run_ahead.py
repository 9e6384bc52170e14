"""Reading and converting the next batches of an import in a second process while this one
writes.

Converting a batch (cleansing, reading and checking each cell: :meth:`BatchConverter.
convert_cells`) needs no database and is half of an import's CPU; the other half — looking up
references, deduplication and the write — needs the connection. With a core to spare the
run converts ahead in a forked child: the child reads the file from where the run goes on,
converts up to :data:`AHEAD` batches ahead of the writer and hands them over pickled through a
queue; the parent looks up their references and writes them as before. What the child does
changes nothing anywhere (it never touches the database), so a crash of either side loses no
row: the parent's batches stay atomic and resumable; when the parent dies (SIGKILL too) the
child sees it has been orphaned and ends within a second; when the child dies the parent
stops with an error and the import is resumed as after any crash.

Fork only: the child inherits the converter (form, mapping, option matchers) as it is. The
CLI's run uses it; a job inside ``meridian serve`` (a thread of a server) converts in its own
thread, as the dry run and the preview do.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import threading
import time
import traceback
from collections.abc import Generator
from multiprocessing.context import ForkProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from meridian.dataio.reading import read_sheet
from meridian.dataio.resolving import Reference
from meridian.dataio.run_rows import BatchConverter, BatchRow, Converted

AHEAD = 2
"""Batches the child may hold converted before the writer takes them (bounds the memory)."""
_WAIT = 1.0
"""Seconds between checks that the other side still lives."""


def converted_batches(
    converter: BatchConverter,
    path: Path,
    sheet: str | None,
    header_row: int | None,
    skip: int,
    batch_rows: int,
) -> Generator[Converted, None, None]:
    """The file's batches after the first ``skip`` data rows, converted in a child process
    (``batch_rows`` rows each, the last one shorter). Closing the iterator ends the child."""
    context = multiprocessing.get_context("fork")
    handed: Queue[tuple[str, Any]] = context.Queue(maxsize=AHEAD)
    child = context.Process(
        target=_convert_ahead,
        args=(converter, path, sheet, header_row, skip, batch_rows, handed, os.getpid()),
        daemon=True,
        name="meridian-import-convert",
    )
    child.start()
    try:
        while True:
            kind, payload = _take(handed, child)
            if kind == "end":
                return
            if kind == "error":
                raise RuntimeError(f"converting the import's rows failed:\n{payload}")
            yield _unpacked(payload)
    finally:
        child.kill()
        child.join()
        handed.close()


def _take(handed: Queue[tuple[str, Any]], child: ForkProcess) -> tuple[str, Any]:
    while True:
        try:
            return handed.get(timeout=_WAIT)
        except queue.Empty:
            if not child.is_alive():
                raise RuntimeError(
                    f"the process converting the import's rows ended ({child.exitcode})"
                ) from None


def _convert_ahead(
    converter: BatchConverter,
    path: Path,
    sheet: str | None,
    header_row: int | None,
    skip: int,
    batch_rows: int,
    handed: Queue[tuple[str, Any]],
    parent: int,
) -> None:
    """The child: read, convert, hand over (waiting while :data:`AHEAD` batches wait); a
    watchdog ends it at once when it is orphaned (the writer gone), whatever it waits for."""
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    try:
        rows = itertools.islice(read_sheet(path, sheet, header_row).rows, skip, None)
        while chunk := list(itertools.islice(rows, batch_rows)):
            handed.put(("batch", _packed(converter.convert_cells(chunk))))
        handed.put(("end", None))
    except BaseException:  # the writer reports it and stops
        handed.put(("error", traceback.format_exc()))


Packed = tuple[list[tuple[Any, ...]], list[int], list[Reference]]


def _packed(converted: Converted) -> Packed:
    """A converted batch as plain tuples, lists and dicts, which pickle several times faster
    than the dataclasses; the source cells stay behind (the write path does not read them)."""
    index = {id(row): position for position, row in enumerate(converted.rows)}
    rows = [(row.number, row.values, row.stored, row.refusals) for row in converted.rows]
    return rows, [index[id(row)] for row in converted.owners], converted.references


def _unpacked(packed: Packed) -> Converted:
    rows = [
        BatchRow(number, (), values, refusals, stored)
        for number, values, stored, refusals in packed[0]
    ]
    return Converted(rows, [rows[i] for i in packed[1]], packed[2])


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WAIT)
    os._exit(0)
