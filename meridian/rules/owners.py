"""Who owns what a rule makes or hands over: the owner choices of ``create`` and ``assign``.

A record a rule creates belongs to the triggering record's owner unless the action's ``owner``
names another:

- ``{"user": 7}`` — that user;
- ``{"field": "sales_rep"}`` — the user in a user field of the triggering record;
- ``{"strategy": "round_robin" | "least_loaded", "users": [7, 8]}`` — one of those people,
  or of a department's (``"department": 3``) or a role's (``"role": "member"``) active members.

Round robin takes turns by the rule's finished runs (no extra state to keep); least loaded
picks whoever owns the fewest live records of the form, counted in one query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import organisation
from meridian.db.sets import one_of
from meridian.db.tables import departments, rule_runs, users
from meridian.errors import ErrorCollector
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

STRATEGIES = ("round_robin", "least_loaded")


def check_owner(
    conn: Connection, source: Form, owner: Any, path: str, errors: ErrorCollector
) -> None:
    """Add every problem with an action's ``owner`` choice to ``errors``."""
    if not isinstance(owner, Mapping) or len({"user", "field", "strategy"} & set(owner)) != 1:
        errors.add(path, "invalid_owner", '{"user": id}, {"field": key} or {"strategy": …}', owner)
        return
    if "user" in owner:
        user = owner["user"]
        known = isinstance(user, int) and not isinstance(user, bool)
        if not known or conn.scalar(sa.select(users.c.id).where(users.c.id == user)) is None:
            errors.add(f"{path}.user", "unknown_user", "no such user", user)
    elif "field" in owner:
        field = source.get_field(str(owner["field"]))
        if owner["field"] != "owner_id" and (
            field is None or not field_type(field).references_users or field.many
        ):
            errors.add(f"{path}.field", "not_a_user_field", "choose a user field", owner["field"])
    else:
        check_strategy(conn, owner, path, errors)


def check_strategy(
    conn: Connection, choice: Mapping[str, Any], path: str, errors: ErrorCollector
) -> None:
    """A strategy among people: ``users``, a ``department`` or a ``role``."""
    if choice.get("strategy") not in STRATEGIES:
        errors.add(
            f"{path}.strategy", "invalid_strategy", ", ".join(STRATEGIES), choice.get("strategy")
        )
    pools = [key for key in ("users", "department", "role") if key in choice]
    if len(pools) != 1:
        errors.add(path, "invalid_pool", "give users, a department or a role", choice)
        return
    value = choice[pools[0]]
    if pools[0] == "users":
        if not isinstance(value, list) or not value or not all(_an_id(u) for u in value):
            errors.add(f"{path}.users", "invalid_users", "a list of user ids", value)
    elif pools[0] == "department":
        found = _an_id(value) and conn.scalar(
            sa.select(departments.c.id).where(departments.c.id == value)
        )
        if not found:
            errors.add(f"{path}.department", "unknown_department", "no such department", value)
    elif not isinstance(value, str) or not organisation.role_exists(conn, value):
        errors.add(f"{path}.role", "unknown_role", "no such role", value)


def _an_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def owner_for(
    conn: Connection,
    *,
    rule_id: int,
    source: Form,
    record_id: int,
    target: Form,
    owner: Mapping[str, Any] | None,
) -> int | None:
    """The owner of the record a rule creates on ``target`` from the triggering record."""
    if owner is None or "field" in owner:
        key = "owner_id" if owner is None else str(owner["field"])
        table = compile_form(source).main
        found = conn.scalar(sa.select(table.c[key]).where(table.c.id == record_id))
        return int(found) if found is not None else None
    if "user" in owner:
        return int(owner["user"])
    return pick(conn, rule_id=rule_id, form=target, choice=owner)


def candidates(conn: Connection, choice: Mapping[str, Any]) -> list[int]:
    """The people a strategy chooses among, in a stable order."""
    if "users" in choice:
        return list(choice["users"])
    return organisation.active_members(
        conn, department_id=choice.get("department"), role=choice.get("role")
    )


def pick(
    conn: Connection,
    *,
    rule_id: int,
    form: Form,
    choice: Mapping[str, Any],
    exclude: int | None = None,
) -> int | None:
    """One person by the choice's strategy; None when the pool is empty."""
    people = candidates(conn, choice)
    if not people:
        return None
    if choice["strategy"] == "round_robin":
        turns = conn.scalar(
            sa.select(sa.func.count())
            .select_from(rule_runs)
            .where(
                rule_runs.c.rule_id == rule_id,
                rule_runs.c.outcome.in_(("succeeded", "warning")),
            )
        )
        return people[int(turns or 0) % len(people)]
    return least_loaded(conn, form, people, exclude)[0]


def share_out(
    conn: Connection, *, form: Form, choice: Mapping[str, Any], count: int, first_turn: int
) -> list[int | None]:
    """Owners for ``count`` new records at once: round robin from ``first_turn``, or each to
    whoever is least loaded counting the ones handed out before it (one load query)."""
    people = candidates(conn, choice)
    if not people:
        return [None] * count
    if choice["strategy"] == "round_robin":
        return [people[(first_turn + i) % len(people)] for i in range(count)]
    table = compile_form(form).main
    load: dict[int, int] = dict(
        conn.execute(
            sa.select(table.c.owner_id, sa.func.count())
            .where(one_of(conn, table.c.owner_id, list(people)), table.c.deleted_at.is_(None))
            .group_by(table.c.owner_id)
        ).all()
    )
    chosen: list[int | None] = []
    for _ in range(count):
        owner = min(people, key=lambda person: (load.get(person, 0), people.index(person)))
        load[owner] = load.get(owner, 0) + 1
        chosen.append(owner)
    return chosen


def least_loaded(
    conn: Connection, form: Form, people: Sequence[int], exclude: int | None = None
) -> tuple[int, int]:
    """Whoever owns the fewest live records of ``form`` (the first listed on a tie), and how
    many they own; ``exclude`` (the record being assigned) is not load yet."""
    table = compile_form(form).main
    where = [one_of(conn, table.c.owner_id, list(people)), table.c.deleted_at.is_(None)]
    if exclude is not None:
        where.append(table.c.id != exclude)
    load: dict[int, int] = dict(
        conn.execute(
            sa.select(table.c.owner_id, sa.func.count()).where(*where).group_by(table.c.owner_id)
        ).all()
    )
    owner = min(people, key=lambda person: (load.get(person, 0), people.index(person)))
    return owner, load.get(owner, 0)
