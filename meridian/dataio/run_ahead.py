"""Reading and converting the next batch of an import in a second process while this one
writes.

Converting a batch (reading the file, cleansing, reading and checking each cell:
:meth:`BatchConverter.convert_cells`) needs no database — a fifth to a quarter of a run's CPU;
looking up references, deduplication and the write need the connection. With a core to spare
the run converts ahead in a forked child: the child reads the file from where the run goes
on, converts the next batch while the writer writes and hands it over pickled through a pipe
(whose buffer, made to hold a whole batch, bounds how far ahead it gets); the parent looks up
its references and writes it as before. The child changes nothing anywhere (it never touches
the database), so a crash of either side loses no row: the parent's batches stay atomic and
resumable; when the parent dies (SIGKILL too) the child sees it is orphaned and ends within a
second; when the child dies the parent stops with an error and the import is resumed as after
any crash.

A plain ``os.fork`` (``multiprocessing`` refuses children to a daemonic process): the child
inherits the converter (form, mapping, option matchers) as it is and leaves by ``os._exit``,
never running the parent's exit handlers or touching its connections. The CLI's run uses it;
a job inside ``meridian serve`` (a thread of a server), the dry run and the preview convert
in their own thread.
"""

from __future__ import annotations

import fcntl
import gc
import os
import pickle
import signal
import struct
import threading
import time
import traceback
from collections.abc import Generator
from typing import Any, BinaryIO

from meridian.dataio.resolving import Reference
from meridian.dataio.run_rows import BatchRow, Converted, ImportRun
from meridian.records.writing import Derived

_WAIT = 1.0
"""Seconds between the orphaned child's checks that its writer still lives."""
_SIZE = struct.Struct("<Q")
_PIPE_BYTES = 1 << 20
"""The pipe's buffer. A batch of 1,000 rows pickles to about 550 KB; in Linux's default 64 KB
the child's hand-over blocked until the writer had taken all but the last 64 KB, so the child
was never more than the batch it converted ahead, and the writer took each batch in 64 KB
turns with it. Holding a whole batch, the child hands it over at once and converts the next.
A user may ask for up to 1 MB (``/proc/sys/fs/pipe-max-size``); where the system refuses, the
default stays."""

YOUNG_OBJECTS = 10_000
"""Objects the collector lets the youngest generation grow by (Python's default: 700) while
both processes of a run import. A batch makes and drops tens of thousands of dicts, tuples
and rows, nearly all freed as soon as they are done with, yet with the default a collection
ran every few hundred of them, walking the batch in hand again and again and moving it into
the older generations to be walked there: measured with ``gc.callbacks`` at 100,000 rows,
1.03 s of the writing process's 9.7 s CPU went to collections, 0.14 s with this (the writing
thread 8.9 → 8.1 s on a core, the converting process 6.0 → 5.4 s; peak RSS the same). Cycles
(a connection's, an error's) are still collected, after more allocations."""


def converted_batches(run: ImportRun) -> Generator[Converted, None, None]:
    """The run's batches (:meth:`ImportRun.chunks`) converted in a child process, with each
    row's search text and name keys. Closing the generator ends the child."""
    read_end, write_end = pipe()
    parent = os.getpid()
    # What both processes hold from here on (code, the form, the mapping, the converter's
    # memos) is set beyond the collector's reach, as the gc module advises before a fork: no
    # full collection walks it again in either process, nor copies the child's pages by
    # touching it (about a sixth of each process's CPU in a long import). Both collect
    # their young objects less often (YOUNG_OBJECTS) until the run ends.
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, *thresholds[1:])
    child = os.fork()
    if child == 0:  # pragma: no cover - the child; its work is seen through the parent
        os.close(read_end)
        code = 0
        try:
            with os.fdopen(write_end, "wb") as out:
                _convert_ahead(run, out, parent)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as handed:
            while True:
                kind, payload = take(handed)
                if kind == "end":
                    return
                if kind == "error":
                    raise RuntimeError(f"converting the import's rows failed:\n{payload}")
                yield unpacked(payload)
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(child, 0)
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def pipe() -> tuple[int, int]:
    """A pipe (read end, write end) whose buffer holds a whole converted batch where the
    system allows it."""
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (AttributeError, OSError):  # not Linux, or over the limit: the default buffer
        pass
    return read_end, write_end


def take(handed: BinaryIO) -> tuple[str, Any]:
    """The next item the child handed over: ("batch", a packed batch), ("end", None) or
    ("error", the child's traceback)."""
    head = handed.read(_SIZE.size)
    if len(head) < _SIZE.size:
        raise RuntimeError("the process converting the import's rows ended before the file did")
    (size,) = _SIZE.unpack(head)
    item: tuple[str, Any] = pickle.loads(handed.read(size))
    return item


def _hand(out: BinaryIO, item: tuple[str, Any]) -> None:
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_SIZE.pack(len(data)))
    out.write(data)
    out.flush()


def hand_batch(out: BinaryIO, converted: Converted) -> None:
    """Hand a converted batch over (:func:`take` and :func:`unpacked` read it back)."""
    _hand(out, ("batch", _packed(converted)))


def _convert_ahead(run: ImportRun, out: BinaryIO, parent: int) -> None:
    """The child: read, convert, hand over (a write blocks while the pipe is full); a
    watchdog ends it at once when it is orphaned (the writer gone), whatever it waits for."""
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    try:
        for chunk in run.chunks():
            hand_batch(out, run.converter.convert_cells(chunk, derive=True))
        _hand(out, ("end", None))
    except BaseException:  # the writer reports it and stops
        _hand(out, ("error", traceback.format_exc()))


Packed = tuple[list[tuple[Any, ...]], list[int], list[Reference]]


def _packed(converted: Converted) -> Packed:
    """A converted batch as plain tuples, lists and dicts, which pickle several times faster
    than the dataclasses; the source cells stay behind (the write path does not read them)."""
    index = {id(row): position for position, row in enumerate(converted.rows)}
    rows = [
        (
            row.number,
            row.values,
            row.stored,
            row.refusals,
            None
            if row.derived is None
            else (row.derived.source, row.derived.search, row.derived.name_keys),
        )
        for row in converted.rows
    ]
    return rows, [index[id(row)] for row in converted.owners], converted.references


def unpacked(packed: Packed) -> Converted:
    rows = [
        BatchRow(
            number,
            (),
            values,
            refusals,
            stored,
            None if derived is None else Derived(*derived),
        )
        for number, values, stored, refusals, derived in packed[0]
    ]
    return Converted(rows, [rows[i] for i in packed[1]], packed[2])


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WAIT)
    os._exit(0)
