"""The statements deduplication runs against the stored records (issue 19): equal values of a
column (a key field, a short name key) and prefix ranges on the name keys, each within the rows
the importer may read (:class:`Readable`).

A batch of an import asks thousands of lookups, sent as a few statements of many terms. Made
anew per statement — a Select with some 800 bound values — SQLAlchemy's cache key, compiling
and execution context cost more than SQLite's index lookups. So a statement is made once per
:class:`Shape` (the column, the kind of term and how many terms, a count padded up to one of a
few sizes by repeating the last term) and its values passed as parameters. On SQLite, inside a
transaction, it is compiled once more to the driver's SQL and sent to the cursor
(``db.direct``): the access filter's own bound values (an owner, the departments of an
``IN``, a moment) go into it as SQLAlchemy would bind them, processed once, and the rows come
back as plain tuples. A value it cannot place (an ``IN`` of tuples) leaves the statement to
SQLAlchemy, as on PostgreSQL — where an equality lookup is ``= ANY(:array)``, one parameter,
which PostgreSQL plans faster than hundreds of placeholders.

A statement is kept for the next batches under what its access filter depends on
(:meth:`FormAccess.rows_key`): every row, own records, the actor's departments; a filter that
reads the department tree or the clock is made afresh for each batch, and kept only for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect

from meridian.dataio.dedup_halves import MAX_PIECES
from meridian.db import direct
from meridian.records.readable import Readable

Kind = Literal["equal", "range", "pieces"]
EQUAL_PER_QUERY = 900
"""Values to an equality lookup's statement (SQLite's placeholders; one array on PostgreSQL)."""
RANGES_PER_QUERY = 200
"""Ranges to a statement: SQLite looks each up in the index and joins the rows found."""
_SIZES = (8, 32, 128, 512)
_KEPT_LIMIT = 256


@dataclass(frozen=True)
class Shape:
    """One statement's form: ``SELECT id, <selected>`` of the readable rows whose ``column``
    equals one of ``count`` values (``equal``) or falls in one of ``count`` ranges with a
    length between two bounds (``range``: ``lo <= column < hi AND length(column) BETWEEN ls
    AND ll``)."""

    selected: str
    column: str
    kind: Kind
    count: int

    def names(self, postgresql: bool) -> tuple[str, ...]:
        """The statement's parameters, in the order :meth:`Lookups.fetch` takes their values."""
        if self.kind == "equal":
            return ("v",) if postgresql else tuple(f"v{i}" for i in range(self.count))
        parts = ["lo", "hi", "ls", "ll"]
        if self.kind == "pieces":
            parts.append("lp")
            parts.extend(f"{part}{j}_" for j in range(MAX_PIECES) for part in ("s", "n", "p"))
        return tuple(f"{part}{i}" for i in range(self.count) for part in parts)


def padded(count: int, most: int) -> int:
    """The terms a statement of ``count`` lookups is made with (at most ``most``): one of a
    few sizes, so that batches of any size share a handful of statements."""
    return next((size for size in _SIZES if count <= size < most), most)


class Lookups:
    """The statements of one batch's lookups on ``readable``'s rows (see the module)."""

    def __init__(self, conn: Connection, readable: Readable) -> None:
        self.conn = conn
        self.readable = readable
        self.postgresql = conn.dialect.name == "postgresql"
        rows_key = readable.access.rows_key("read")
        # The first condition is the trash's (made once per table and choice, live rows here)
        # unless the readable takes every row, live or not: then a scope, and kept no longer.
        self._key = (
            None
            if rows_key is None
            else (readable.plan, readable.table, conn.dialect.name, rows_key, readable.where[:1])
        )
        self._own: dict[Shape, _Made] = {}

    def equal(self, selected: str, column: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
        """(id, ``selected``) of the readable rows whose ``column`` is one of ``values``:
        a statement per ``EQUAL_PER_QUERY`` values."""
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(values), EQUAL_PER_QUERY):
            chunk = list(values[start : start + EQUAL_PER_QUERY])
            if self.postgresql:
                shape = Shape(selected, column, "equal", 1)
                found.extend(self.fetch(shape, [chunk]))
                continue
            shape = Shape(selected, column, "equal", padded(len(chunk), EQUAL_PER_QUERY))
            chunk.extend([chunk[-1]] * (shape.count - len(chunk)))  # an IN ignores repeats
            found.extend(self.fetch(shape, chunk))
        return found

    def ranges(
        self, selected: str, column: str, ranges: Sequence[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        """(id, ``selected``) of the readable rows whose ``column`` is in one of ``ranges``
        (``low <= column < high`` with a length from ``shortest`` to ``longest``, and — for
        a range of 5 + 3 × ``MAX_PIECES`` values — up to the fifth value long, holding one
        of its pieces, each ``(first, count, piece)``: the piece is in ``substr(column,
        first, count)``): a
        statement per ``RANGES_PER_QUERY`` ranges, the last repeated to fill its shape."""
        found: list[tuple[Any, ...]] = []
        if not ranges:
            return found
        kind: Kind = "range" if len(ranges[0]) == 4 else "pieces"
        for start in range(0, len(ranges), RANGES_PER_QUERY):
            chunk = ranges[start : start + RANGES_PER_QUERY]
            shape = Shape(selected, column, kind, padded(len(chunk), RANGES_PER_QUERY))
            flat: list[Any] = []
            for term in chunk:
                flat.extend(term)
            for _ in range(shape.count - len(chunk)):
                flat.extend(chunk[-1])
            found.extend(self.fetch(shape, flat))
        return found

    def statement(self, shape: Shape) -> sa.Select[Any]:
        """The SQLAlchemy statement of ``shape`` (what the driver gets on SQLite is its SQL)."""
        return self._made(shape).statement

    def fetch(self, shape: Shape, values: Sequence[Any]) -> Sequence[tuple[Any, ...]]:
        """The rows (id, selected) of ``shape`` with ``values`` (for :meth:`Shape.names`)."""
        made = self._made(shape)
        if made.direct is not None and direct.available(self.conn):
            return direct.fetch_all(self.conn, made.direct.sql, made.direct.parameters(values))
        names = shape.names(self.postgresql)
        return self.conn.execute(made.statement, dict(zip(names, values, strict=True))).all()

    def _made(self, shape: Shape) -> _Made:
        if self._key is None:
            made = self._own.get(shape)
            if made is None:
                made = self._own[shape] = self._make(shape)
            return made
        key = (*self._key, shape)
        made = _KEPT.get(key)
        if made is None:
            if len(_KEPT) >= _KEPT_LIMIT:
                _KEPT.clear()
            made = _KEPT[key] = self._make(shape)
        return made

    def _make(self, shape: Shape) -> _Made:
        statement = _statement(self.readable, shape, self.postgresql)
        dialect = self.conn.dialect
        compiled = None
        if dialect.name == "sqlite":
            compiled = _Direct.of(statement, shape.names(False), dialect)
        return _Made(statement, compiled)


@dataclass(frozen=True)
class _Made:
    statement: sa.Select[Any]
    direct: _Direct | None


_KEPT: dict[tuple[Any, ...], _Made] = {}


def _statement(readable: Readable, shape: Shape, postgresql: bool) -> sa.Select[Any]:
    table = readable.table
    column = table.c[shape.column]
    condition: sa.ColumnElement[bool]
    if shape.kind == "equal" and postgresql:
        condition = column == sa.any_(sa.bindparam("v", type_=ARRAY(column.type)))
    elif shape.kind == "equal":
        condition = column.in_([_param(f"v{i}", column.type) for i in range(shape.count)])
    else:
        condition = sa.or_(*(_range(column, shape, i, postgresql) for i in range(shape.count)))
    return readable.select(table.c.id, table.c[shape.selected]).where(condition)


def _range(
    column: sa.ColumnElement[Any], shape: Shape, i: int, postgresql: bool
) -> sa.ColumnElement[bool]:
    """The ``i``-th range of ``shape``: its bounds, its lengths and (``pieces``) its pieces."""
    terms: list[sa.ColumnElement[bool]] = [
        column >= _param(f"lo{i}", column.type),
        column < _param(f"hi{i}", column.type),
        sa.func.length(column).between(
            _param(f"ls{i}", sa.Integer()), _param(f"ll{i}", sa.Integer())
        ),
    ]
    if shape.kind == "pieces":
        position = sa.func.strpos if postgresql else sa.func.instr
        terms.append(
            sa.or_(
                sa.func.length(column) > _param(f"lp{i}", sa.Integer()),
                *(
                    position(
                        sa.func.substr(
                            column,
                            _param(f"s{j}_{i}", sa.Integer()),
                            _param(f"n{j}_{i}", sa.Integer()),
                        ),
                        _param(f"p{j}_{i}", column.type),
                    )
                    > 0
                    for j in range(MAX_PIECES)
                ),
            )
        )
    return sa.and_(*terms)


def _param(name: str, type_: Any) -> sa.BindParameter[Any]:
    """A parameter given its value at each execution (none needed to compile the statement)."""
    return sa.bindparam(name, type_=type_, required=False)


@dataclass(frozen=True)
class _Direct:
    """A statement as SQLite's driver takes it: its SQL, and its parameters with the access
    filter's values in place (``template``) and a slot for each of the shape's (``slots``,
    with their type's bind processor, if any)."""

    sql: str
    template: tuple[Any, ...]
    slots: tuple[int, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    plain: tuple[int, int] | None

    @classmethod
    def of(
        cls, statement: sa.Select[Any], names: Sequence[str], dialect: Dialect
    ) -> _Direct | None:
        """None when a value of the statement cannot be told (an ``IN`` of tuples)."""
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        order = compiled.positiontup
        if order is None:
            return None
        given = compiled.construct_params()
        position = {name: index for index, name in enumerate(order)}
        if any(name not in position for name in names):
            return None
        template: list[Any] = []
        for name in order:
            # A value of an IN list is named after its list: department_id_1_2 is the second
            # of department_id_1 (a list of lists, a tuple IN, is left to SQLAlchemy).
            bind = compiled.binds.get(name)
            if bind is None:
                bind = compiled.binds.get(name.rsplit("_", 1)[0])
            if bind is None:
                return None
            process = _processor(bind, dialect)
            value = given[name]
            template.append(process(value) if process is not None and value is not None else value)
        slots = tuple(position[name] for name in names)
        processors = tuple(_processor(compiled.binds[name], dialect) for name in names)
        run = slots == tuple(range(slots[0], slots[0] + len(slots))) if slots else False
        plain = (slots[0], slots[-1] + 1) if run and not any(processors) else None
        return cls(str(compiled), tuple(template), slots, processors, plain)

    def parameters(self, values: Sequence[Any]) -> list[Any]:
        """The driver's parameters with the shape's ``values`` in their slots."""
        if self.plain is not None:  # the shape's values in one run, none processed
            start, end = self.plain
            return [*self.template[:start], *values, *self.template[end:]]
        parameters = list(self.template)
        for slot, process, value in zip(self.slots, self.processors, values, strict=True):
            parameters[slot] = process(value) if process is not None else value
        return parameters


def _processor(bind: sa.BindParameter[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    return bind.type.dialect_impl(dialect).bind_processor(dialect)
