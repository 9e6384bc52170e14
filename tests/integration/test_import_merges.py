"""The merges of an import batch (``dataio/run_writes.py``): the records they change read once
for the batch, each merge written through ``update_record`` with what it replaced kept for the
rollback — also when an earlier row of the batch changed the same record — and a merge with
nothing to fill written not at all, only checked; the values of two rows merging into one
record (``dedup_run``). SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from meridian.access.organisation import create_role
from meridian.access.permissions import set_form_rules
from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.dataio.dedup_run import duplicate_finder
from meridian.dataio.run_decisions import Decision, PendingRow
from meridian.dataio.run_rows import BatchRow
from meridian.dataio.run_writes import _update, write_batch
from meridian.http.deps import Workspace
from meridian.records.bulk import create_records
from meridian.records.reads import get_record
from meridian.schema.model import Form
from tests.forms import install_forms
from tests.integration.test_import_dedup import CUSTOMER


@pytest.fixture
def customer(workspace: Workspace, admin: Actor) -> Form:
    with workspace.transaction() as conn:
        [form] = install_forms(conn, CUSTOMER)
    return form


def _create(workspace: Workspace, actor: Actor, form: Form, *items: dict[str, Any]) -> list[int]:
    with workspace.transaction() as conn:
        return create_records(conn=conn, actor=actor, form=form, items=list(items))


def _merge(record_id: int, **values: Any) -> Decision:
    return Decision("merge", record_id, values=values)


def _write(
    workspace: Workspace, actor: Actor, form: Form, decisions: list[Decision]
) -> list[tuple[int, str, int | None, Any]]:
    rows = [BatchRow(number, ()) for number in range(2, len(decisions) + 2)]
    with workspace.transaction() as conn:
        outcomes = write_batch(conn, actor, form, rows, decisions, workspace.tz)
    return [tuple(outcome) for outcome in outcomes]  # type: ignore[misc]


def _record(workspace: Workspace, actor: Actor, form: Form, record_id: int) -> dict[str, Any]:
    with workspace.read() as conn:
        return get_record(conn=conn, actor=actor, form=form, record_id=record_id)


def test_merges_into_one_record_keep_each_what_it_replaced(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    """Two rows filling fields of one record, one with nothing left to fill, one with nothing
    to fill in another record, one into a record that is not there: each its outcome, the
    filled ones with the value each replaced and the version each left."""
    first, second = _create(workspace, admin, customer, {"name": "甲"}, {"name": "乙"})
    version = _record(workspace, admin, customer, first)["_version"]
    other = _record(workspace, admin, customer, second)["_version"]
    outcomes = _write(
        workspace,
        admin,
        customer,
        [
            _merge(first, phone="+8613800138000"),
            _merge(first, email="a@x.test"),
            _merge(second),
            _merge(first),
            _merge(999_999),
        ],
    )
    assert outcomes[:4] == [
        (2, "merged", first, {"before": {"phone": None}, "version": version + 1}),
        (3, "merged", first, {"before": {"email": None}, "version": version + 2}),
        (4, "merged", second, {"before": {}, "version": other}),
        (5, "merged", first, {"before": {}, "version": version + 2}),
    ]
    number, outcome, record_id, [reason] = outcomes[4]
    assert (number, outcome, record_id, reason["code"]) == (6, "rejected", 999_999, "not_found")
    stored = _record(workspace, admin, customer, first)
    assert (stored["phone"], stored["email"], stored["_version"]) == (
        "+8613800138000",
        "a@x.test",
        version + 2,
    )
    assert _record(workspace, admin, customer, second)["_version"] == other


def test_a_merge_with_nothing_to_fill_is_refused_where_the_importer_may_not_update(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    """Written or not, a merge needs the right to update its record: the rep may read every
    customer but update only its own."""
    with workspace.transaction() as conn:
        create_role(conn=conn, key="rep", label="销售")
        set_form_rules(conn, "rep", customer, {"read": "all", "update": "own", "create": True})
        user_id = create_user(
            conn=conn,
            email="rep@acme.test",
            name="Rep",
            password="correct horse",
            passwords=workspace.passwords,
        )
    rep = Actor(user_id=user_id, roles=frozenset({"rep"}), name="Rep")
    [theirs] = _create(workspace, admin, customer, {"name": "甲"})
    [mine] = _create(workspace, rep, customer, {"name": "乙"})
    outcomes = _write(workspace, rep, customer, [_merge(theirs), _merge(mine)])
    number, outcome, record_id, [reason] = outcomes[0]
    assert (number, outcome, record_id, reason["code"]) == (
        2,
        "rejected",
        theirs,
        "permission_denied",
    )
    version = _record(workspace, rep, customer, mine)["_version"]
    assert outcomes[1] == (3, "merged", mine, {"before": {}, "version": version})


def test_a_record_changed_since_the_batch_read_it_is_read_again(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    """What a merge replaced is the record as it was just before the merge, not as the batch
    read it: a record written since (a rule set off by an earlier row's write) is read
    again."""
    [record_id] = _create(workspace, admin, customer, {"name": "甲", "city": "深圳"})
    read = _record(workspace, admin, customer, record_id)
    with workspace.transaction() as conn:
        conn.execute(sa.text("UPDATE data_customer SET city = '广州', _version = _version + 1"))
    befores = {record_id: read}
    row = BatchRow(2, ())
    with workspace.transaction() as conn:
        outcome = _update(
            conn, admin, customer, row, _merge(record_id, city="杭州"), workspace.tz, befores
        )
    assert outcome == (
        2,
        "merged",
        record_id,
        {"before": {"city": "广州"}, "version": read["_version"] + 2},
    )
    assert befores[record_id]["city"] == "杭州"


def test_two_rows_merging_into_one_record_fill_only_what_the_first_left_empty(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    """The second row of a batch merging into a record does not overwrite what the first
    filled: both are compared with the record as the batch leaves it."""
    [record_id] = _create(workspace, admin, customer, {"name": "腾讯科技（深圳）有限公司"})
    finder = duplicate_finder(actor=admin, form=customer, mode="merge", tz=workspace.tz)
    assert finder is not None
    batch = [
        PendingRow(2, {"name": "腾讯科技（深圳）有限责任公司", "city": "深圳"}),
        PendingRow(3, {"name": "腾讯科技(深圳)有限公司", "city": "广州", "email": "a@qq.test"}),
    ]
    with workspace.read() as conn:
        decisions = finder.find_duplicates(conn, batch)
    assert [(d.action, d.record_id, d.values) for d in decisions] == [
        ("merge", record_id, {"city": "深圳"}),
        ("merge", record_id, {"email": "a@qq.test"}),
    ]
