"""Assignment by territory: a value of the record says which people may take it.

An ``assign`` action with ``"strategy": "territory"`` reads ``field`` — a field of the record,
or a field of a linked record such as ``customer.region`` — and looks it up in
``territories``. A territory names either one user (an id) or a pool the least-loaded member
of which takes the record: ``{"users": [ids]}``, ``{"role": key}`` or ``{"department": id or
name}``. A department may be named, so that a shipped solution can speak of 华东销售部 before
the workspace has one (an unknown name is an empty pool, never an error).

``"match": "prefix"`` takes the longest territory key the value starts with, which is how a
region code (GB/T 2260: ``310115`` is in Shanghai, ``31``) falls into a province's territory.
When no territory matches, or its pool is empty, ``default`` decides: a user id, or a strategy
(``round_robin`` / ``least_loaded``) over a pool as in :mod:`meridian.rules.owners`.

``"keep_pool_owner": true`` keeps an owner who already belongs to one of the action's pools
(any territory's, or the default's): a lead a sales rep entered as their own stays theirs,
while one an administrator or an assistant entered is handed out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import organisation
from meridian.core.i18n import Text
from meridian.db.tables import departments
from meridian.errors import ErrorCollector
from meridian.rules import owners
from meridian.rules.definitions import check_expression
from meridian.rules.values import computed_values
from meridian.schema.model import Form

POOLS = ("users", "role", "department")
MATCHES = ("exact", "prefix")


def check(
    conn: Connection, form: Form, action: Mapping[str, Any], path: str, errors: ErrorCollector
) -> None:
    """Add every problem of a territory assignment to ``errors``."""
    key = action.get("field")
    if not isinstance(key, str) or "." not in key:
        if form.get_field(str(key)) is None:
            errors.add(f"{path}.field", "unknown_field", Text("no such field"), key)
    else:
        check_expression(conn, form, key, f"{path}.field", errors, condition=False)
    if action.get("match", "exact") not in MATCHES:
        errors.add(f"{path}.match", "invalid_match", ", ".join(MATCHES), action.get("match"))
    territories = action.get("territories")
    if (
        not isinstance(territories, Mapping)
        or not territories
        or not all(_a_user(v) or _a_pool(v) for v in territories.values())
    ):
        errors.add(
            f"{path}.territories",
            "invalid_territories",
            Text("expected {shape}", shape="{value: user id | users | role | department}"),
            territories,
        )
    if not isinstance(action.get("keep_pool_owner", False), bool):
        errors.add(
            f"{path}.keep_pool_owner",
            "invalid",
            Text("true or false"),
            action.get("keep_pool_owner"),
        )
    default = action.get("default")
    if isinstance(default, Mapping):
        owners.check_strategy(conn, default, f"{path}.default", errors)
    elif default is not None and not _a_user(default):
        errors.add(f"{path}.default", "invalid_default", Text("a user id or a strategy"), default)


def choose(
    conn: Connection,
    *,
    form: Form,
    rule_id: int,
    record_id: int,
    action: Mapping[str, Any],
    tz: ZoneInfo,
) -> tuple[int | None, str]:
    """The owner the territories give the record, and why, in both languages."""
    found = computed_values(
        conn,
        form,
        record_id,
        {"value": _source(action["field"]), "owner": {"field": "owner_id"}},
        tz,
    )
    value = found["value"]
    current = found["owner"]
    if (
        action.get("keep_pool_owner")
        and current is not None
        and int(current) in _pooled(conn, action)
    ):
        return int(current), "已是销售人员，保留 / kept: the owner is one of the sales people"
    territory = _territory(action["territories"], value, action.get("match", "exact"))
    owner = _from(conn, form, record_id, action["territories"][territory]) if territory else None
    if owner is not None:
        return owner, f"按区域分配 / territory: {value}"
    default = action.get("default")
    if isinstance(default, Mapping):
        owner = owners.pick(conn, rule_id=rule_id, form=form, choice=default, exclude=record_id)
        how = (
            "轮询 / round robin"
            if default["strategy"] == "round_robin"
            else "最少在手 / least loaded"
        )
        return owner, f"区域未匹配，{how} / no territory for {value}"
    return default, f"区域未匹配 / no territory for {value}"


def _pooled(conn: Connection, action: Mapping[str, Any]) -> set[int]:
    """Everyone the action could hand a record to: every territory's pool and the default's."""
    people: set[int] = set()
    for territory in action["territories"].values():
        people |= {int(territory)} if _a_user(territory) else set(_members(conn, territory))
    default = action.get("default")
    if isinstance(default, Mapping):
        people |= set(owners.candidates(conn, default))
    elif isinstance(default, int):
        people.add(default)
    return people


def _source(key: str) -> dict[str, str]:
    return {"expr": key} if "." in key else {"field": key}


def _territory(territories: Mapping[str, Any], value: Any, match: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    if match == "exact":
        return text if text in territories else None
    keys = [key for key in territories if key and text.startswith(key)]
    return max(keys, key=len) if keys else None


def _from(conn: Connection, form: Form, record_id: int, territory: Any) -> int | None:
    """One user, or the least-loaded member of the territory's pool (None when it is empty)."""
    if _a_user(territory):
        return int(territory)
    people = _members(conn, territory)
    return owners.least_loaded(conn, form, people, record_id)[0] if people else None


def _members(conn: Connection, pool: Mapping[str, Any]) -> list[int]:
    if "users" in pool:
        return list(pool["users"])
    if "role" in pool:
        return organisation.active_members(conn, role=str(pool["role"]))
    department = pool["department"]
    if isinstance(department, str):
        department = conn.scalar(
            sa.select(sa.func.min(departments.c.id)).where(departments.c.name == department)
        )
    return organisation.active_members(conn, department_id=department) if department else []


def _a_user(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _a_pool(value: Any) -> bool:
    if not isinstance(value, Mapping) or len(set(value) & set(POOLS)) != 1 or len(value) != 1:
        return False
    if "users" in value:
        users = value["users"]
        return isinstance(users, list) and bool(users) and all(_a_user(u) for u in users)
    if "role" in value:
        return isinstance(value["role"], str) and bool(value["role"])
    department = value["department"]
    return _a_user(department) or (isinstance(department, str) and bool(department.strip()))


def mentioned_users(action: Mapping[str, Any]) -> list[int]:
    """The user ids a territory assignment names (for the rule in words)."""
    found: list[int] = []
    for territory in (action.get("territories") or {}).values():
        if _a_user(territory):
            found.append(int(territory))
        elif isinstance(territory, Mapping) and isinstance(territory.get("users"), list):
            found.extend(u for u in territory["users"] if _a_user(u))
    default: Any = action.get("default")
    if _a_user(default):
        found.append(int(default))
    return found
