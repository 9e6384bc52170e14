"""Permissions per role and form, and what they come to for one actor.

A role's permission on a form is one document, as ``PUT /api/v1/roles/{role}/forms/{form}``
takes it::

    {"create": true, "read": "department", "update": "own", "delete": false,
     "export": "all", "import": false, "manage": false,
     "fields": {"amount": "hidden", "owner_id": "read_only"}}

``read``, ``update``, ``delete`` and ``export`` take a row scope: ``"own"`` (the actor owns the
record), ``"department"`` (its owner is in one of the actor's departments), ``"subtree"`` (…or
in a department below them), ``"all"``, ``{"expr": "<condition>"}`` in the expression language,
or ``false``. An actor with several roles gets the union: a row is readable when any role
reads it, a field is visible when any role that reads the form shows it. Records shared with
the actor or one of its departments are readable (and, shared for edit, updatable) besides.

Preset roles without a document for a form fall back to their defaults below; a custom role
without one has no access to the form. Administrators bypass all of this.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.organisation import ORGANISATION, require_role, subtree
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import N_, Text
from meridian.db import revisions
from meridian.db.locks import serialize
from meridian.db.tables import record_shares, role_forms, user_departments, users
from meridian.errors import ErrorCollector, FieldError, PermissionDenied
from meridian.expr import ExpressionError, ExprType, compile_expression
from meridian.schema.compile import compile_form
from meridian.schema.expressions import scope_for, sql_scope_for
from meridian.schema.model import Form

RowScope = str | dict[str, str] | Literal[False]
SCOPED = ("read", "update", "delete", "export")
FLAGS = ("create", "import", "manage")
_OPERATION_NAMES = {
    "read": N_("read"),
    "update": N_("change"),
    "delete": N_("delete"),
    "export": N_("export"),
    "create": N_("create"),
    "import": N_("import"),
    "manage": N_("manage"),
}


def operation_name(operation: str) -> Text:
    """An operation as a refusal names it, in the reader's language ("you may not 删除 …")."""
    return Text(_OPERATION_NAMES.get(operation, operation))


NAMED_SCOPES = ("own", "department", "subtree", "all")
FIELD_LEVELS = ("hidden", "read_only", "editable")
_NOTHING: dict[str, Any] = {
    **dict.fromkeys(SCOPED, False),
    **dict.fromkeys(FLAGS, False),
    "fields": {},
}
PRESET_DEFAULTS: dict[str, dict[str, Any]] = {
    "builder": {**_NOTHING, **dict.fromkeys(SCOPED, "all"), **dict.fromkeys(FLAGS, True)},
    "manager": {
        **_NOTHING,
        "create": True,
        "read": "subtree",
        "update": "subtree",
        "delete": "own",
        "export": "subtree",
        "import": True,
    },
    "member": {**_NOTHING, "create": True, "read": "department", "update": "own", "delete": "own"},
    "read_only": {**_NOTHING, "read": "all"},
}


# ---- the document ---------------------------------------------------------------------------


def normalise_rules(conn: Connection, form: Form, document: Any) -> dict[str, Any]:
    """The document checked against ``form``, with every omitted permission denied.

    Every problem is reported at once, each naming its key and value.
    """
    errors = ErrorCollector()
    if not isinstance(document, Mapping):
        errors.add("", "invalid_permissions", Text("expected a JSON object"), document)
        errors.raise_if_any()
    rules: dict[str, Any] = {**_NOTHING, "fields": {}}
    assert isinstance(document, Mapping)
    for key, value in document.items():
        if key in FLAGS:
            if not isinstance(value, bool):
                errors.add(key, "invalid_flag", Text("{key} is true or false", key=key), value)
            rules[key] = value is True
        elif key in SCOPED:
            rules[key] = _row_scope(conn, form, key, value, errors)
        elif key == "fields":
            rules["fields"] = _field_levels(form, value, errors)
        else:
            errors.add(key, "unknown_permission", Text("no permission {key!r}", key=key), key)
    errors.raise_if_any()
    return rules


def _row_scope(
    conn: Connection, form: Form, key: str, value: Any, errors: ErrorCollector
) -> RowScope:
    if value is False or value is None:
        return False
    if value is True:
        return "all"
    if isinstance(value, str) and value in NAMED_SCOPES:
        return value
    if isinstance(value, Mapping) and set(value) == {"expr"} and isinstance(value["expr"], str):
        try:
            compiled = compile_expression(value["expr"], scope_for(conn, form))
        except ExpressionError as exc:
            errors.errors.append(
                FieldError(
                    f"{key}.expr", "invalid_expression", exc.message, value, detail=exc.as_dict()
                )
            )
            return False
        if compiled.result_type not in (ExprType.BOOLEAN, ExprType.NULL):
            errors.add(
                f"{key}.expr", "not_a_condition", Text("the scope must be a condition"), value
            )
        return {"expr": value["expr"]}
    errors.add(
        key,
        "invalid_scope",
        Text(
            '{key} is one of {value}, {{"expr": "…"}} or false',
            key=key,
            value=", ".join(NAMED_SCOPES),
        ),
        value,
    )
    return False


def _field_levels(form: Form, value: Any, errors: ErrorCollector) -> dict[str, str]:
    if not isinstance(value, Mapping):
        errors.add("fields", "invalid_fields", Text("expected an object of field: level"), value)
        return {}
    levels: dict[str, str] = {}
    for key, level in value.items():
        known = key == "owner_id" or form.get_field(key) is not None
        if not known:
            errors.add(f"fields.{key}", "unknown_field", Text("no field {key!r}", key=key), key)
        elif level not in FIELD_LEVELS or (key == "owner_id" and level == "hidden"):
            allowed = "read_only or editable" if key == "owner_id" else ", ".join(FIELD_LEVELS)
            errors.add(
                f"fields.{key}",
                "invalid_level",
                Text("{key} may be {allowed}", key=key, allowed=allowed),
                level,
            )
        elif level != "editable":
            levels[key] = level
    return levels


def set_form_rules(conn: Connection, role: str, form: Form, document: Any) -> dict[str, Any]:
    """Store the role's permission on ``form``; returns the normalised document."""
    serialize(conn, ORGANISATION)  # the role cannot be removed under its new document
    require_role(conn, role)
    rules = normalise_rules(conn, form, document)
    where = (role_forms.c.role_key == role, role_forms.c.form_key == form.key)
    revisions.bump(conn, revisions.ACCESS)  # this transaction's own checks see the change too
    conn.execute(role_forms.delete().where(*where))
    conn.execute(
        role_forms.insert().values(
            role_key=role, form_key=form.key, rules=rules, updated_at=utcnow(conn)
        )
    )
    return rules


def form_rules(conn: Connection, role: str, form: Form) -> dict[str, Any]:
    """The role's effective document for ``form`` (its default when none is stored)."""
    require_role(conn, role)
    stored = conn.scalar(
        sa.select(role_forms.c.rules).where(
            role_forms.c.role_key == role, role_forms.c.form_key == form.key
        )
    )
    return dict(stored) if stored is not None else _default(role)


def _default(role: str) -> dict[str, Any]:
    if role == "administrator":
        return {**_NOTHING, **dict.fromkeys(SCOPED, "all"), **dict.fromkeys(FLAGS, True)}
    return dict(PRESET_DEFAULTS.get(role, _NOTHING))


# ---- what an actor may do -------------------------------------------------------------------


@dataclass(frozen=True)
class FormAccess:
    """One actor's rights on one form.

    :ivar visible: the form without the fields hidden from the actor; reads, filters, sorts,
        expressions and search go through it, so a hidden field is simply unknown there.
    :ivar scopes: per operation, the row scopes granting it (empty: denied).
    """

    actor: Actor
    form: Form
    visible: Form
    scopes: Mapping[str, tuple[RowScope, ...]]
    flags: frozenset[str]
    hidden: frozenset[str]
    read_only: frozenset[str]

    @property
    def unrestricted(self) -> bool:
        return self.actor.is_admin and self.actor.token is None

    def may(self, operation: str) -> bool:
        return bool(self.scopes.get(operation)) or operation in self.flags

    def require(self, operation: str) -> None:
        if not self.may(operation):
            raise PermissionDenied(
                Text(
                    "you may not {operation} records of form {key!r}",
                    operation=operation_name(operation),
                    key=self.form.key,
                ),
                operation=operation,
                form=self.form.key,
            )

    def every_row(self, operation: str) -> bool:
        """Whether ``operation`` may touch every row (then :meth:`rows` is None)."""
        return "all" in self.scopes.get(operation, ())

    def rows_key(self, operation: str) -> tuple[Any, ...] | None:
        """All that :meth:`rows` depends on, when that is the actor alone — every row, own
        records, the actor's departments, shares — so a statement built with the condition
        may be kept under it; None when it also reads the department tree or the clock
        (subtree and expression scopes)."""
        if self.every_row(operation):
            return ("all",)
        scopes = self.scopes.get(operation, ())
        if any(scope not in ("own", "department") for scope in scopes):
            return None
        departments = tuple(sorted(self.actor.department_ids))
        return (operation, scopes, self.actor.user_id, departments)

    def rows(
        self, conn: Connection, table: sa.FromClause, operation: str, tz: ZoneInfo
    ) -> ColumnElement[bool] | None:
        """The SQL condition for rows ``operation`` may touch; None when it may touch all.

        ``table`` is the form's table, a restricted view of it (fewer columns) or an alias of
        either. Readers start from ``meridian.records.readable``, which applies this."""
        if self.every_row(operation):
            return None
        scopes = self.scopes.get(operation, ())
        conditions = [self._scope(conn, table, scope, tz) for scope in scopes]
        if operation in ("read", "update") and self._shares_reach(operation):
            conditions.append(self._shared(table, edit=operation == "update"))
        return sa.or_(*conditions) if conditions else sa.false()

    def _shares_reach(self, operation: str) -> bool:
        """Whether records shared with the actor count for ``operation``: a token limited to
        another form or app reaches none of this form's shares, and a read-only token edits
        no record shared for editing — a share never lets a token do more than its scope."""
        token = self.actor.token
        if self.actor.user_id is None:
            return False
        if token is None:
            return True
        if token.form_key is not None and token.form_key != self.form.key:
            return False
        if token.app_key is not None and token.app_key != self.form.app_key:
            return False
        return operation == "read" or token.write

    def _scope(
        self, conn: Connection, table: sa.FromClause, scope: RowScope, tz: ZoneInfo
    ) -> ColumnElement[bool]:
        owner = table.c.owner_id
        if scope == "own":
            return owner == self.actor.user_id if self.actor.user_id is not None else sa.false()
        if scope in ("department", "subtree"):
            departments = set(self.actor.department_ids)
            if scope == "subtree":
                departments = subtree(conn, departments)
            return owner.in_(_members(departments)) if departments else sa.false()
        assert isinstance(scope, dict)
        expression = compile_expression(scope["expr"], scope_for(conn, self.form))
        now = utcnow(conn).astimezone(tz)
        full = compile_form(self.form)
        condition: ColumnElement[bool] = expression.to_sql(
            sql_scope_for(conn, self.form, full), dialect=conn.dialect, today=now.date(), now=now
        )
        if full.main is table:
            return condition
        # A restricted view or an alias of the table: match the full table's rows by id. The
        # subquery keeps its own FROM even where the statement around it reads the same table
        # (a self-link), so the condition is about its rows, not correlated to the outer ones.
        matching = sa.select(full.main.c.id).where(condition).correlate(None)
        return table.c.id.in_(matching)

    def _shared(self, table: sa.FromClause, *, edit: bool) -> ColumnElement[bool]:
        shares = record_shares.c
        to_me = shares.user_id == self.actor.user_id
        if self.actor.department_ids:
            to_me = sa.or_(to_me, shares.department_id.in_(self.actor.department_ids))
        shared = sa.select(shares.record_id).where(shares.form_key == self.form.key, to_me)
        if edit:
            shared = shared.where(shares.level == "edit")
        return table.c.id.in_(shared)


def _members(departments: set[int]) -> sa.CompoundSelect[Any]:
    ids = sorted(departments)
    return sa.union(
        sa.select(users.c.id).where(users.c.department_id.in_(ids)),
        sa.select(user_departments.c.user_id).where(user_departments.c.department_id.in_(ids)),
    )


def form_access(conn: Connection, actor: Actor, form: Form) -> FormAccess:
    """Everything ``actor`` may do on ``form``, from its roles and its token: kept per process
    for this very form definition (the per-process form cache hands out one object per
    revision) under the ``access`` revision its roles' documents were read with (a write asks
    for it several times: the form, each linked form, the answer)."""
    access = "" if actor.is_admin else revisions.token(conn, revisions.ACCESS)
    if access is None:
        return _form_access(conn, actor, form)
    key = (access, actor, form.key)
    kept = _accesses.get(key)
    if kept is not None and kept.form is form:
        return kept
    found = _form_access(conn, actor, form)
    if len(_accesses) >= 4096:
        _accesses.clear()
    _accesses[key] = found
    return found


_accesses: dict[tuple[str, Actor, str], FormAccess] = {}
"""Each actor's rights by (access revision, or "" for an administrator, actor, form key)."""


def _form_access(conn: Connection, actor: Actor, form: Form) -> FormAccess:
    if actor.is_admin:
        documents = [_default("administrator")]
    else:
        documents = _role_documents(conn, actor.roles, form)
    token = actor.token
    if token is not None and (
        (token.form_key is not None and token.form_key != form.key)
        or (token.app_key is not None and token.app_key != form.app_key)
    ):
        documents = []
    scopes = {
        operation: tuple(
            dict.fromkeys(
                _hashable(doc[operation]) for doc in documents if doc[operation] is not False
            )
        )
        for operation in SCOPED
    }
    flags = frozenset(flag for flag in FLAGS if any(doc[flag] for doc in documents))
    if token is not None and not token.write:
        scopes = {op: s if op in ("read", "export") else () for op, s in scopes.items()}
        flags = frozenset()
    readers = [doc for doc in documents if doc["read"] is not False]
    hidden, read_only = _field_restrictions(form, readers)
    return FormAccess(
        actor,
        form,
        without_fields(form, hidden),
        {op: tuple(_unhashable(s) for s in found) for op, found in scopes.items()},
        flags,
        hidden,
        read_only,
    )


def without_fields(form: Form, hidden: Collection[str]) -> Form:
    """``form`` as shown to someone the ``hidden`` fields are hidden from: nothing names them —
    not the fields, the layout, the title field, nor the validations (which may read them)."""
    if not hidden:
        return form
    return form.model_copy(
        update={
            "fields": tuple(f for f in form.fields if f.key not in hidden),
            "sections": tuple(
                section.model_copy(
                    update={"fields": tuple(k for k in section.fields if k not in hidden)}
                )
                for section in form.sections
            ),
            "validations": (),
            "title_field": None if form.title_field in hidden else form.title_field,
        }
    )


def _role_documents(conn: Connection, roles: frozenset[str], form: Form) -> list[dict[str, Any]]:
    """The roles' stored documents for the form: kept per process under the ``access``
    revision, which triggers on ``sys_role_form`` replace (a write asks for them several
    times: the form, each linked form, the answer)."""
    token = revisions.token(conn, revisions.ACCESS)
    stored = _documents.get((token, form.key, roles)) if token else None
    if stored is None:
        stored = dict(
            conn.execute(
                sa.select(role_forms.c.role_key, role_forms.c.rules).where(
                    role_forms.c.form_key == form.key, role_forms.c.role_key.in_(sorted(roles))
                )
            ).all()
        )
        if token:
            if len(_documents) >= 4096:
                _documents.clear()
            _documents[token, form.key, roles] = stored
    return [dict(stored[role]) if role in stored else _default(role) for role in sorted(roles)]


_documents: dict[tuple[str, str, frozenset[str]], dict[str, Any]] = {}
"""Stored role documents by (access token, form key, roles); never changed in place."""


def _field_restrictions(
    form: Form, readers: Sequence[Mapping[str, Any]]
) -> tuple[frozenset[str], frozenset[str]]:
    """Hidden: hidden by every role that reads the form. Read-only: editable in none."""
    if not readers:
        return frozenset(f.key for f in form.fields), frozenset()
    rank = {"hidden": 0, "read_only": 1, "editable": 2}
    hidden, read_only = set(), set()
    for key in [f.key for f in form.fields] + ["owner_id"]:
        best = max(rank[doc["fields"].get(key, "editable")] for doc in readers)
        if best == 0:
            hidden.add(key)
        elif best == 1:
            read_only.add(key)
    return frozenset(hidden), frozenset(read_only)


def _hashable(scope: RowScope) -> Any:
    return ("expr", scope["expr"]) if isinstance(scope, dict) else scope


def _unhashable(scope: Any) -> RowScope:
    return {"expr": scope[1]} if isinstance(scope, tuple) else scope


def visible_form(conn: Connection, actor: Actor, form: Form) -> Form:
    """The form's definition as the actor may see it: builders see every field, others not
    the ones hidden from them (their names and settings would give them away)."""
    if actor.is_admin or actor.can_build:
        return form
    return form_access(conn, actor, form).visible
