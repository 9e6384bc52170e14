"""The whitelisted functions: each one's signature check, Python body and SQL body side by side.

Keeping the three together is what keeps the back ends honest: a function's Python and SQL
implementations are read and changed as a pair, and the differential test runs both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any, NoReturn, Protocol

import sqlalchemy as sa
from sqlalchemy.sql.elements import BindParameter

from meridian.db.types import JSONType, UTCDateTime
from meridian.expr import dates, decimals, sqlops
from meridian.expr.decimals import Number
from meridian.expr.nodes import Call, Literal, Node
from meridian.expr.runtime import Env
from meridian.expr.sqlops import Sql, SqlContext
from meridian.expr.syntax import Span
from meridian.expr.types import ExprType

NUMBER, TEXT, BOOLEAN = ExprType.NUMBER, ExprType.TEXT, ExprType.BOOLEAN
DATE, DATETIME, LIST, NULL = ExprType.DATE, ExprType.DATETIME, ExprType.LIST, ExprType.NULL

ROUND_DIGITS = (-6, 12)

PythonBody = Callable[..., Any]
"""Called as ``body(env, *argument_values)``."""
SqlBody = Callable[[Call, Sequence[Sql], SqlContext], Sql]


class Arguments(Protocol):
    """What a function's signature check can ask of its (already type-checked) arguments."""

    @property
    def nodes(self) -> Sequence[Node]: ...

    def arity(self, low: int, high: int | None) -> None: ...

    def expect(self, index: int, *types: ExprType) -> Node:
        """The argument, which must have one of ``types`` (a ``null`` literal is retyped)."""
        ...

    def integer(self, index: int) -> Node:
        """The argument, which must be a whole number (a number of scale 0)."""
        ...

    def literal_text(self, index: int, expected: str, expected_zh: str) -> tuple[str, Span]: ...

    def literal_integer(self, index: int) -> int: ...

    def unify(self, nodes: Sequence[Node]) -> tuple[ExprType, int, list[Node]]:
        """One type (and scale) for ``nodes``, promoting dates to date-times as needed."""
        ...

    def fail(self, reason: str, span: Span | None = None, **params: Any) -> NoReturn: ...

    def result(
        self, type_: ExprType, scale: int = 0, args: Sequence[Node] | None = None, **options: Any
    ) -> Call: ...


@dataclass(frozen=True)
class Function:
    """One whitelisted function.

    :ivar signature: how the reference documents it; error messages quote it.
    :ivar bind: checks the arguments and returns the checked node (usually a :class:`Call`).
    :ivar python: given the checked call, returns its Python body.
    :ivar sql: its SQL body; None when the value never depends on a row (TODAY, NOW), so the
        compiler computes it before the query and binds it.
    """

    name: str
    signature: str
    bind: Callable[[Arguments], Node]
    python: Callable[[Call], PythonBody]
    sql: SqlBody | None


def _null_safe(body: Callable[..., Any]) -> PythonBody:
    """``body(*values)``, or None when any value is None (SQL's strict functions)."""

    def run(env: Env, *values: Any) -> Any:
        if None in values:
            return None
        return body(*values)

    return run


def _fixed(body: Callable[..., Any]) -> Callable[[Call], PythonBody]:
    return lambda call: _null_safe(body)


def _at_scale(ctx: SqlContext, call: Call, node: Node, value: Sql) -> Sql:
    """A numeric argument rescaled to the call's result scale (other types pass through)."""
    if node.type is not NUMBER:
        return value
    return sqlops.rescale(ctx, value, call.scale - node.scale)


def sql_type(type_: ExprType) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type of a value of ``type_`` (numbers as their scaled integers)."""
    types: dict[ExprType, sa.types.TypeEngine[Any]] = {
        NUMBER: sa.BigInteger(),
        TEXT: sa.Text(),
        BOOLEAN: sa.Boolean(),
        DATE: sa.Date(),
        DATETIME: UTCDateTime(),
        LIST: JSONType,
        NULL: sa.Boolean(),
    }
    return types[type_]


# ---- logic and blanks ----------------------------------------------------------------------


def _bind_if(args: Arguments) -> Node:
    args.arity(2, 3)
    condition = args.expect(0, BOOLEAN)
    type_, scale, branches = args.unify(args.nodes[1:])
    return args.result(type_, scale, [condition, *branches])


def _python_if(call: Call) -> PythonBody:
    def run(env: Env, condition: Any, then: Any, otherwise: Any = None) -> Any:
        return then if condition is True else otherwise

    return run


def _sql_if(call: Call, values: Sequence[Sql], ctx: SqlContext) -> Sql:
    condition, *branches = values
    then, *rest = (_at_scale(ctx, call, n, v) for n, v in zip(call.args[1:], branches, strict=True))
    otherwise = rest[0] if rest else sqlops.null(sql_type(call.type))
    return sa.type_coerce(sa.case((condition, then), else_=otherwise), sql_type(call.type))


def _bind_coalesce(args: Arguments) -> Node:
    args.arity(1, None)
    type_, scale, nodes = args.unify(args.nodes)
    return args.result(type_, scale, nodes)


def _python_coalesce(call: Call) -> PythonBody:
    def run(env: Env, *values: Any) -> Any:
        return next((value for value in values if value is not None), None)

    return run


def _sql_coalesce(call: Call, values: Sequence[Sql], ctx: SqlContext) -> Sql:
    scaled = [_at_scale(ctx, call, n, v) for n, v in zip(call.args, values, strict=True)]
    return sa.func.coalesce(*scaled, type_=sql_type(call.type))


def _bind_isblank(args: Arguments) -> Node:
    args.arity(1, 1)
    return args.result(BOOLEAN, 0, args.nodes)


def _python_isblank(call: Call) -> PythonBody:
    def run(env: Env, value: Any) -> bool:
        return value is None or value == "" or value == []

    return run


def _sql_isblank(call: Call, values: Sequence[Sql], ctx: SqlContext) -> Sql:
    (value,) = values
    kind = call.args[0].type
    if kind is TEXT:
        return sqlops.is_blank_text(value)
    if kind is LIST:
        return sqlops.has_no_options(ctx, value)
    return value.is_(None)


# ---- numbers -------------------------------------------------------------------------------


def _bind_round(args: Arguments) -> Node:
    args.arity(1, 2)
    value = args.expect(0, NUMBER)
    digits = args.literal_integer(1) if len(args.nodes) == 2 else 0
    low, high = ROUND_DIGITS
    if not low <= digits <= high:
        args.fail("bad_digits", args.nodes[1].span, low=low, high=high, digits=digits)
    return args.result(NUMBER, decimals.round_scale(value.scale, digits), [value], digits=digits)


def _python_round(call: Call) -> PythonBody:
    digits: int = call.options["digits"]
    if digits >= call.args[0].scale:
        return lambda env, value: value
    return _null_safe(lambda value: decimals.round_half_away(value, digits))


def _sql_round(call: Call, values: Sequence[Sql], ctx: SqlContext) -> Sql:
    (value,) = values
    digits: int = call.options["digits"]
    scale = call.args[0].scale
    if digits >= scale:
        return value
    rounded = sqlops.round_down_places(ctx, value, scale - digits)
    return sqlops.rescale(ctx, rounded, -digits) if digits < 0 else rounded


def _bind_abs(args: Arguments) -> Node:
    args.arity(1, 1)
    value = args.expect(0, NUMBER)
    return args.result(NUMBER, value.scale, [value])


def _bind_extreme(args: Arguments) -> Node:
    args.arity(2, None)
    type_, scale, nodes = args.unify(args.nodes)
    if type_ not in (NUMBER, DATE, DATETIME, NULL):
        args.fail(
            "wrong_argument",
            args.nodes[0].span,
            index=1,
            expected="a number or a date",
            expected_zh="数字或日期",
            got=type_,
        )
    return args.result(type_, scale, nodes)


def _python_extreme(pick: Callable[..., Any]) -> Callable[[Call], PythonBody]:
    def make(call: Call) -> PythonBody:
        def run(env: Env, *values: Any) -> Any:
            present = [value for value in values if value is not None]
            return pick(present) if present else None

        return run

    return make


def _sql_extreme(greatest: bool) -> SqlBody:
    def build(call: Call, values: Sequence[Sql], ctx: SqlContext) -> Sql:
        scaled = [_at_scale(ctx, call, n, v) for n, v in zip(call.args, values, strict=True)]
        return sqlops.least(ctx, scaled, greatest=greatest)

    return build


# ---- text ----------------------------------------------------------------------------------

_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _bind_concat(args: Arguments) -> Node:
    args.arity(1, None)
    nodes = [
        args.integer(index) if node.type is NUMBER else args.expect(index, TEXT, DATE)
        for index, node in enumerate(args.nodes)
    ]
    return args.result(TEXT, 0, nodes)


def _text_piece(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return value if isinstance(value, str) else str(int(value))


def _python_concat(call: Call) -> PythonBody:
    def run(env: Env, *values: Any) -> str:
        return "".join(_text_piece(value) for value in values)

    return run


def _sql_concat(call: Call, values: Sequence[Sql], ctx: SqlContext) -> Sql:
    pieces = []
    for node, value in zip(call.args, values, strict=True):
        if node.type is NUMBER:
            value = sqlops.integer_text(ctx, value)
        elif node.type is DATE:
            value = sqlops.date_text(ctx, value)
        if not (isinstance(value, BindParameter) and value.value is not None):
            value = sa.func.coalesce(value, sqlops.text(""), type_=sa.Text())
        pieces.append(value)
    return functools.reduce(lambda joined, piece: joined.concat(piece), pieces)


def _bind_text_to(result: ExprType, *params: ExprType) -> Callable[[Arguments], Node]:
    def bind(args: Arguments) -> Node:
        args.arity(len(params), len(params))
        nodes = [
            args.integer(i) if kind is NUMBER else args.expect(i, kind)
            for i, kind in enumerate(params)
        ]
        return args.result(result, 0, nodes)

    return bind


def _left(value: str, count: Number) -> str:
    return value[: max(int(count), 0)]


def _right(value: str, count: Number) -> str:
    return value[-int(count) :] if count > 0 else ""


def _sql_unary(body: Callable[[SqlContext, Sql], Sql]) -> SqlBody:
    return lambda call, values, ctx: body(ctx, *values)


def _sql_binary(body: Callable[[SqlContext, Sql, Sql], Sql]) -> SqlBody:
    return lambda call, values, ctx: body(ctx, *values)


# ---- dates ---------------------------------------------------------------------------------

_DATE_UNITS = {DATE: ("d", "m", "y"), DATETIME: ("d", "h")}
_SECONDS = {"d": 86_400, "h": 3_600}


def _bind_clock(result: ExprType) -> Callable[[Arguments], Node]:
    def bind(args: Arguments) -> Node:
        args.arity(0, 0)
        return args.result(result, 0, [])

    return bind


def _python_today(call: Call) -> PythonBody:
    return lambda env: env.today


def _python_current_user(call: Call) -> PythonBody:
    return lambda env: env.user


def _python_now(call: Call) -> PythonBody:
    return lambda env: env.now.astimezone(UTC)


def _bind_date(args: Arguments) -> Node:
    args.arity(1, 1)
    node = args.nodes[0]
    if node.type is TEXT and isinstance(node, Literal):
        try:
            day = date.fromisoformat(node.value)
        except ValueError:
            args.fail("bad_date", node.span, text=repr(node.value))
        return Literal(type=DATE, span=node.span, value=day)
    if node.type is not DATETIME:
        args.fail(
            "literal_argument",
            node.span,
            index=1,
            name="DATE",
            expected='a date text like "2026-01-31", or a date-time',
            expected_zh='形如 "2026-01-31" 的日期文本或日期时间',
        )
    return args.result(DATE, 0, [node])


def _python_local_date(call: Call) -> PythonBody:
    def run(env: Env, moment: Any) -> date | None:
        return None if moment is None else dates.local_date(moment, env.zone)

    return run


def _bind_dateadd(args: Arguments) -> Node:
    args.arity(3, 3)
    value = args.expect(0, DATE, DATETIME)
    count = args.integer(1)
    unit = _unit(args, 2, _DATE_UNITS[value.type])
    return args.result(value.type, 0, [value, count], unit=unit)


def _unit(args: Arguments, index: int, allowed: Sequence[str]) -> str:
    unit, span = args.literal_text(index, 'a unit such as "d"', '单位，例如 "d"')
    if unit.lower() not in allowed:
        args.fail("bad_unit", span, unit=repr(unit), allowed=", ".join(allowed))
    return unit.lower()


def _python_dateadd(call: Call) -> PythonBody:
    unit: str = call.options["unit"]
    if call.type is DATETIME:
        seconds = _SECONDS[unit]
        return _null_safe(lambda moment, n: dates.add_seconds(moment, int(n) * seconds))
    if unit == "d":
        return _null_safe(lambda day, n: dates.add_days(day, int(n)))
    months = 12 if unit == "y" else 1
    return _null_safe(lambda day, n: dates.add_months(day, int(n) * months))


def _sql_dateadd(call: Call, values: Sequence[Sql], ctx: SqlContext) -> Sql:
    value, count = values
    unit: str = call.options["unit"]
    if call.type is DATETIME:
        return sqlops.add_seconds(ctx, value, sqlops.times(ctx, count, _SECONDS[unit]))
    if unit == "d":
        return sqlops.add_days(ctx, value, count)
    return sqlops.add_months(ctx, value, sqlops.times(ctx, count, 12 if unit == "y" else 1))


def _bind_datedif(args: Arguments) -> Node:
    args.arity(3, 3)
    start = args.expect(0, DATE, DATETIME)
    end = args.expect(1, DATE, DATETIME)
    unit = _unit(args, 2, ("d", "m", "y"))
    return args.result(NUMBER, 0, [start, end], unit=unit)


def _python_datedif(call: Call) -> PythonBody:
    unit: str = call.options["unit"]
    start_local, end_local = (node.type is DATETIME for node in call.args)

    def run(env: Env, start: Any, end: Any) -> int | None:
        if start_local and start is not None:
            start = dates.local_date(start, env.zone)
        if end_local and end is not None:
            end = dates.local_date(end, env.zone)
        if start is None or end is None:
            return None
        return dates.date_difference(start, end, unit)

    return run


def _sql_as_date(ctx: SqlContext, node: Node, value: Sql) -> Sql:
    return sqlops.local_date(ctx, value) if node.type is DATETIME else value


def _sql_datedif(call: Call, values: Sequence[Sql], ctx: SqlContext) -> Sql:
    start, end = (_sql_as_date(ctx, n, v) for n, v in zip(call.args, values, strict=True))
    between = {
        "d": sqlops.days_between,
        "m": sqlops.months_between,
        "y": sqlops.years_between,
    }[call.options["unit"]]
    return between(ctx, start, end)


def _bind_part(args: Arguments) -> Node:
    args.arity(1, 1)
    return args.result(NUMBER, 0, [args.expect(0, DATE, DATETIME)])


def _python_part(read: Callable[[date], int]) -> Callable[[Call], PythonBody]:
    def make(call: Call) -> PythonBody:
        local = call.args[0].type is DATETIME

        def run(env: Env, value: Any) -> int | None:
            if local and value is not None:
                value = dates.local_date(value, env.zone)
            return None if value is None else read(value)

        return run

    return make


def _sql_part(name: str) -> SqlBody:
    def build(call: Call, values: Sequence[Sql], ctx: SqlContext) -> Sql:
        return sqlops.part(ctx, _sql_as_date(ctx, call.args[0], values[0]), name)

    return build


FUNCTIONS: dict[str, Function] = {
    function.name: function
    for function in [
        Function("IF", "IF(condition, then, else)", _bind_if, _python_if, _sql_if),
        Function("ISBLANK", "ISBLANK(value)", _bind_isblank, _python_isblank, _sql_isblank),
        Function(
            "COALESCE", "COALESCE(value, ...)", _bind_coalesce, _python_coalesce, _sql_coalesce
        ),
        Function("ROUND", "ROUND(number, digits)", _bind_round, _python_round, _sql_round),
        Function(
            "ABS",
            "ABS(number)",
            _bind_abs,
            _fixed(decimals.absolute),
            _sql_unary(sqlops.absolute),
        ),
        Function(
            "MIN",
            "MIN(value, value, ...)",
            _bind_extreme,
            _python_extreme(min),
            _sql_extreme(False),
        ),
        Function(
            "MAX", "MAX(value, value, ...)", _bind_extreme, _python_extreme(max), _sql_extreme(True)
        ),
        Function("CONCAT", "CONCAT(value, ...)", _bind_concat, _python_concat, _sql_concat),
        Function(
            "LEN", "LEN(text)", _bind_text_to(NUMBER, TEXT), _fixed(len), _sql_unary(sqlops.length)
        ),
        Function(
            "LEFT",
            "LEFT(text, count)",
            _bind_text_to(TEXT, TEXT, NUMBER),
            _fixed(_left),
            _sql_binary(sqlops.left),
        ),
        Function(
            "RIGHT",
            "RIGHT(text, count)",
            _bind_text_to(TEXT, TEXT, NUMBER),
            _fixed(_right),
            _sql_binary(sqlops.right),
        ),
        Function(
            "CONTAINS",
            "CONTAINS(text, part)",
            _bind_text_to(BOOLEAN, TEXT, TEXT),
            _fixed(lambda value, part: part in value),
            _sql_binary(sqlops.contains),
        ),
        Function(
            "STARTS_WITH",
            "STARTS_WITH(text, prefix)",
            _bind_text_to(BOOLEAN, TEXT, TEXT),
            _fixed(lambda value, prefix: value.startswith(prefix)),
            _sql_binary(sqlops.starts_with),
        ),
        Function(
            "UPPER",
            "UPPER(text)",
            _bind_text_to(TEXT, TEXT),
            _fixed(lambda value: value.translate(_ASCII_UPPER)),
            _sql_unary(sqlops.upper),
        ),
        Function(
            "LOWER",
            "LOWER(text)",
            _bind_text_to(TEXT, TEXT),
            _fixed(lambda value: value.translate(_ASCII_LOWER)),
            _sql_unary(sqlops.lower),
        ),
        Function("TODAY", "TODAY()", _bind_clock(DATE), _python_today, None),
        Function("NOW", "NOW()", _bind_clock(DATETIME), _python_now, None),
        # the acting user's id (a user field's value): "owner_id = CURRENT_USER()"
        Function("CURRENT_USER", "CURRENT_USER()", _bind_clock(NUMBER), _python_current_user, None),
        Function(
            "DATE",
            'DATE("2026-01-31") or DATE(datetime)',
            _bind_date,
            _python_local_date,
            _sql_unary(sqlops.local_date),
        ),
        Function(
            "DATEADD", "DATEADD(date, count, unit)", _bind_dateadd, _python_dateadd, _sql_dateadd
        ),
        Function(
            "DATEDIF", "DATEDIF(start, end, unit)", _bind_datedif, _python_datedif, _sql_datedif
        ),
        Function(
            "YEAR", "YEAR(date)", _bind_part, _python_part(lambda d: d.year), _sql_part("year")
        ),
        Function(
            "MONTH", "MONTH(date)", _bind_part, _python_part(lambda d: d.month), _sql_part("month")
        ),
        Function("DAY", "DAY(date)", _bind_part, _python_part(lambda d: d.day), _sql_part("day")),
        Function(
            "WEEKDAY",
            "WEEKDAY(date)",
            _bind_part,
            _python_part(date.isoweekday),
            _sql_part("isodow"),
        ),
    ]
}


# ---- aggregates over child lines -----------------------------------------------------------


@dataclass(frozen=True)
class Aggregation:
    """SUM, COUNT, AVG, MIN or MAX over the lines of a child table.

    :ivar accepts: the field types it can aggregate (COUNT also takes the bare table).
    :ivar python: the non-NULL values of the lines → the result (``scale`` = field scale).
    :ivar sql: the aggregate over a lines column (None for COUNT of the table) → the result.
    """

    name: str
    accepts: tuple[ExprType, ...]
    result_scale: Callable[[int], int]
    python: Callable[[list[Any], int], Any]
    sql: Callable[[SqlContext, Sql | None, int], Sql]


def _python_average(values: list[Any], scale: int) -> Any:
    if not values:
        return None
    return decimals.divide(decimals.total(values), len(values), decimals.quotient_scale(scale))


def _sql_sum(ctx: SqlContext, column: Sql | None, scale: int) -> Sql:
    return sa.func.coalesce(sa.func.sum(column), 0, type_=sa.BigInteger())


def _sql_count(ctx: SqlContext, column: Sql | None, scale: int) -> Sql:
    return sa.func.count() if column is None else sa.func.count(column)


def _sql_average(ctx: SqlContext, column: Sql | None, scale: int) -> Sql:
    places = decimals.quotient_scale(scale) - scale
    total = sqlops.rescale(ctx, sa.func.sum(column, type_=sa.BigInteger()), places)
    return sqlops.divide(ctx, total, sa.func.count(column))


def _sql_extremum(greatest: bool) -> Callable[[SqlContext, Sql | None, int], Sql]:
    def build(ctx: SqlContext, column: Sql | None, scale: int) -> Sql:
        return (sa.func.max if greatest else sa.func.min)(column)

    return build


AGGREGATIONS: dict[str, Aggregation] = {
    aggregation.name: aggregation
    for aggregation in [
        Aggregation(
            "SUM", (NUMBER,), lambda scale: scale, lambda v, s: decimals.total(v), _sql_sum
        ),
        Aggregation(
            "COUNT",
            (NUMBER, TEXT, BOOLEAN, DATE, DATETIME),
            lambda scale: 0,
            lambda v, s: len(v),
            _sql_count,
        ),
        Aggregation("AVG", (NUMBER,), decimals.quotient_scale, _python_average, _sql_average),
        Aggregation(
            "MIN",
            (NUMBER, DATE, DATETIME),
            lambda scale: scale,
            lambda v, s: min(v) if v else None,
            _sql_extremum(False),
        ),
        Aggregation(
            "MAX",
            (NUMBER, DATE, DATETIME),
            lambda scale: scale,
            lambda v, s: max(v) if v else None,
            _sql_extremum(True),
        ),
    ]
}
