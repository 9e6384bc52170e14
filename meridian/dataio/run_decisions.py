"""What an import asks of deduplication, once per batch: for each row ready to be written, is
it new, or a duplicate of a record that exists (or that an earlier row of the file made)?

The run hands each batch's convertible rows (their values already resolved to ids) to a
:class:`DuplicateFinder` and writes what it decides: ``create`` a record, ``update`` the record
it names with the values given (the row's own when none), ``merge`` into it (the finder gives
the values to write — typically the row's values for the existing record's blank fields), or
``skip`` the row (it is reported as rejected, code ``duplicate_skipped``, naming the record).

``--on-duplicate keep`` (the default) keeps every row (:class:`KeepAll`). The caller that starts
a run (the CLI, the wizard's route) builds the finder for ``merge`` or ``skip`` from
deduplication's engine and passes it in; the run itself knows only this protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

from sqlalchemy.engine import Connection

from meridian.core.i18n import Text

ON_DUPLICATE = ("keep", "merge", "skip")
Action = Literal["create", "update", "merge", "skip"]


class PendingRow(NamedTuple):
    """A row of the file about to be written: its row number in the sheet and the record's
    API values (links and owner as ids). A named tuple: a batch makes one per row, and a
    frozen dataclass costs several times as much to make."""

    number: int
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Decision:
    """What to do with one row.

    :ivar action: ``create``, ``update``, ``merge`` or ``skip``.
    :ivar record_id: the existing record an update, merge or skip is about.
    :ivar into_row: instead of ``record_id``: merge into the record an earlier row of the
        same batch creates (the row's values fill that record's blank fields); when that row
        is not created after all, this one is created instead.
    :ivar values: what to write to it on update or merge (None: the row's values).
    :ivar reason: why, for the report (e.g. "same 统一社会信用代码 as record 12").
    """

    action: Action = "create"
    record_id: int | None = None
    values: Mapping[str, Any] | None = None
    reason: Text | None = None
    into_row: int | None = None


class DuplicateFinder(Protocol):
    """Deduplication's side of the import: one decision per row, in the batch's order."""

    def find_duplicates(
        self, conn: Connection, batch: Sequence[PendingRow]
    ) -> Sequence[Decision]: ...


class KeepAll:
    """Every row is new (``--on-duplicate keep``)."""

    def find_duplicates(self, conn: Connection, batch: Sequence[PendingRow]) -> Sequence[Decision]:
        return [_CREATE] * len(batch)


_CREATE = Decision()
"""Every new row's decision: one object, since a decision is never changed."""
