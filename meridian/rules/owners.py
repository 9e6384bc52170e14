"""Who a rule means by a person: the owner of a record it creates, the assignee of a task it
makes, the submitter of an approval it starts, and the pool ``assign`` picks from.

One resolver serves them all. A person is written as:

- ``"owner"`` — the triggering record's owner (the default of every action);
- ``{"user": 7}`` or just ``7`` — that user;
- ``{"field": "sales_rep"}`` — the user in a single-user field of the triggering record;
- ``{"strategy": "round_robin" | "least_loaded", "users": [7, 8]}`` — one of those people,
  or of a department's (``"department": 3``) or a role's (``"role": "member"``) active members
  (where the caller allows a strategy: a created record's owner, an inbound hook's owner).

Round robin takes turns by the rule's finished runs (no extra state to keep); least loaded
picks whoever owns the fewest live records of the form, counted in one query.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import organisation
from meridian.core.i18n import Text
from meridian.core.ids import is_id
from meridian.db.sets import one_of
from meridian.db.tables import departments, rule_runs, users
from meridian.errors import ErrorCollector
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

STRATEGIES = ("round_robin", "least_loaded")
WAYS = ("owner", "user", "field", "strategy")
"""The ways to name a person; a caller allows some of them (a task is not assigned by a
strategy)."""
_SHAPES = {
    "owner": '"owner"',
    "user": '{"user": id}',
    "field": '{"field": key}',
    "strategy": '{"strategy": …}',
}


def way_of(spec: Any) -> str | None:
    """Which way ``spec`` names a person (one of :data:`WAYS`), or None if it names none."""
    if spec == "owner":
        return "owner"
    if is_id(spec):
        return "user"
    if isinstance(spec, Mapping):
        ways = {"user", "field", "strategy"} & set(spec)
        if len(ways) == 1:
            return ways.pop()
    return None


def check_person(
    conn: Connection,
    source: Form,
    spec: Any,
    path: str,
    errors: ErrorCollector,
    *,
    code: str = "invalid_owner",
    ways: Collection[str] = WAYS,
) -> None:
    """Add every problem with a person choice to ``errors``, at the key that is wrong
    (``owner.field``): the caller's ``code`` for a choice of another shape or a field that
    holds no single user, ``unknown_user`` for a user who does not exist."""
    way = way_of(spec)
    if way not in ways:
        shapes = " | ".join(_SHAPES[k] for k in WAYS if k in ways)
        errors.add(path, code, Text("expected {shape}", shape=shapes), spec)
    elif way == "user":
        named = isinstance(spec, Mapping)
        user = spec["user"] if named else spec
        if not is_id(user) or conn.scalar(sa.select(users.c.id).where(users.c.id == user)) is None:
            errors.add(
                f"{path}.user" if named else path, "unknown_user", Text("no such user"), user
            )
    elif way == "field":
        key = str(spec["field"])
        field = source.get_field(key)
        if key != "owner_id" and (
            field is None or not field_type(field).references_users or field.many
        ):
            errors.add(f"{path}.field", code, Text("choose a single user field"), spec["field"])
    elif way == "strategy":
        check_strategy(conn, spec, path, errors)


def check_owner(
    conn: Connection, source: Form, owner: Any, path: str, errors: ErrorCollector
) -> None:
    """A created record's owner: any person, a strategy too."""
    check_person(conn, source, owner, path, errors)


def check_strategy(
    conn: Connection, choice: Mapping[str, Any], path: str, errors: ErrorCollector
) -> None:
    """A strategy among people: ``users``, a ``department`` or a ``role``."""
    if choice.get("strategy") not in STRATEGIES:
        errors.add(
            f"{path}.strategy",
            "invalid_strategy",
            Text("choose one of {value}", value=", ".join(STRATEGIES)),
            choice.get("strategy"),
        )
    pools = [key for key in ("users", "department", "role") if key in choice]
    if len(pools) != 1:
        errors.add(path, "invalid_pool", Text("give users, a department or a role"), choice)
        return
    value = choice[pools[0]]
    if pools[0] == "users":
        if not isinstance(value, list) or not value or not all(_an_id(u) for u in value):
            errors.add(f"{path}.users", "invalid_users", Text("a list of user ids"), value)
    elif pools[0] == "department":
        found = _an_id(value) and conn.scalar(
            sa.select(departments.c.id).where(departments.c.id == value)
        )
        if not found:
            errors.add(
                f"{path}.department", "unknown_department", Text("no such department"), value
            )
    elif not isinstance(value, str) or not organisation.role_exists(conn, value):
        errors.add(f"{path}.role", "unknown_role", Text("no such role"), value)


def _an_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def person_for(
    conn: Connection,
    *,
    source: Form,
    record_id: int,
    spec: Any,
    rule_id: int | None = None,
    target: Form | None = None,
) -> int | None:
    """The user a checked person choice names for the triggering record ``record_id`` of
    ``source`` (None: the record has no owner, the field is empty, the pool is empty). A
    strategy picks among owners of ``target``'s records for the rule ``rule_id``."""
    way = way_of(spec) or "owner"
    if way in ("owner", "field"):
        key = "owner_id" if way == "owner" else str(spec["field"])
        table = compile_form(source).main
        found: Any = conn.scalar(sa.select(table.c[key]).where(table.c.id == record_id))
        return int(found) if is_id(found) else None
    if way == "user":
        return int(spec["user"] if isinstance(spec, Mapping) else spec)
    assert rule_id is not None and target is not None, "a strategy picks for a rule's form"
    return pick(conn, rule_id=rule_id, form=target, choice=spec)


def owner_for(
    conn: Connection,
    *,
    rule_id: int,
    source: Form,
    record_id: int,
    target: Form,
    owner: Any,
) -> int | None:
    """The owner of the record a rule creates on ``target`` from the triggering record."""
    spec = "owner" if owner is None else owner
    return person_for(
        conn, source=source, record_id=record_id, spec=spec, rule_id=rule_id, target=target
    )


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
