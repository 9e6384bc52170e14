"""A contract form, a small company and approval flows for the approval engine's tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meridian.access.actors import load_actor
from meridian.access.organisation import create_department, set_user_departments, set_user_roles
from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.db.tables import users
from meridian.flows.approvals import definitions
from meridian.http.deps import Workspace
from meridian.records.service import create_record
from meridian.schema.changes import create_app, create_form
from meridian.schema.model import App, Field, Form, SelectOption

CONTRACT = Form(
    key="contract",
    app_key="crm",
    label="合同",
    title_field="name",
    fields=(
        Field(key="name", label="名称", type="text"),
        Field(key="amount", label="金额", type="money"),
        Field(key="discount", label="折扣", type="percent"),
        Field(key="note", label="审批意见", type="text"),
        Field(key="reviewer", label="复核人", type="user"),
        Field(
            key="stage",
            label="阶段",
            type="select",
            options=(
                SelectOption(value="negotiation", label="谈判"),
                SelectOption(value="signed", label="签约"),
            ),
        ),
    ),
)

PEOPLE = ("sales", "manager", "legal", "finance", "vp", "cfo", "clerk")


@dataclass
class Company:
    """Users by role name, as actors; the workspace they live in."""

    workspace: Workspace
    admin: Actor
    people: dict[str, Actor]

    def __getitem__(self, name: str) -> Actor:
        return self.people[name]

    def id(self, name: str) -> int:
        user_id = self.people[name].user_id
        assert user_id is not None
        return user_id

    def flow(
        self, key: str, nodes: list[Mapping[str, Any]], label: str = "合同审批"
    ) -> dict[str, Any]:
        with self.workspace.transaction() as conn:
            return definitions.save_flow(
                conn,
                self.admin,
                {"key": key, "form": "contract", "label": label, "definition": {"nodes": nodes}},
            )

    def contract(self, amount: str = "50000", owner: str = "sales", **values: Any) -> int:
        with self.workspace.transaction() as conn:
            record = create_record(
                conn=conn,
                actor=self.people[owner],
                form=CONTRACT,
                values={"name": "ACME-IDC-2026", "amount": amount, **values},
            )
        return int(record["id"])


def build_company(workspace: Workspace, admin: Actor) -> Company:
    """销售 (a member in 华东销售, managed by 经理), legal, finance, VP, CFO, a clerk."""
    with workspace.transaction() as conn:
        create_app(conn=conn, actor=admin, app=App(key="crm", label="CRM"))
        create_form(conn=conn, actor=admin, form=CONTRACT)
        ids = {
            name: create_user(
                conn=conn,
                email=f"{name}@acme.test",
                name=name.title(),
                password="correct horse",
                passwords=workspace.passwords,
            )
            for name in PEOPLE
        }
        head = create_department(conn=conn, name="总部", manager_id=ids["vp"])
        east = create_department(
            conn=conn, name="华东销售", parent_id=head, manager_id=ids["manager"]
        )
        set_user_departments(conn, ids["sales"], east)
        set_user_departments(conn, ids["manager"], east)
        for name in PEOPLE:
            set_user_roles(conn, ids[name], ["member"])
        set_user_roles(conn, ids["vp"], ["member", "manager"])
        conn.execute(
            users.update().where(users.c.id == ids["sales"]).values(manager_id=ids["manager"])
        )
        conn.execute(
            users.update().where(users.c.id == ids["manager"]).values(manager_id=ids["vp"])
        )
        people = {name: load_actor(conn, user_id) for name, user_id in ids.items()}
    return Company(workspace, admin, people)


def user(company: Company, *names: str) -> dict[str, Any]:
    return {"type": "user", "ids": [company.id(n) for n in names]}


def approver(
    node_id: str, company: Company, *names: str, mode: str = "single", **extra: Any
) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "approver",
        "mode": mode,
        "approvers": [user(company, *names)],
        **extra,
    }
