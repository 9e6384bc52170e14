"""Write guards: checks other engines hold over every record write before its rows are written.

A lifecycle stage refuses a move whose gate criteria are unmet; an approval locks a record while
it is being approved. Neither belongs in ``records``, yet both must hold on *every* path that
writes a record — the record page, the kanban, the API, bulk edit, rule actions, imports. So
the one write path asks the guards registered through the ``register_write_guards`` hook, with
the whole batch at once (one call per batch, never per row, so a guard can answer with a few
set-based queries), after every value is parsed and every formula computed and before any row
is written. A guard answers with its refusals; the writer raises one :class:`WriteRefused`
(422) that lists every refusal of every guard, and writes nothing. Deletes ask too (the trash:
one record or a bulk selection, from the page, the grid or the API), as one ``delete`` batch
whose writes carry the stored row as both ``old`` and ``new`` and change nothing, so a guard
that only cares about changed values lets them pass and the approval lock refuses them.

What the caller says besides the values travels in :class:`WriteIntent`: why (a stage moved
back asks for a reason) and, for a permitted role, the reason to override a refusing guard.
A guard that lets an override through notes it in :attr:`WriteIntent.overridden`; the same
intent reaches the subscribers (``Changes.intent``), so what a guard allowed can be recorded
in the same transaction.

A guard that needs something about each record (the approval lock: whether it is in approval)
may also register a :class:`RowFact` (``register_row_facts``): when the writer reads the
record's row anyway — an update or a trash/restore of one record — it reads the fact in the
same statement and hands it to the guard in :attr:`ProposedWrite.facts`, so the guard asks the
database nothing of its own; a write that reads no row (a batch) leaves ``facts`` empty, and
the guard reads what it needs itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.errors import FieldError, ValidationFailed
from meridian.plugins.manager import plugins_of
from meridian.schema.model import Form

NEW_RECORD = 0
"""The id one new record goes by until its INSERT gives it one: no record has it."""


@dataclass
class WriteIntent:
    """What a write's caller says besides the values.

    :ivar reason: why the change is made (a stage moved back asks for one).
    :ivar override: the reason given to override refusing guards; a guard decides whether the
        actor may, and refuses as usual when not.
    :ivar overridden: filled by guards: for each guard code, the refusals the override let
        through (so a subscriber can record and audit them).
    :ivar memo: what a guard read that its engine's subscriber needs again in the same write
        (the stage gate leaves the form's pipelines), so it is not read twice.
    """

    reason: str | None = None
    override: str | None = None
    overridden: dict[str, list[Refusal]] = dataclasses.field(default_factory=dict)
    memo: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class ProposedWrite:
    """One record as the batch would leave it.

    :ivar record_id: the record's id: for new records of a batch the ids reserved for them,
        for one new record ``0`` (:data:`NEW_RECORD`: its INSERT gives it its id).
    :ivar prefix: how errors name this item (``items.3.`` in a bulk create, ``""`` otherwise).
    :ivar old: the stored columns before the write; None for a new record.
    :ivar new: every column as the write would store it (old values merged with the changes,
        formulas computed).
    :ivar changed: the keys the write changes (every given key for a new record).
    :ivar facts: the row facts (:class:`RowFact`) read with the stored row, by name; a fact
        not here was not read, and its guard reads it itself.
    """

    record_id: int
    prefix: str
    old: Mapping[Any, Any] | None
    new: Mapping[Any, Any]
    changed: frozenset[str]
    facts: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class WriteBatch:
    """Everything one write call is about to store, for the guards to judge at once."""

    form: Form
    actor: Actor
    operation: Literal["create", "update", "delete"]
    writes: Sequence[ProposedWrite]
    intent: WriteIntent


@dataclass(frozen=True)
class Refusal:
    """One unmet condition for one record.

    :ivar code: the guard's code; the problem takes the first refusal's (``stage_gate``,
        ``in_approval``).
    :ivar record_id: the record refused (``0``: the one new record of its write, which has
        no id yet; the problem names it by its field path alone).
    :ivar prefix: the item's error prefix (see :class:`ProposedWrite`).
    :ivar field: the field the condition is about (the stage field, a required field).
    :ivar criterion: which condition, stably named (``required_field``, ``checklist``…).
    :ivar message: the sentence, a :class:`~meridian.core.i18n.Text` each reader sees in their
        own language.
    :ivar detail: more for the client (both languages, the criterion's settings).
    """

    code: str
    record_id: int
    prefix: str
    field: str
    criterion: str
    message: str
    detail: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def as_field_error(self) -> FieldError:
        detail = {**self.detail, "guard": self.code}
        if self.record_id:
            detail["record_id"] = self.record_id
        return FieldError(f"{self.prefix}{self.field}", self.criterion, self.message, None, detail)


WriteGuard = Callable[[Connection, WriteBatch], Sequence[Refusal]]
"""Judges one batch before it is written; returns every refusal (empty: the batch may go)."""


@dataclass(frozen=True)
class RowFact:
    """What a guard needs about a record, read with its row when the writer reads the row.

    :ivar name: unique among the facts; the guard finds the value under it in
        :attr:`ProposedWrite.facts`.
    :ivar column: for a form and its main table, a scalar SQL expression correlated to the
        table's row (a subquery on the guard's own tables), or None when the form has nothing
        to read.
    """

    name: str
    column: Callable[[Form, sa.Table], ColumnElement[Any] | None]


def row_facts(conn: Connection, form: Form, table: sa.Table) -> dict[str, ColumnElement[Any]]:
    """The registered row facts' columns for ``form``'s main table ``table``, by name."""
    plugins = plugins_of(conn)
    if plugins is None:
        return {}
    fact: RowFact
    columns = {}
    for name, fact in plugins.named("register_row_facts").items():
        column = fact.column(form, table)
        if column is not None:
            columns[name] = column
    return columns


class WriteRefused(ValidationFailed):
    """A guard refused the write: one 422 problem whose ``code`` is the first refusing guard's
    and whose ``errors`` hold one entry per unmet condition of every guard."""

    status = 422
    title = "Write refused"

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        self.refusals = list(refusals)
        self.code = self.refusals[0].code
        super().__init__([r.as_field_error() for r in self.refusals], _summary(self.refusals))


def _summary(refusals: Sequence[Refusal]) -> Text:
    """The first refusals in one line that each reader sees in their language (a rule's
    failed run keeps it, see ``rules.engine``): a message whose parts are the refusals' own."""
    shown = refusals[:5]
    return Text(
        "; ".join(f"{{refusal_{index}}}" for index in range(len(shown))),
        **{f"refusal_{index}": refusal.message for index, refusal in enumerate(shown)},
    )


def guard_writes(conn: Connection, batch: WriteBatch) -> None:
    """Ask every registered guard about ``batch``; raise :class:`WriteRefused` listing every
    refusal, or return so the writer goes on."""
    if not batch.writes:
        return
    plugins = plugins_of(conn)
    if plugins is None:
        return  # a connection outside any workspace (a migration, a bench's raw engine)
    guard: WriteGuard
    refusals: list[Refusal] = []
    for guard in plugins.listed("register_write_guards"):
        refusals.extend(guard(conn, batch))
    if refusals:
        raise WriteRefused(refusals)
