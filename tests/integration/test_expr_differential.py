"""Python == SQLite == PostgreSQL: generated expressions over generated records.

Hypothesis writes well-typed expressions over a small scope (integers, scaled decimals, text,
dates, date-times, booleans, a multi-select, a link and a child table) and the test checks that
``evaluate`` and ``to_sql`` give the same value for every row, and that a condition selects the
same rows in SQL as in Python (only TRUE passes).

SQLite computes with 64-bit integers and knows time zones only from a table of offsets for
1900-2100 (both documented in docs/expressions.md). Rows where a number inside the expression
grows past ±9·10^6 (which, with up to 12 decimal places of alignment, could leave 64 bits) or a
date leaves 1901-2099 are therefore compared on PostgreSQL only.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection, Engine

from meridian.db.types import JSONType, UTCDateTime
from meridian.expr import (
    ChildScope,
    ChildSql,
    CompiledExpression,
    ExprType,
    FieldInfo,
    LinkScope,
    LinkSql,
    Scope,
    SqlScope,
    compile_expression,
)
from meridian.expr.evaluate import compile_python
from meridian.expr.nodes import Node
from meridian.expr.runtime import Env
from meridian.schema.expressions import SYSTEM_REFERENCES

NOW = datetime(2026, 3, 1, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
NOW_NEW_YORK = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"))
SQLITE_SAFE = 9 * 10**6
USER = 7
"""The acting user, what ``CURRENT_USER()`` reads; rows are owned and made by 7, 8 or nobody."""

N, T, B, D, DT = (
    ExprType.NUMBER,
    ExprType.TEXT,
    ExprType.BOOLEAN,
    ExprType.DATE,
    ExprType.DATETIME,
)

SCOPE = Scope(
    fields={
        "i1": FieldInfo("i1", "数量", N),
        "i2": FieldInfo("i2", "天数", N),
        "m1": FieldInfo("m1", "预计金额", N, scale=2),
        "m2": FieldInfo("m2", "成本", N, scale=2),
        "p1": FieldInfo("p1", "折扣", N, scale=4),
        "t1": FieldInfo("t1", "区域", T),
        "t2": FieldInfo("t2", "名称", T),
        "d1": FieldInfo("d1", "签约日期", D),
        "d2": FieldInfo("d2", "到期日期", D),
        "ts1": FieldInfo("ts1", "创建时间", DT),
        "ts2": FieldInfo("ts2", "更新时间", DT),
        "b1": FieldInfo("b1", "重点客户", B),
        "tags": FieldInfo("tags", "标签", T, is_list=True),
        # the record's owner and creator, as a form's scope offers them
        **{reference.key: reference for reference in SYSTEM_REFERENCES},
    },
    links={
        "cust": LinkScope(
            "客户",
            Scope(
                fields={
                    "level": FieldInfo("level", "级别", T),
                    "score": FieldInfo("score", "评分", N),
                    "since": FieldInfo("since", "合作日期", D),
                }
            ),
        )
    },
    children={
        "items": ChildScope(
            "明细",
            Scope(
                fields={
                    "amount": FieldInfo("amount", "金额", N, scale=2),
                    "qty": FieldInfo("qty", "数量", N),
                    "shipped": FieldInfo("shipped", "发货日期", D),
                }
            ),
        )
    },
)

# ---- tables ------------------------------------------------------------------------------------

METADATA = sa.MetaData()
ROWS = sa.Table(
    "expr_rows",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    *(
        sa.Column(key, sa.BigInteger)
        for key in ("i1", "i2", "m1", "m2", "p1", "cust_id", "owner_id", "created_by")
    ),
    sa.Column("t1", sa.Text),
    sa.Column("t2", sa.String(64)),
    sa.Column("d1", sa.Date),
    sa.Column("d2", sa.Date),
    sa.Column("ts1", UTCDateTime),
    sa.Column("ts2", UTCDateTime),
    sa.Column("b1", sa.Boolean),
    sa.Column("tags", JSONType),
)
CUSTOMERS = sa.Table(
    "expr_customers",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("level", sa.Text),
    sa.Column("score", sa.BigInteger),
    sa.Column("since", sa.Date),
)
ITEMS = sa.Table(
    "expr_items",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("_parent_id", sa.Integer, nullable=False),
    sa.Column("amount", sa.BigInteger),
    sa.Column("qty", sa.BigInteger),
    sa.Column("shipped", sa.Date),
)
SQL_SCOPE = SqlScope(
    columns={key: ROWS.c[key] for key in SCOPE.fields},
    links={"cust": LinkSql(ROWS.c.cust_id, CUSTOMERS.c.id, SqlScope(dict(CUSTOMERS.c)))},
    children={"items": ChildSql(ITEMS.c._parent_id, ROWS.c.id, SqlScope(dict(ITEMS.c)))},
)
SCALES = {"m1": 2, "m2": 2, "p1": 4}

# ---- data --------------------------------------------------------------------------------------

INTEGERS = [None, 0, 1, -1, 2, -3, 7, 12, 100, -250, 4096, 99_999, 2_147_483_647, -2_147_483_648]
SCALED = [None, 0, 1, -1, 5, 50, -50, 150, 999, -1000, 12_345, 10_000, 5_000_000, -99_999_999]
TEXTS = [None, "", "a", "A", "b", "ab", "Ab", "a%b", "华东", "华南", "é", "z", "😀x", "abc"]
DATES = [
    None,
    date(2024, 2, 29),
    date(2024, 1, 31),
    date(2026, 3, 1),
    date(2026, 2, 28),
    date(1987, 4, 12),
    date(1999, 12, 31),
    date(2025, 12, 31),
    date(2000, 3, 31),
    date(2026, 3, 8),
    date(2026, 11, 1),
]
MOMENTS = [
    None,
    datetime(2026, 2, 28, 16, 0, tzinfo=UTC),
    datetime(2026, 2, 28, 15, 59, 59, 999_999, tzinfo=UTC),
    datetime(1987, 4, 11, 17, 30, tzinfo=UTC),
    datetime(1987, 4, 11, 18, 0, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 34, 56, 123_456, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, tzinfo=UTC),
    datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
    datetime(2026, 11, 2, 4, 59, 59, 500_000, tzinfo=UTC),
]
TAGS: list[Any] = [sa.null(), None, [], ["华东"], ["a", "b"], ["华南", "华东", "é"]]


@dataclass(frozen=True)
class Dataset:
    records: list[dict[str, Any]]
    related: list[dict[str, Any]]


def _logical(key: str, stored: Any) -> Any:
    if key in SCALES and stored is not None:
        return Decimal(stored).scaleb(-SCALES[key])
    if key == "tags" and not isinstance(stored, list):
        return None
    return stored


def _generate_rows(seed: int, count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    rows = []
    items = []
    for row_id in range(1, count + 1):
        row = {
            "id": row_id,
            "i1": rng.choice(INTEGERS),
            "i2": rng.choice(INTEGERS[:8]),
            "m1": rng.choice(SCALED),
            "m2": rng.choice(SCALED),
            "p1": rng.choice([None, 0, 1500, 10_000, -5000, 3333, 1]),
            "t1": rng.choice(TEXTS),
            "t2": rng.choice(TEXTS),
            "d1": rng.choice(DATES),
            "d2": rng.choice(DATES),
            "ts1": rng.choice(MOMENTS),
            "ts2": rng.choice(MOMENTS),
            "b1": rng.choice([None, True, False]),
            "tags": rng.choice(TAGS),
            "cust_id": rng.choice([None, 1, 2, 3, 99]),
            "owner_id": rng.choice([None, USER, USER + 1]),
            "created_by": rng.choice([None, USER, USER + 1]),
        }
        rows.append(row)
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            items.append(
                {
                    "id": len(items) + 1,
                    "_parent_id": row_id,
                    "amount": rng.choice(SCALED[:10]),
                    "qty": rng.choice(INTEGERS[:9]),
                    "shipped": rng.choice(DATES),
                }
            )
    return rows, items


CUSTOMER_ROWS = [
    {"id": 1, "level": "A", "score": 90, "since": date(2020, 1, 31)},
    {"id": 2, "level": "b", "score": None, "since": None},
    {"id": 3, "level": None, "score": -5, "since": date(2024, 2, 29)},
]


def _load(conn: Connection, rows: list[dict[str, Any]], items: list[dict[str, Any]]) -> Dataset:
    conn.execute(ITEMS.delete())
    conn.execute(ROWS.delete())
    for row in rows:
        conn.execute(ROWS.insert().values(**row))
    if items:
        conn.execute(ITEMS.insert(), items)
    customers = {c["id"]: c for c in CUSTOMER_ROWS}
    records, related = [], []
    for row in rows:
        records.append({key: _logical(key, row[key]) for key in SCOPE.fields})
        lines = [
            {
                "amount": _logical("m1", item["amount"]),
                "qty": item["qty"],
                "shipped": item["shipped"],
            }
            for item in items
            if item["_parent_id"] == row["id"]
        ]
        related.append({"cust": customers.get(row["cust_id"]), "items": lines})
    return Dataset(records, related)


@pytest.fixture
def database(engine: Engine) -> Iterator[Connection]:
    METADATA.create_all(engine)
    with engine.connect() as conn:
        conn.execute(CUSTOMERS.insert(), CUSTOMER_ROWS)
        conn.commit()
        yield conn
    METADATA.drop_all(engine)


# ---- expressions -------------------------------------------------------------------------------

INTEGER_LITERALS = st.sampled_from(["0", "1", "2", "-1", "3", "12", "-7", "100", "40000"])
NUMBER_LITERALS = st.sampled_from(["0.5", "2.25", "-1.5", "0.01", "3.333", "1000000", "0.0001"])
SEP = st.sampled_from([", ", ",", "，"])


def _call(name: str, *args: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*args).map(lambda values: f"{name}({', '.join(values)})")


def _infix(
    left: st.SearchStrategy[str], ops: list[str], right: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    return st.builds(lambda a, op, b: f"({a} {op} {b})", left, st.sampled_from(ops), right)


@functools.cache
def integer(depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(
        INTEGER_LITERALS,
        st.sampled_from(["i1", "i2", "{数量}", "cust.score", "COUNT(items)", "COUNT(items.qty)"]),
        st.sampled_from(["owner_id", "created_by", "{负责人}", "CURRENT_USER()"]),
        st.sampled_from(["SUM(items.qty)", "MAX(items.qty)", "SUM(items.qty * (items.qty - 1))"]),
    )
    if depth == 0:
        return leaves
    sub = integer(depth - 1)
    return st.one_of(
        leaves,
        _infix(sub, ["+", "-", "*", "%"], sub),
        sub.map(lambda a: f"-({a})"),
        _call("LEN", text(depth - 1)),
        st.builds(
            lambda f, d: f"{f}({d})", st.sampled_from(["YEAR", "MONTH", "DAY"]), temporal(depth - 1)
        ),
        _call("WEEKDAY", temporal(depth - 1)),
        st.builds(
            lambda a, b, u: f'DATEDIF({a}, {b}, "{u}")',
            temporal(depth - 1),
            temporal(depth - 1),
            st.sampled_from("dmy"),
        ),
        st.builds(lambda a, k: f"ROUND({a}, {k})", number(depth - 1), st.sampled_from(["0", "-1"])),
    )


@functools.cache
def number(depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(
        integer(0),
        NUMBER_LITERALS,
        st.sampled_from(["m1", "m2", "p1", "{预计金额}", "SUM(items.amount)", "AVG(items.amount)"]),
        st.sampled_from(["MIN(items.amount)", "AVG(items.qty)", "null"]),
        st.sampled_from(["SUM(items.amount * items.qty)", "MAX(items.amount / 3)"]),
    )
    if depth == 0:
        return leaves
    sub = number(depth - 1)
    return st.one_of(
        leaves,
        integer(depth),
        _infix(sub, ["+", "-", "*", "/", "%"], sub),
        sub.map(lambda a: f"-({a})"),
        st.builds(
            lambda a, k: f"ROUND({a}, {k})", sub, st.sampled_from(["0", "1", "2", "-1", "5"])
        ),
        _call("ABS", sub),
        _call("MIN", sub, sub),
        _call("MAX", sub, sub, sub),
        _call("IF", boolean(depth - 1), sub, sub),
        _call("COALESCE", sub, sub),
    )


@functools.cache
def text(depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(
        st.sampled_from(["t1", "t2", "{区域}", "cust.level"]),
        st.sampled_from(['""', '"a"', '"B"', '"华东"', "'é'", "“ab”", '"a%b"', '"z"']),
    )
    if depth == 0:
        return leaves
    sub = text(depth - 1)
    return st.one_of(
        leaves,
        st.lists(st.one_of(sub, integer(depth - 1), date_(depth - 1)), min_size=1, max_size=3).map(
            lambda parts: f"CONCAT({', '.join(parts)})"
        ),
        _call("LEFT", sub, integer(depth - 1)),
        _call("RIGHT", sub, integer(depth - 1)),
        _call("UPPER", sub),
        _call("LOWER", sub),
        _call("IF", boolean(depth - 1), sub, sub),
        _call("COALESCE", sub, sub),
    )


@functools.cache
def date_(depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(
        st.sampled_from(["d1", "d2", "{签约日期}", "cust.since", "TODAY()", "MIN(items.shipped)"]),
        st.sampled_from(['DATE("2024-02-29")', 'DATE("1987-04-12")', 'DATE("2026-03-01")']),
    )
    if depth == 0:
        return leaves
    sub = date_(depth - 1)
    return st.one_of(
        leaves,
        st.builds(
            lambda d, n, u: f'DATEADD({d}, {n}, "{u}")',
            sub,
            integer(depth - 1),
            st.sampled_from("dmy"),
        ),
        _call("DATE", datetime_(depth - 1)),
        _call("IF", boolean(depth - 1), sub, sub),
        _call("COALESCE", sub, sub),
        _call("MAX", sub, sub),
    )


@functools.cache
def datetime_(depth: int) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["ts1", "ts2", "NOW()", "{创建时间}"])
    if depth == 0:
        return leaves
    sub = datetime_(depth - 1)
    return st.one_of(
        leaves,
        st.builds(
            lambda d, n, u: f'DATEADD({d}, {n}, "{u}")',
            sub,
            integer(depth - 1),
            st.sampled_from("dh"),
        ),
        _call("IF", boolean(depth - 1), sub, sub),
        _call("COALESCE", sub, date_(depth - 1)),
        _call("MIN", sub, date_(depth - 1)),
    )


@functools.cache
def temporal(depth: int) -> st.SearchStrategy[str]:
    return st.one_of(date_(depth), datetime_(depth))


COMPARE = ["==", "!=", "<", "<=", ">", ">=", "=", "<>"]


def _known(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Without a bare ``null``, which the checker rightly refuses in comparisons and lists."""
    return strategy.filter(lambda source: source != "null")


@functools.cache
def boolean(depth: int) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["b1", "true", "false", "{重点客户}", "null"])
    if depth == 0:
        return leaves
    sub = boolean(depth - 1)
    return st.one_of(
        leaves,
        _infix(_known(number(depth - 1)), COMPARE, _known(number(depth - 1))),
        _infix(text(depth - 1), COMPARE, text(depth - 1)),
        _infix(temporal(depth - 1), COMPARE, temporal(depth - 1)),
        _infix(_known(sub), ["==", "!="], _known(sub)),
        _infix(sub, ["and", "or", "AND", "&&", "||"], sub),
        sub.map(lambda a: f"(not {a})"),
        st.builds(
            lambda a, op, items: f"({a} {op} [{', '.join(items)}])",
            _known(number(depth - 1)),
            st.sampled_from(["in", "not in"]),
            st.lists(_known(number(depth - 1)), min_size=1, max_size=3),
        ),
        st.builds(
            lambda a, op, items: f"({a} {op} [{', '.join(items)}])",
            text(depth - 1),
            st.sampled_from(["in", "not in"]),
            st.lists(text(0), min_size=1, max_size=3),
        ),
        st.builds(
            lambda a, op: f"({a} {op} tags)", text(depth - 1), st.sampled_from(["in", "not in"])
        ),
        _call(
            "ISBLANK",
            st.one_of(number(depth - 1), text(depth - 1), temporal(depth - 1), st.just("tags")),
        ),
        _call("CONTAINS", text(depth - 1), text(depth - 1)),
        _call("STARTS_WITH", text(depth - 1), text(depth - 1)),
        _call("IF", sub, sub, sub),
    )


DEPTH = 3
EXPRESSIONS: dict[str, st.SearchStrategy[str]] = {
    "number": number(DEPTH),
    "boolean": boolean(DEPTH),
    "text": text(DEPTH),
    "temporal": temporal(DEPTH),
}

# ---- comparison --------------------------------------------------------------------------------


def _subtrees(node: Node) -> Iterator[Node]:
    yield node
    for value in vars(node).values():
        children = value if isinstance(value, tuple) else (value,)
        for child in children:
            if isinstance(child, Node):
                yield from _subtrees(child)


def _in_sqlite_range(kind: ExprType, value: Any) -> bool:
    if value is None:
        return True
    if kind is N:
        return bool(abs(value) < SQLITE_SAFE)
    if kind in (D, DT):
        return 1900 < value.year < 2100
    return True


def _exact_on_sqlite(compiled: CompiledExpression) -> Callable[[Env], bool]:
    """Whether every number and date inside the expression stays where SQLite is exact."""
    closures = [
        (node.type, compile_python(node))
        for node in _subtrees(compiled.tree)
        if node.type in (N, D, DT)
    ]

    def check(env: Env) -> bool:
        return all(_in_sqlite_range(kind, closure(env)) for kind, closure in closures)

    return check


def _same(kind: ExprType, python: Any, sql: Any, dialect: str) -> bool:
    if python is None or sql is None:
        return python is None and sql is None
    if kind is N:
        if dialect == "postgresql":
            return Decimal(python) == sql
        return float(python) == sql or math.isclose(float(python), sql, rel_tol=1e-15)
    return bool(python == sql)


def _compare(conn: Connection, dataset: Dataset, source: str, now: datetime = NOW) -> None:
    compiled = compile_expression(source, SCOPE)
    dialect = conn.dialect.name
    today, zone = now.date(), now.tzinfo
    assert isinstance(zone, ZoneInfo)
    expression = compiled.to_sql(SQL_SCOPE, dialect=dialect, today=today, now=now, user=USER)
    sql_values = dict(conn.execute(sa.select(ROWS.c.id, expression)).all())
    exact = _exact_on_sqlite(compiled)
    expected_ids = set()
    compared_ids = set()
    for row_id, (record, related) in enumerate(
        zip(dataset.records, dataset.related, strict=True), start=1
    ):
        python = compiled.evaluate(record, today=today, now=now, related=related, user=USER)
        if dialect == "sqlite" and not exact(Env(record, related, today, now, zone, USER)):
            continue
        compared_ids.add(row_id)
        assert _same(compiled.result_type, python, sql_values[row_id], dialect), (
            f"{source!r} on row {row_id}: Python {python!r}, {dialect} {sql_values[row_id]!r}"
            f"\nrecord {record!r}\nrelated {related!r}"
        )
        if python is True:
            expected_ids.add(row_id)
    if compiled.result_type is B:
        selected = set(conn.scalars(sa.select(ROWS.c.id).where(expression)))
        assert selected & compared_ids == expected_ids, source


FIXED_ROWS = _generate_rows(seed=3, count=60)
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("kind", sorted(EXPRESSIONS))
def test_generated_expressions_agree_on_fixed_rows(database: Connection, kind: str) -> None:
    dataset = _load(database, *FIXED_ROWS)

    @SETTINGS
    @given(EXPRESSIONS[kind])
    def agree(source: str) -> None:
        _compare(database, dataset, source)

    agree()


@pytest.mark.parametrize("kind", ["boolean", "temporal"])
def test_time_zone_with_daylight_saving_agrees(database: Connection, kind: str) -> None:
    dataset = _load(database, *FIXED_ROWS)

    @settings(SETTINGS, max_examples=100)
    @given(EXPRESSIONS[kind])
    def agree(source: str) -> None:
        _compare(database, dataset, source, now=NOW_NEW_YORK)

    agree()


def test_generated_expressions_agree_on_generated_rows(database: Connection) -> None:
    @settings(SETTINGS, max_examples=60)
    @given(st.integers(0, 2**32), st.sampled_from(sorted(EXPRESSIONS)), st.data())
    def agree(seed: int, kind: str, data: st.DataObject) -> None:
        dataset = _load(database, *_generate_rows(seed, count=12))
        for _ in range(4):
            _compare(database, dataset, data.draw(EXPRESSIONS[kind]))

    agree()


@pytest.mark.parametrize(
    "source",
    [
        "owner_id = created_by",
        "ISBLANK(owner_id) or owner_id = created_by",
        "owner_id = CURRENT_USER()",
        "{创建人} != CURRENT_USER() and not ISBLANK(created_by)",
        "COALESCE(owner_id, CURRENT_USER()) = CURRENT_USER()",
    ],
)
def test_owner_creator_and_the_acting_user_agree(database: Connection, source: str) -> None:
    dataset = _load(database, *FIXED_ROWS)
    _compare(database, dataset, source)
    # The rows do hold every combination the expressions tell apart.
    pairs = {(r["owner_id"], r["created_by"]) for r in dataset.records}
    assert {(USER, USER), (None, USER), (USER + 1, USER), (USER, None)} <= pairs
