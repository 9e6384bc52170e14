"""The name keys every record keeps (``_name_key``, ``_name_rev``): written by every write
path in the statement that writes the record, recomputed when the form's title field changes,
never shown as a value (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.records.bulk import create_records, update_records
from meridian.records.merging import merge_records
from meridian.records.service import create_record, get_record, update_record
from meridian.schema.catalog import get_form, store_form
from meridian.schema.model import Form
from tests.forms import install_forms

CUSTOMER = {
    "key": "customer",
    "label": "客户",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "客户名称", "type": "text"},
        {"key": "city", "label": "城市", "type": "text"},
        {"key": "staff", "label": "人数", "type": "integer"},
    ],
}


@pytest.fixture
def customer(workspace: Workspace) -> Form:
    with workspace.transaction() as conn:
        [form] = install_forms(conn, CUSTOMER)
    return form


def _keys(workspace: Workspace) -> dict[int, tuple[Any, Any]]:
    with workspace.read() as conn:
        rows = conn.exec_driver_sql("SELECT id, _name_key, _name_rev FROM data_customer")
        return {row[0]: (row[1], row[2]) for row in rows}


def test_every_write_path_keeps_the_name_keys(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    with workspace.transaction() as conn:
        one = create_record(
            conn=conn, actor=admin, form=customer, values={"name": "腾讯科技（深圳）有限责任公司"}
        )["id"]
        two, three, blank = create_records(
            conn=conn,
            actor=admin,
            form=customer,
            items=[
                {"name": "ＡＣＭＥ 云计算有限公司"},
                {"name": "北京字节跳动科技有限公司"},
                {"city": "深圳"},
            ],
        )
    assert _keys(workspace) == {
        one: ("腾讯科技(深圳)", ")圳深(技科讯腾"),
        two: ("acme云计算", "算计云emca"),
        three: ("北京字节跳动科技", "技科动跳节字京北"),
        blank: (None, None),
    }
    with workspace.transaction() as conn:
        update_record(conn=conn, actor=admin, form=customer, record_id=one, values={"city": "深圳"})
        update_record(
            conn=conn,
            actor=admin,
            form=customer,
            record_id=blank,
            values={"name": "阿里云有限公司"},
        )
        update_records(
            conn=conn,
            actor=admin,
            form=customer,
            record_ids=[two, three],
            values={"name": "甲乙丙"},
        )
        record = get_record(conn=conn, actor=admin, form=customer, record_id=one)
    assert "_name_key" not in record and "_name_rev" not in record
    keys = _keys(workspace)
    assert keys[one] == ("腾讯科技(深圳)", ")圳深(技科讯腾")
    assert keys[blank] == ("阿里云", "云里阿")
    assert keys[two] == keys[three] == ("甲乙丙", "丙乙甲")
    with workspace.transaction() as conn:
        merge_records(
            conn=conn,
            actor=admin,
            form=customer,
            record_id=blank,
            other_id=one,
            fields={"name": "other"},
        )
    assert _keys(workspace)[blank] == ("腾讯科技(深圳)", ")圳深(技科讯腾")


def test_a_new_title_field_recomputes_every_records_keys(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    with workspace.transaction() as conn:
        first, second = create_records(
            conn=conn,
            actor=admin,
            form=customer,
            items=[{"name": "甲有限公司", "city": "深圳 市", "staff": 3}, {"name": "乙"}],
        )
        store_form(
            conn, customer.model_copy(update={"title_field": "city", "version": 2}), new=False
        )
    assert _keys(workspace) == {first: ("深圳市", "市圳深"), second: (None, None)}
    with workspace.transaction() as conn:
        form = get_form(conn, "customer")
        store_form(conn, form.model_copy(update={"title_field": "staff", "version": 3}), new=False)
    assert _keys(workspace) == {first: (None, None), second: (None, None)}
