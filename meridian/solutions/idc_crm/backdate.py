"""The sample records' creation moved to when the sample says each happened.

The sample loader creates every record at load time, while its story lies in the past: a
deal's stage history starts months ago, its follow-ups were logged then, its contract was
signed when it was won. Left so, every follow-up came before the deal it answers (no
first-response time), and a customer was created after its own payments. So, once the stage
history is written, each record's ``created_at`` (and its history's creation entry) is set,
one UPDATE per form, to:

============  ==========================================================================
opportunity   its first stage visit (its entry into the pipeline)
quote         its opportunity's first visit to 方案/报价 (proposal), else the opportunity's
contract      its opportunity's win, else its start day
payment       its day, 10:00 in the company zone
followup      when it occurred
customer      the earliest of its opportunities, follow-ups and contracts, a week before
contact       its customer's
============  ==========================================================================

never later than the load itself. ``updated_at`` stays the load's moment (after each).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from meridian.core.clock import utcnow
from meridian.db.tables import record_history, stage_visits
from meridian.db.types import UTCDateTime
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form

Sql = ColumnElement[Any]
CUSTOMER_LEAD = timedelta(days=7)
"""A customer is on file a week before the first thing that happened with it."""


def backdate_samples(engine: Engine) -> None:
    """Move each sample record's creation to its own past (see the module's table)."""
    with engine.begin() as conn:
        now = sa.literal(utcnow(conn), UTCDateTime())
        t = {key: compile_form(get_form(conn, key)).main for key in _FORMS}
        opportunity, visit = t["opportunity"], stage_visits

        def first_visit(record: Sql, stage: str | None = None) -> Sql:
            found = sa.select(sa.func.min(visit.c.entered_at)).where(
                visit.c.form_key == "opportunity", visit.c.record_id == record
            )
            if stage is not None:
                found = found.where(visit.c.stage_key == stage)
            return found.scalar_subquery()

        def created_of(table: sa.Table, record: Sql) -> Sql:
            return sa.select(table.c.created_at).where(table.c.id == record).scalar_subquery()

        _set(conn, opportunity, first_visit(opportunity.c.id), now)
        quote = t["quote"]
        _set(
            conn,
            quote,
            sa.func.coalesce(
                first_visit(quote.c.opportunity, "proposal"),
                created_of(opportunity, quote.c.opportunity),
            ),
            now,
        )
        contract = t["contract"]
        _set(
            conn,
            contract,
            sa.func.coalesce(
                first_visit(contract.c.opportunity, "won"), _morning(conn, contract.c.start_date)
            ),
            now,
        )
        payment, followup = t["payment"], t["followup"]
        _set(conn, payment, _morning(conn, payment.c.paid_on), now)
        _set(conn, followup, followup.c.occurred_at, now)
        customer = t["customer"]
        # The earliest of each source's own earliest, each found through the source's
        # customer index: a min over their UNION ALL filtered by customer made SQLite scan
        # all three tables once per customer (20k customers at 100k: most of the demo's time).
        firsts = [
            sa.select(
                sa.select(sa.func.min(source.c.created_at))
                .where(source.c.customer == customer.c.id)
                .correlate(customer)
                .scalar_subquery()
                .label("at")
            )
            for source in (opportunity, followup, contract)
        ]
        happened = sa.union_all(*firsts).subquery("happened")
        earliest = sa.select(sa.func.min(happened.c.at)).scalar_subquery()
        _set(conn, customer, _minus(conn, earliest, CUSTOMER_LEAD), now)
        contact = t["contact"]
        _set(conn, contact, created_of(customer, contact.c.customer), now)
        for key, table in t.items():
            conn.execute(
                record_history.update()
                .where(record_history.c.form_key == key, record_history.c.action == "create")
                .values(at=created_of(table, record_history.c.record_id))
            )


_FORMS = ("opportunity", "quote", "contract", "payment", "followup", "customer", "contact")


def _set(conn: Connection, table: sa.Table, moment: Sql, now: Sql) -> None:
    """``created_at`` := ``moment`` where it is known and not after the load."""
    conn.execute(table.update().where(moment.is_not(None), moment <= now).values(created_at=moment))


def _morning(conn: Connection, day: Sql) -> Sql:
    """10:00 in Asia/Shanghai (02:00 UTC) of a date column, as a stored time."""
    if conn.dialect.name == "postgresql":
        return sa.type_coerce(
            sa.func.timezone("UTC", sa.cast(day, sa.DateTime()) + sa.text("interval '2 hours'")),
            UTCDateTime(),
        )
    return sa.type_coerce(
        sa.type_coerce(day, sa.String()).concat(" 02:00:00.000000"), UTCDateTime()
    )


def _minus(conn: Connection, moment: Sql, lead: timedelta) -> Sql:
    hours = int(lead.total_seconds() // 3600)
    if conn.dialect.name == "postgresql":
        return sa.type_coerce(moment - sa.text(f"interval '{hours} hours'"), UTCDateTime())
    return sa.type_coerce(
        sa.func.strftime("%Y-%m-%d %H:%M:%f000", moment, f"-{hours} hours"), UTCDateTime()
    )
