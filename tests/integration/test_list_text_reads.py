"""A list page reads dates, date-times and multi-selects as text and turns that text straight
into API values (``db.types.listed_as_text``: SQLite's stored text, PostgreSQL's written alike
by the server); what it answers must be exactly what reading each record the obvious way
answers — on both databases, whatever the session's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.records import bulk, listing, reads
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from tests.forms import install_forms

CARRIERS = [{"value": v, "label": v.upper()} for v in ("ct", "cu", "cm", "cbn")]


def test_a_list_page_reads_as_each_record_reads(workspace: Workspace, admin: Actor) -> None:
    with workspace.transaction() as conn:
        install_forms(
            conn,
            {
                "key": "circuit",
                "label": "专线",
                "title_field": "name",
                "fields": [
                    {"key": "name", "label": "名称", "type": "text"},
                    {"key": "opened", "label": "开通", "type": "date"},
                    {"key": "checked_at", "label": "巡检", "type": "datetime"},
                    {
                        "key": "carriers",
                        "label": "运营商",
                        "type": "multi_select",
                        "options": CARRIERS,
                    },
                ],
            },
        )
        form = get_form(conn, "circuit")
        start = datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
        items = [
            {
                "name": f"专线 {n}",
                "opened": None if n % 5 == 0 else f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
                "checked_at": None
                if n % 7 == 0
                else (
                    start + timedelta(hours=n * 13, microseconds=0 if n % 2 else 1234 * n)
                ).isoformat(),
                "carriers": [c["value"] for c in CARRIERS[: n % 5]],
            }
            for n in range(40)
        ]
        ids = bulk.create_records(conn=conn, actor=admin, form=form, items=items)
        table = compile_form(form).main  # one record trashed: its deleted_at read too
        conn.execute(table.update().where(table.c.id == ids[3]).values(deleted_at=start))
    for zone in ("UTC", "Asia/Shanghai"):
        with workspace.read() as conn:
            if conn.dialect.name == "postgresql":  # the session's time zone must not matter
                conn.exec_driver_sql(f"SET LOCAL TimeZone = '{zone}'")
            form = get_form(conn, "circuit")
            for deleted in (False, True):
                page = listing.list_records(
                    conn=conn,
                    actor=admin,
                    form=form,
                    query=listing.RecordQuery(sort="name", limit=100, deleted=deleted),
                )
                assert page.items, deleted
                for item in page.items:
                    one = reads.get_record(
                        conn=conn,
                        actor=admin,
                        form=form,
                        record_id=item["id"],
                        include_deleted=True,
                    )
                    assert item == one, (zone, item, one)
