"""The demo's sales team: the four regional sales departments the new-lead rule's territories
name (华北/华东/华南/西部销售部), each with a manager and two reps, so that territory
assignment works out of the box. Idempotent: a department or person already there is kept.

The reps get a random password nobody is told (an administrator resets it to hand the
account over); they sign in only once someone does."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.access import manage, organisation
from meridian.access.passwords import Passwords
from meridian.core.actor import Actor
from meridian.db.tables import departments, users

TEAM: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("华北销售部", (("周北", "manager", "zhou.bei"), ("吴京", "member", "wu.jing"),
                    ("郑冀", "member", "zheng.ji"))),
    ("华东销售部", (("王沪", "manager", "wang.hu"), ("李苏", "member", "li.su"),
                    ("陈浙", "member", "chen.zhe"))),
    ("华南销售部", (("黄粤", "manager", "huang.yue"), ("林深", "member", "lin.shen"),
                    ("何珠", "member", "he.zhu"))),
    ("西部销售部", (("杨蜀", "manager", "yang.shu"), ("赵渝", "member", "zhao.yu"),
                    ("马陕", "member", "ma.shan"))),
)  # fmt: skip
"""Department → (name, role, login) of its people; the first, a manager, heads it."""
DOMAIN = "idc-demo.local"


def seed_sales_team(engine: Engine, passwords: Passwords) -> dict[str, list[int]]:
    """Create what is missing of the sales team; answers department name → its people's ids."""
    found: dict[str, list[int]] = {}
    with engine.begin() as conn:
        for name, people in TEAM:
            department = conn.scalar(
                sa.select(departments.c.id).where(
                    departments.c.name == name, departments.c.parent_id.is_(None)
                )
            )
            if department is None:
                department = organisation.create_department(conn=conn, name=name)
            ids = []
            for person, role, login in people:
                email = f"{login}@{DOMAIN}"
                user_id = conn.scalar(sa.select(users.c.id).where(users.c.email == email))
                if user_id is None:
                    user_id = manage.add_user(
                        conn,
                        Actor.system(),
                        email=email,
                        name=person,
                        password=secrets.token_urlsafe(18) + "a7",  # letters and digits, always
                        passwords=passwords,
                        roles=[role],
                        must_change_password=True,
                    )["id"]
                    organisation.set_user_departments(conn, user_id, department)
                ids.append(int(user_id))
            manager = ids[0]
            conn.execute(
                departments.update()
                .where(departments.c.id == department, departments.c.manager_id.is_(None))
                .values(manager_id=manager)
            )
            found[name] = ids
    return found
