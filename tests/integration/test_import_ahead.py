"""What an import computes ahead of its write is what the write would compute: ``meridian
import`` converts the next batches in a second process (``dataio/run_ahead``), which also makes
each row's search text and name keys; the write takes them only when it writes the very values
they were made from, so every record's ``_search``, ``_name_key`` and ``_name_rev`` equal the
write path's own — a default the write adds, or any value the converter did not give, makes
the write compute them itself. Rows repeating a unique value, of another row of their batch or
of a stored record, are refused with that reason before the write, which then takes one
attempt. SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.dataio import run_ahead
from meridian.dataio.mapping import suggest_mapping
from meridian.dataio.mappings import suggested
from meridian.dataio.reading import read_sheet
from meridian.dataio.resolving import Resolver
from meridian.dataio.run_rows import BatchConverter, ImportRun
from meridian.dataio.run_store import outcomes_of
from meridian.dataio.running import BATCH_ROWS, begin_import, run_import
from meridian.errors import ErrorCollector
from meridian.http.deps import Workspace
from meridian.records import listing
from meridian.records.plan import plan_for
from meridian.records.search import record_search_text
from meridian.records.values import RecordParser
from meridian.records.writing import Derived, derived_sources
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import ValueContext
from meridian.schema.model import App, Field, Form
from meridian.schema.name_keys import keys_of
from meridian.solutions.loader import install_solution
from tests.search_index import search_segments

FORM = Form(
    key="company",
    app_key="crm",
    label="客户",
    title_field="name",
    fields=(
        Field(key="name", label="客户名称", type="text", required=True),
        Field(key="uscc", label="统一社会信用代码", type="uscc", unique=True),
        Field(key="city", label="城市", type="text", default="深圳"),
        Field(key="phone", label="手机", type="phone"),
        Field(key="remark", label="备注", type="text"),
        Field(key="employees", label="员工人数", type="integer"),
    ),
)
HEADER = "客户名称,统一社会信用代码,城市,手机,备注,员工人数"
ROWS = [
    "北京云帆科技有限公司,91110000000000131A,北京,138 0013 8000,老客户,12",
    "ACME Trading Co.,911100000000202473,上海,,展会认识 (2024),3",
    "重庆银行股份有限公司,,,13900139000,,",  # no city: the default 深圳 is written
    "腾讯科技（深圳）有限公司,91440300708461136T,深圳,,,5000",
    "腾讯科技(深圳)有限公司,91440300708461136T,深圳,,重复,",  # the same code in the batch
    "阿里云计算有限公司,91110000000000131A,杭州,,,",  # the code of a stored record
    "Ⅻ 全角１２３ 公司,,成都,,,0",
]


def _install(workspace: Workspace, admin: Actor) -> Form:
    install_solution(workspace.engine, admin, App(key="crm", label="CRM"), [FORM])
    with workspace.read() as conn:
        return get_form(conn, "company")


def _run(workspace: Workspace, admin: Actor, path: Path, form: Form, **options: Any) -> Any:
    mapping = suggested(form, suggest_mapping(read_sheet(path, None).header, form))
    state, _ = begin_import(workspace.engine, admin, "company", path, mapping)
    return run_import(
        workspace.engine, admin, state, path, mapping, workspace.tz, batch_rows=50, **options
    )


def test_search_text_and_name_keys_from_the_converting_process_are_the_write_paths(
    workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    form = _install(workspace, admin)
    first = tmp_path / "一.csv"
    first.write_text(HEADER + "\n" + ROWS[0] + "\n", encoding="utf-8")
    assert _run(workspace, admin, first, form, ahead=True).created == 1
    source = tmp_path / "客户.csv"
    lines = [HEADER, *ROWS[1:]]
    lines += [
        f"{'华为' if i % 3 else 'Huawei'}分公司{i}号,,{'' if i % 4 else '武汉'},,备注{i},{i}"
        for i in range(120)
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    ended = _run(workspace, admin, source, form, ahead=True)

    plan = plan_for(form)
    table = plan.tables.main
    with workspace.read() as conn:
        records = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.id))]
        outcomes = {o.number: o for o in outcomes_of(conn, ended.id)}
    assert len(records) == 1 + 120 + 4
    assert {r["city"] for r in records} >= {"深圳", "武汉", "北京"}
    for record in records:
        assert record["_search"] == record_search_text(plan.search_fields, record), record
        assert (record["_name_key"], record["_name_rev"]) == keys_of(record["name"]), record
    assert "chongqingyinhang" in next(
        r["_search"] for r in records if r["name"] == "重庆银行股份有限公司"
    )

    # Rows 4 and 5 share a code: row 4 is written and row 5 refused naming it, as if they were
    # in different batches; row 6 repeats the first file's record's.
    refused = {
        n: [(e["field"], e["code"], e["message"]) for e in o.detail]
        for n, o in outcomes.items()
        if o.outcome == "rejected"
    }
    assert sorted(refused) == [5, 6]
    assert outcomes[4].outcome == "created"
    assert all(reasons == [("uscc", "duplicate", reasons[0][2])] for reasons in refused.values())
    assert "row 4" in refused[5][0][2]
    assert f"record {records[0]['id']}" in refused[6][0][2]


def test_the_write_takes_what_was_computed_ahead_only_for_the_values_it_was_made_from(
    workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    form = _install(workspace, admin)
    source = tmp_path / "客户.csv"
    source.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    mapping = suggested(form, suggest_mapping(read_sheet(source, None).header, form))
    with workspace.read() as conn:
        resolver = Resolver(conn, admin, form, mapping.link_keys, workspace.tz)
    ctx = ValueContext(workspace.tz)
    converter = BatchConverter(form, mapping, resolver, ctx)
    rows = converter.convert_cells(list(read_sheet(source, None).rows), derive=True).rows
    plan, parser = plan_for(form), RecordParser(form)
    sources = derived_sources(plan)
    fitting = []
    for row in rows:
        assert row.derived is not None
        columns = parser.parse({}, ctx, ErrorCollector(), creating=True, checked=row.stored).columns
        written = {**dict.fromkeys(f.key for f in plan.column_fields), **columns}
        fits = row.derived.fits(sources(written))
        fitting.append(fits)
        if fits:
            assert row.derived.search == record_search_text(plan.search_fields, written)
            assert row.derived.name_keys == keys_of(written["name"])
    # Every row but the one the default fills (city) is written with the values given.
    assert fitting == [True, True, False, True, True, True, True]


def test_values_equal_but_read_differently_do_not_fit() -> None:
    made = Derived(("1", 1, Decimal("1.0"), 0.0, None), "1 1 1.0 0.0", (None, None))
    assert made.fits(("1", 1, made.source[2], made.source[3], None))
    assert made.fits((str(1), int("1"), made.source[2], made.source[3], None))
    for changed in (
        ("1", 1.0, made.source[2], made.source[3], None),
        ("1", True, made.source[2], made.source[3], None),
        ("1", 1, Decimal("1"), made.source[3], None),
        ("1", 1, Decimal("1.0"), made.source[3], None),  # equal, but another object
        ("1", 1, made.source[2], -0.0, None),
        ("1", 1, made.source[2], made.source[3], ""),
        ("1", 1, made.source[2], made.source[3]),
    ):
        assert not made.fits(changed), changed


def test_a_batch_repeating_unique_values_reads_them_once_and_is_written_in_one_attempt(
    workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    form = _install(workspace, admin)
    first = tmp_path / "一.csv"
    first.write_text(HEADER + "\n" + ROWS[0] + "\n", encoding="utf-8")
    _run(workspace, admin, first, form)
    source = tmp_path / "客户.csv"
    source.write_text("\n".join([HEADER, *ROWS[1:]]) + "\n", encoding="utf-8")
    table = plan_for(form).tables.main.name
    seen: list[str] = []

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        words = sql.split()
        if words[:3] == ["INSERT", "INTO", table] or (
            words[0] == "SELECT" and table in sql and "uscc" in sql.split("FROM")[0]
        ):
            seen.append(words[0])

    sa.event.listen(workspace.engine, "before_cursor_execute", statement)
    try:
        ended = _run(workspace, admin, source, form)
    finally:
        sa.event.remove(workspace.engine, "before_cursor_execute", statement)
    assert (ended.created, ended.rejected) == (4, 2)
    # One look at the batch's codes; the two rows repeating one refused before the INSERT.
    assert seen.count("SELECT") == 1, seen
    assert seen.count("INSERT") == 1, seen


def test_an_import_leaves_its_search_index_merged(
    workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    """Each committed batch leaves a segment of SQLite's search index; left so, later single
    writes merge them inside their own commits (every 64th write 50–550 ms at 1M records).
    The import merges them once it ends, in short steps, and search finds what it wrote."""
    form = _install(workspace, admin)
    source = tmp_path / "客户.csv"
    rows = [f"华为云分公司{i}号,,,,,{i}" for i in range(240)]
    source.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")

    ended = _run(workspace, admin, source, form)

    assert ended.created == 240
    with workspace.read() as conn:
        if conn.dialect.name == "sqlite":
            assert search_segments(conn, "data_company") == 1
        found = listing.list_records(
            conn=conn,
            actor=admin,
            form=form,
            query=listing.RecordQuery(search="分公司17", limit=50),
        )
    assert sorted(item["name"] for item in found.items) == sorted(
        ["华为云分公司17号", *(f"华为云分公司17{i}号" for i in range(10))]
    )


def test_the_converting_process_hands_a_whole_batch_over_without_waiting_for_the_writer(
    workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    """The child converts the next batch while the writer writes only if handing one over
    does not wait for the writer to read it: a batch of 1,000 rows must fit in the pipe."""
    if not hasattr(fcntl, "F_SETPIPE_SZ"):
        pytest.skip("the pipe's buffer is set on Linux only")
    form = _install(workspace, admin)
    source = tmp_path / "客户.csv"
    lines = [HEADER] + [
        f"{'北京' if i % 2 else '上海'}云帆星河科技{i}有限公司,,杭州,138 {i % 10000:04d} 8000,"
        f"{'老客户' if i % 3 else '展会认识'},{i}"
        for i in range(BATCH_ROWS)
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = suggested(form, suggest_mapping(read_sheet(source, None).header, form))
    with workspace.read() as conn:
        resolver = Resolver(conn, admin, form, mapping.link_keys, workspace.tz)
    converter = BatchConverter(form, mapping, resolver, ValueContext(workspace.tz))
    batch = converter.convert_cells(list(read_sheet(source, None).rows), derive=True)
    assert len(batch.rows) == BATCH_ROWS
    read_end, write_end = run_ahead.pipe()
    try:
        os.set_blocking(write_end, False)
        with os.fdopen(write_end, "wb") as out:
            run_ahead.hand_batch(out, batch)  # BlockingIOError if the pipe cannot hold it
        with os.fdopen(read_end, "rb") as handed:
            kind, payload = run_ahead.take(handed)
        assert kind == "batch"
        assert [row.values for row in run_ahead.unpacked(payload).rows] == [
            row.values for row in batch.rows
        ]
    finally:
        for end in (read_end, write_end):
            with contextlib.suppress(OSError):
                os.close(end)


def test_a_run_converting_ahead_collects_young_objects_less_often_until_it_ends(
    workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    """While batches come from the converting process the collector lets the youngest
    generation grow to ``YOUNG_OBJECTS`` (a tenth of the writer's CPU went to collections);
    closing the batches gives the process its thresholds back."""
    form = _install(workspace, admin)
    source = tmp_path / "客户.csv"
    source.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    mapping = suggested(form, suggest_mapping(read_sheet(source, None).header, form))
    with workspace.read() as conn:
        resolver = Resolver(conn, admin, form, mapping.link_keys, workspace.tz)
    converter = BatchConverter(form, mapping, resolver, ValueContext(workspace.tz))
    run = ImportRun(converter, source, None, mapping.header_row, 2)
    before = gc.get_threshold()
    assert before[0] != run_ahead.YOUNG_OBJECTS

    batches = run_ahead.converted_batches(run)
    with contextlib.closing(batches):
        sizes = []
        for batch in batches:
            assert gc.get_threshold() == (run_ahead.YOUNG_OBJECTS, *before[1:])
            sizes.append(len(batch.rows))
    assert sizes == [2, 2, 2, 1]
    assert gc.get_threshold() == before

    stopped = run_ahead.converted_batches(run)
    next(stopped)
    stopped.close()  # a run ending early (an error, a kill of the writer's loop) too
    assert gc.get_threshold() == before


def test_a_row_repeating_a_unique_value_is_refused_wherever_the_batches_are_cut(
    workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    """The first row holding a code is written and a later one refused, whether the two fall
    in one batch or in two: a row's outcome does not hang on the batch size."""
    form = _install(workspace, admin)
    source = tmp_path / "客户.csv"
    codes = ["91110000000000131A", "911100000000202473", "91440300708461136T"]
    lines = [
        HEADER,
        f"甲公司,{codes[0]},,,,",  # row 2 ┐ one batch of two
        f"甲公司分部,{codes[0]},,,,",  # row 3 ┘ repeats row 2
        f"乙公司,{codes[1]},,,,",  # row 4 ┐
        f"丙公司,{codes[2]},,,,",  # row 5 ┘
        f"丙公司二,{codes[2]},,,,",  # row 6: repeats row 5, a batch later
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = suggested(form, suggest_mapping(read_sheet(source, None).header, form))
    state, _ = begin_import(workspace.engine, admin, "company", source, mapping)
    ended = run_import(workspace.engine, admin, state, source, mapping, workspace.tz, batch_rows=2)
    with workspace.read() as conn:
        outcomes = {o.number: o for o in outcomes_of(conn, ended.id)}
    assert {n: o.outcome for n, o in outcomes.items()} == {
        2: "created",
        3: "rejected",
        4: "created",
        5: "created",
        6: "rejected",
    }
    assert "row 2" in outcomes[3].detail[0]["message"]
    assert f"record {outcomes[5].record_id}" in outcomes[6].detail[0]["message"]
