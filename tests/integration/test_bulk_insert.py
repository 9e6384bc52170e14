"""The driver-level bulk insert stores every value exactly as SQLAlchemy's insert does, given
as rows or as columns."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.db.bulk import insert_columns, insert_many
from meridian.db.types import BigId, JSONType, UTCDateTime
from meridian.db.writes import writes_to


def test_bulk_rows_are_stored_like_single_inserts(engine: Engine) -> None:
    metadata = sa.MetaData()
    table = sa.Table(
        "bulk_probe",
        metadata,
        sa.Column("id", BigId, primary_key=True),
        sa.Column("number", sa.BigInteger),
        sa.Column("flag", sa.Boolean),
        sa.Column("name", sa.Text),
        sa.Column("code", sa.String(20)),
        sa.Column("day", sa.Date),
        sa.Column("moment", UTCDateTime),
        sa.Column("tags", JSONType),
    )
    metadata.create_all(engine)
    values = [
        {
            "number": 12345678901234,
            "flag": True,
            "name": "华为云 'quoted'",
            "code": "A-1",
            "day": date(999, 12, 31),
            "moment": datetime(2026, 1, 31, 9, 30, tzinfo=timezone(timedelta(hours=8))),
            "tags": ["idc", "cdn"],
        },
        {
            "number": None,
            "flag": False,
            "name": None,
            "code": None,
            "day": None,
            "moment": datetime(2026, 6, 30, 23, 59, 59, 1, tzinfo=UTC),
            "tags": None,
        },
    ]
    # A batch shares values (one moment for every row's created_at): each is processed once
    # and stored in every row.
    shared = {**values[0], "number": 7}
    values += [shared, {**shared, "number": 8}, values[1]]
    count = len(values)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i + 1, **row} for i, row in enumerate(values)])
        insert_many(conn, table, [{"id": i + 101, **row} for i, row in enumerate(values)])
        insert_many(conn, table, [])
        keys = ["id", *values[0]]
        rows = [{"id": i + 201, **row} for i, row in enumerate(values)]
        insert_columns(conn, table, {key: [row[key] for row in rows] for key in keys})
        stored = conn.exec_driver_sql("SELECT * FROM bulk_probe ORDER BY id").all()
        read = conn.execute(sa.select(table).order_by(table.c.id)).all()
    assert [row[1:] for row in stored[:count]] == [row[1:] for row in stored[count : 2 * count]]
    assert [row[1:] for row in stored[:count]] == [row[1:] for row in stored[2 * count :]]
    assert [row[1:] for row in read[:count]] == [row[1:] for row in read[count : 2 * count]]
    assert [row[1:] for row in read[:count]] == [row[1:] for row in read[2 * count :]]
    assert read[count].moment == datetime(2026, 1, 31, 1, 30, tzinfo=UTC)
    assert [row.number for row in read[count : 2 * count]] == [12345678901234, None, 7, 8, None]
    assert read[count + 3].tags == ["idc", "cdn"] and read[count + 4].moment == values[1]["moment"]
    metadata.drop_all(engine)


def test_a_bulk_insert_counts_as_a_write_of_its_table(engine: Engine) -> None:
    """A writer answering from its own INSERT … RETURNING compares ``writes_to`` before and
    after what follows it: an insert sent to the driver as text must move the count too."""
    table = sa.Table(
        "bulk_counted",
        sa.MetaData(),
        sa.Column("id", BigId, primary_key=True),
        sa.Column("n", sa.Integer),
    )
    table.create(engine)
    with engine.begin() as conn:
        before = writes_to(conn, table)
        insert_many(conn, table, [{"id": 1, "n": 1}, {"id": 2, "n": 2}])
        assert writes_to(conn, table) == before + 1
        insert_columns(conn, table, {"id": [3], "n": [3]})
        assert writes_to(conn, table) == before + 2
        conn.execute(table.insert(), {"id": 4, "n": 4})
        assert writes_to(conn, table) == before + 3
