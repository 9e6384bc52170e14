"""An edit refused because someone saved first: what still applies, what clashes."""

from __future__ import annotations

import pytest

from meridian.access import manage
from meridian.access.actors import load_actor
from meridian.access.users import get_user_id
from meridian.core.actor import Actor
from meridian.errors import StaleVersion
from meridian.http.deps import Workspace
from meridian.records import conflicts, service
from meridian.schema.catalog import get_form
from tests.forms import STAGE, install_forms, lead_form

PASSWORD = "both-saved-4-fun"


def _lead(workspace: Workspace) -> int:
    with workspace.transaction() as conn:
        install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "客户名称", "type": "text"},
                STAGE,
                {"key": "amount", "label": "金额", "type": "money"},
                {"key": "note", "label": "备注", "type": "long_text"},
                {"key": "due", "label": "跟进日期", "type": "date"},
                {"key": "floor_price", "label": "底价", "type": "money"},
            ),
        )
        created = service.create_record(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "lead"),
            values={"name": "华为云", "stage": "new", "amount": "1200", "floor_price": "900"},
        )
    return int(created["id"])


def _update(workspace: Workspace, record_id: int, **values: object) -> None:
    with workspace.transaction() as conn:
        service.update_record(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "lead"),
            record_id=record_id,
            values=values,
        )


def test_only_fields_both_changed_clash_and_the_editors_other_changes_are_kept(
    workspace: Workspace,
) -> None:
    record_id = _lead(workspace)
    # Someone else saves twice while the editor has version 1 open.
    _update(workspace, record_id, name="华为云计算", stage="won")
    _update(workspace, record_id, due="2026-12-24", note="客户要求尽快报价")
    mine = {
        "name": "华为云（华东）",  # both changed it, differently: a conflict
        "stage": "new",  # left as the editor found it: theirs stands
        "amount": "1200.00",  # the same amount written differently: unchanged
        "note": "客户要求尽快报价",  # the same change on both sides: no conflict
        "due": "2026-12-24",
    }
    with workspace.read() as conn:
        form = get_form(conn, "lead")
        with pytest.raises(StaleVersion):
            service.update_record(
                conn=conn,
                actor=Actor.system(),
                form=form,
                record_id=record_id,
                values=mine,
                expected_version=1,
            )
        found = conflicts.reconcile(
            conn=conn,
            actor=Actor.system(),
            form=form,
            record_id=record_id,
            base_version=1,
            mine={**mine, "amount": "1300"},  # and one change only the editor made
        )
    assert found.version == 3
    assert [(c.key, c.base, c.theirs, c.mine) for c in found.conflicts] == [
        ("name", "华为云", "华为云计算", "华为云（华东）")
    ]
    assert found.mine == ["amount"]
    assert set(found.theirs) == {"stage", "due", "note"}
    assert found.values == {"name": "华为云（华东）", "amount": "1300"}
    assert found.changed_by == [None]
    # Saved again against the new version, the editor's values apply and theirs stay.
    with workspace.transaction() as conn:
        saved = service.update_record(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "lead"),
            record_id=record_id,
            values=found.values,
            expected_version=found.version,
        )
    assert (saved["name"], saved["amount"], saved["stage"], saved["due"]) == (
        "华为云（华东）",
        "1300.00",
        "won",
        "2026-12-24",
    )


def test_a_field_hidden_from_the_editor_is_never_compared_or_shown(
    workspace: Workspace,
) -> None:
    record_id = _lead(workspace)
    with workspace.transaction() as conn:
        manage.add_user(
            conn,
            Actor.system(),
            email="m@acme.test",
            name="Mei",
            password=PASSWORD,
            passwords=workspace.passwords,
            roles=["member"],
            must_change_password=False,
        )
        manage.set_form_permissions(
            conn,
            Actor.system(),
            "member",
            get_form(conn, "lead"),
            {"read": "all", "update": "all", "fields": {"floor_price": "hidden"}},
        )
    _update(workspace, record_id, floor_price="800", stage="won")
    with workspace.read() as conn:
        member = load_actor(conn, get_user_id(conn, "m@acme.test"))
        found = conflicts.reconcile(
            conn=conn,
            actor=member,
            form=get_form(conn, "lead"),
            record_id=record_id,
            base_version=1,
            mine={"stage": "new", "name": "华为"},
        )
    assert found.theirs == ["stage"]
    assert "floor_price" not in found.record
    assert [c.key for c in found.conflicts] == []
    assert found.values == {"name": "华为"}
