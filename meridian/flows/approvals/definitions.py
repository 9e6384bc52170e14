"""Approval flows: a versioned JSON node tree per flow, checked when it is saved.

A flow is bound to a form and is a sequence of nodes; the approval walks it from the first
node to the last, and ends approved when it walks off the end. A node is one of:

- ``approver``: ``mode`` single | sequential | all (会签) | any (或签) | percentage (票签,
  with ``percentage``), ``approvers`` (who: see :mod:`.assignees`), optional
  ``editable_fields`` (what an approver may change while the record is locked), ``reject_to``
  (end | submitter | previous: where a rejection goes) and ``timeout`` (``hours`` of business
  time and ``action`` remind | escalate | approve | reject, ``escalate_to`` approvers).
- ``cc`` (抄送): ``approvers`` who are told and may read; nothing waits for them.
- ``action``: ``action`` update (``values`` for the record), webhook (``url``), notify
  (``approvers`` to tell and a ``message``).
- ``condition``: ``branches``, each with a ``condition`` in the expression language and its own
  ``nodes``; the first branch whose condition holds is taken, and the last branch has no
  condition (the default), so no record is left without a way on.
- ``parallel``: ``branches`` that all run; the flow goes on when every one has ended.

Beside ``nodes``, ``bots`` (optional) lists the bot channels (WeCom, DingTalk, Feishu group
robots) that get a card per approver whenever a task opens, with the approver's own link.

Every save of a key adds a version; a running approval keeps the version it started with.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.manage import require_admin
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.tables import approval_flows, bot_channels
from meridian.errors import ErrorCollector, FieldError, NotFound, PermissionDenied
from meridian.expr import ExpressionError, ExprType, compile_expression
from meridian.schema.catalog import find_form
from meridian.schema.expressions import scope_for
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import KEY_PATTERN, Form

NODE_TYPES = ("approver", "cc", "action", "condition", "parallel")
MODES = ("single", "sequential", "all", "any", "percentage")
APPROVER_TYPES = ("user", "role", "manager", "department_head", "field", "record_department_head")
REJECT_TO = ("end", "submitter", "previous")
TIMEOUT_ACTIONS = ("remind", "escalate", "approve", "reject")
ACTIONS = ("update", "webhook", "notify")
MAX_NODES = 200
MAX_LEVELS = 10
MAX_BOTS = 10


@dataclass(frozen=True)
class Place:
    """Where a node sits: the sequence holding it and its index there.

    :ivar container: the id of the condition or parallel node whose branch holds the sequence
        (None for the top), and ``branch`` its index.
    """

    container: str | None
    branch: int
    index: int


class FlowTree:
    """A flow's nodes by id, and where each one sits, to walk it at run time."""

    def __init__(self, definition: Mapping[str, Any]) -> None:
        self.definition = definition
        self.nodes: dict[str, Mapping[str, Any]] = {}
        self.places: dict[str, Place] = {}
        self._index(definition.get("nodes", []), None, 0)

    def _index(
        self, nodes: Sequence[Mapping[str, Any]], container: str | None, branch: int
    ) -> None:
        for index, node in enumerate(nodes):
            self.nodes[node["id"]] = node
            self.places[node["id"]] = Place(container, branch, index)
            for number, sub in enumerate(node.get("branches", ())):
                self._index(sub.get("nodes", []), node["id"], number)

    def sequence(self, container: str | None, branch: int) -> Sequence[Mapping[str, Any]]:
        if container is None:
            nodes: Sequence[Mapping[str, Any]] = self.definition.get("nodes", [])
            return nodes
        inner: Sequence[Mapping[str, Any]] = self.nodes[container]["branches"][branch].get(
            "nodes", []
        )
        return inner

    def following(self, node_id: str) -> Mapping[str, Any] | None:
        """The next node in the same sequence, None at its end."""
        place = self.places[node_id]
        sequence = self.sequence(place.container, place.branch)
        return sequence[place.index + 1] if place.index + 1 < len(sequence) else None

    def previous_approver(self, node_id: str) -> Mapping[str, Any] | None:
        """The nearest approver node before ``node_id`` in its own sequence."""
        place = self.places[node_id]
        sequence = self.sequence(place.container, place.branch)
        for node in reversed(sequence[: place.index]):
            if node["type"] == "approver":
                found: Mapping[str, Any] = node
                return found
        return None


# ---- checking -------------------------------------------------------------------------------


def check_definition(
    conn: Connection, form: Form, definition: Any, errors: ErrorCollector
) -> dict[str, Any]:
    """Every problem of ``definition`` for ``form`` into ``errors``; the definition as stored."""
    if not isinstance(definition, Mapping) or not isinstance(definition.get("nodes"), list):
        errors.add(
            "definition.nodes", "invalid_nodes", Text("expected a list of nodes"), definition
        )
        return {}
    checker = _Checker(conn, form, errors)
    checker.sequence(definition["nodes"], "definition.nodes")
    if not errors.errors and not checker.approvers:
        errors.add(
            "definition.nodes",
            "no_approver",
            Text("a flow needs at least one approver node"),
            None,
        )
    bots = _bots(conn, definition.get("bots"), errors)
    return {"nodes": definition["nodes"], **({"bots": bots} if bots else {})}


def _bots(conn: Connection, bots: Any, errors: ErrorCollector) -> list[int]:
    """The group robots (bot channel ids) whose group gets a card per approver to decide."""
    if bots is None:
        return []
    if (
        not isinstance(bots, list)
        or len(bots) > MAX_BOTS
        or any(isinstance(b, bool) or not isinstance(b, int) for b in bots)
    ):
        errors.add(
            "definition.bots",
            "invalid_bots",
            Text("a list of up to {limit} bot channel ids", limit=MAX_BOTS),
            bots,
        )
        return []
    known = set(conn.scalars(sa.select(bot_channels.c.id).where(bot_channels.c.id.in_(bots))))
    for index, channel in enumerate(bots):
        if channel not in known:
            errors.add(
                f"definition.bots.{index}", "unknown_bot", Text("no such bot channel"), channel
            )
    return list(dict.fromkeys(bots))


class _Checker:
    def __init__(self, conn: Connection, form: Form, errors: ErrorCollector) -> None:
        self.conn = conn
        self.form = form
        self.errors = errors
        self.ids: set[str] = set()
        self.approvers = 0
        self.count = 0
        self.fields = {f.key: f for f in form.active_fields}

    def sequence(self, nodes: Any, path: str) -> None:
        if not isinstance(nodes, list):
            self.errors.add(path, "invalid_nodes", Text("expected a list of nodes"), nodes)
            return
        for index, node in enumerate(nodes):
            self.node(node, f"{path}.{index}")

    def node(self, node: Any, path: str) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            if self.count == MAX_NODES + 1:
                self.errors.add(
                    path, "too_many_nodes", Text("at most {limit} nodes", limit=MAX_NODES), None
                )
            return
        if not isinstance(node, Mapping):
            self.errors.add(path, "invalid_node", Text("expected a node object"), node)
            return
        node_id = node.get("id")
        if not isinstance(node_id, str) or not KEY_PATTERN.match(node_id) or "#" in node_id:
            self.errors.add(
                f"{path}.id", "invalid_id", Text("a node id is a-z, 0-9 and _"), node_id
            )
        elif node_id in self.ids:
            self.errors.add(f"{path}.id", "duplicate_id", Text("node ids are unique"), node_id)
        else:
            self.ids.add(node_id)
        kind = node.get("type")
        if kind not in NODE_TYPES:
            self.errors.add(
                f"{path}.type",
                "invalid_type",
                Text("one of {choices}", choices=", ".join(NODE_TYPES)),
                kind,
            )
            return
        getattr(self, f"_{kind}")(node, path)

    def _approver(self, node: Mapping[str, Any], path: str) -> None:
        self.approvers += 1
        mode = node.get("mode", "single")
        if mode not in MODES:
            self.errors.add(
                f"{path}.mode",
                "invalid_mode",
                Text("one of {choices}", choices=", ".join(MODES)),
                mode,
            )
        if mode == "percentage":
            share = node.get("percentage")
            if isinstance(share, bool) or not isinstance(share, int) or not 1 <= share <= 100:
                self.errors.add(f"{path}.percentage", "invalid_percentage", Text("1 to 100"), share)
        self._approvers(node.get("approvers"), f"{path}.approvers")
        reject_to = node.get("reject_to", "end")
        if reject_to not in REJECT_TO:
            message = Text("one of {choices}", choices=", ".join(REJECT_TO))
            self.errors.add(f"{path}.reject_to", "invalid_reject_to", message, reject_to)
        editable = node.get("editable_fields", [])
        if not isinstance(editable, list) or any(
            not isinstance(key, str) or key not in self.fields for key in editable
        ):
            message = Text("a list of the form's field keys")
            self.errors.add(f"{path}.editable_fields", "unknown_field", message, editable)
        timeout = node.get("timeout")
        if timeout is not None:
            self._timeout(timeout, f"{path}.timeout")

    def _timeout(self, timeout: Any, path: str) -> None:
        if not isinstance(timeout, Mapping):
            self.errors.add(
                path, "invalid_timeout", Text("expected {shape}", shape="{hours, action}"), timeout
            )
            return
        hours = timeout.get("hours")
        valid = isinstance(hours, int | float) and not isinstance(hours, bool)
        if not valid or not 0 < float(hours or 0) <= 24 * 365:
            self.errors.add(
                f"{path}.hours", "invalid_hours", Text("business hours, above 0"), hours
            )
        if timeout.get("basis", "business") not in ("business", "calendar"):
            message = Text("business (the work calendar) or calendar (plain hours)")
            self.errors.add(f"{path}.basis", "invalid_basis", message, timeout.get("basis"))
        action = timeout.get("action")
        if action not in TIMEOUT_ACTIONS:
            message = Text("one of {choices}", choices=", ".join(TIMEOUT_ACTIONS))
            self.errors.add(f"{path}.action", "invalid_action", message, action)
        if action == "escalate":
            self._approvers(timeout.get("escalate_to"), f"{path}.escalate_to")

    def _cc(self, node: Mapping[str, Any], path: str) -> None:
        self._approvers(node.get("approvers"), f"{path}.approvers")

    def _action(self, node: Mapping[str, Any], path: str) -> None:
        action = node.get("action")
        if action not in ACTIONS:
            self.errors.add(
                f"{path}.action",
                "invalid_action",
                Text("one of {choices}", choices=", ".join(ACTIONS)),
                action,
            )
        elif action == "update":
            values = node.get("values")
            if not isinstance(values, Mapping) or not values:
                self.errors.add(
                    f"{path}.values", "invalid_values", Text("field values to set"), values
                )
            else:
                for key in values:
                    if key not in self.fields:
                        self.errors.add(
                            f"{path}.values.{key}", "unknown_field", Text("no such field"), key
                        )
        elif action == "webhook":
            parts = urlsplit(str(node.get("url") or ""))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                self.errors.add(
                    f"{path}.url", "invalid_url", Text("expected an http(s) URL"), node.get("url")
                )
        else:
            self._approvers(node.get("approvers"), f"{path}.approvers")
            message = node.get("message")
            if not isinstance(message, str) or not message.strip() or len(message) > 2000:
                self.errors.add(
                    f"{path}.message", "invalid_message", Text("1 to 2,000 characters"), message
                )

    def _condition(self, node: Mapping[str, Any], path: str) -> None:
        branches = node.get("branches")
        if not isinstance(branches, list) or len(branches) < 2:
            self.errors.add(
                f"{path}.branches", "invalid_branches", Text("at least two branches"), branches
            )
            return
        for index, branch in enumerate(branches):
            where = f"{path}.branches.{index}"
            if not isinstance(branch, Mapping):
                self.errors.add(where, "invalid_branch", Text("expected a branch object"), branch)
                continue
            condition = branch.get("condition", "")
            last = index == len(branches) - 1
            if last and condition:
                self.errors.add(
                    f"{where}.condition",
                    "dead_end",
                    Text(
                        "the last branch is the default and has no condition, so that every"
                        " record has a way on"
                    ),
                    condition,
                )
            elif not last:
                self._expression(condition, f"{where}.condition")
            self.sequence(branch.get("nodes", []), f"{where}.nodes")

    def _parallel(self, node: Mapping[str, Any], path: str) -> None:
        branches = node.get("branches")
        if not isinstance(branches, list) or len(branches) < 2:
            self.errors.add(
                f"{path}.branches", "invalid_branches", Text("at least two branches"), branches
            )
            return
        for index, branch in enumerate(branches):
            where = f"{path}.branches.{index}"
            if not isinstance(branch, Mapping):
                self.errors.add(where, "invalid_branch", Text("expected a branch object"), branch)
                continue
            if branch.get("condition"):
                self.errors.add(
                    f"{where}.condition",
                    "invalid_branch",
                    Text("parallel branches all run"),
                    branch["condition"],
                )
            self.sequence(branch.get("nodes", []), f"{where}.nodes")

    def _expression(self, source: Any, path: str) -> None:
        if not isinstance(source, str) or not source.strip():
            self.errors.add(
                path,
                "dead_end",
                Text("a branch other than the last needs a condition"),
                source,
            )
            return
        try:
            compiled = compile_expression(source, scope_for(self.conn, self.form))
        except ExpressionError as exc:
            self.errors.errors.append(
                FieldError(path, "invalid_expression", exc.message, source, detail=exc.as_dict())
            )
            return
        if compiled.result_type not in (ExprType.BOOLEAN, ExprType.NULL):
            self.errors.add(
                path, "not_a_condition", Text("the condition must be true or false"), source
            )

    def _approvers(self, specs: Any, path: str) -> None:
        if not isinstance(specs, list) or not specs:
            self.errors.add(path, "no_approvers", Text("name at least one approver"), specs)
            return
        for index, spec in enumerate(specs):
            self._spec(spec, f"{path}.{index}")

    def _spec(self, spec: Any, path: str) -> None:
        if not isinstance(spec, Mapping) or spec.get("type") not in APPROVER_TYPES:
            message = Text(
                "an approver's type is one of {choices}", choices=", ".join(APPROVER_TYPES)
            )
            self.errors.add(f"{path}.type", "invalid_approver", message, spec)
            return
        kind = spec["type"]
        if kind == "user":
            ids = spec.get("ids")
            if (
                not isinstance(ids, list)
                or not ids
                or any(isinstance(i, bool) or not isinstance(i, int) for i in ids)
            ):
                self.errors.add(f"{path}.ids", "invalid_users", Text("a list of user ids"), ids)
        elif kind == "role":
            role = spec.get("role")
            if not isinstance(role, str) or not role:
                self.errors.add(f"{path}.role", "invalid_role", Text("a role key"), role)
        elif kind in ("manager", "department_head"):
            levels = spec.get("levels", 1)
            if (
                isinstance(levels, bool)
                or not isinstance(levels, int)
                or not 1 <= levels <= MAX_LEVELS
            ):
                self.errors.add(
                    f"{path}.levels",
                    "invalid_levels",
                    Text("1 to {limit}", limit=MAX_LEVELS),
                    levels,
                )
        elif kind == "field":
            key = spec.get("field")
            field = self.fields.get(key) if isinstance(key, str) else None
            if key != "owner_id" and (field is None or not field_type(field).references_users):
                self.errors.add(
                    f"{path}.field", "invalid_field", Text("a user field of the form"), key
                )
        else:
            levels = spec.get("levels", 1)
            if (
                isinstance(levels, bool)
                or not isinstance(levels, int)
                or not 1 <= levels <= MAX_LEVELS
            ):
                self.errors.add(
                    f"{path}.levels",
                    "invalid_levels",
                    Text("1 to {limit}", limit=MAX_LEVELS),
                    levels,
                )


def walk(nodes: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every node of a tree, depth first."""
    for node in nodes:
        yield node
        for branch in node.get("branches", ()):
            yield from walk(branch.get("nodes", []))


# ---- storing ---------------------------------------------------------------------------------


def save_flow(conn: Connection, actor: Actor, document: Any) -> dict[str, Any]:
    """Create a flow or add a version of it: ``{key, form, label, definition}``."""
    if not (actor.is_admin or actor.can_build):
        raise PermissionDenied(Text("only administrators and builders design approval flows"))
    errors = ErrorCollector()
    if not isinstance(document, Mapping):
        errors.add(
            "body",
            "invalid_flow",
            Text("expected {shape}", shape="{key, form, label, definition}"),
            document,
        )
        errors.raise_if_any()
    assert isinstance(document, Mapping)
    key = document.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        errors.add(
            "key", "invalid_key", Text("lower-case letters, digits and _, from a letter"), key
        )
    label = document.get("label")
    if not isinstance(label, str) or not 1 <= len(label.strip()) <= 200:
        errors.add("label", "invalid_label", Text("1 to 200 characters"), label)
    form_key = document.get("form")
    form = find_form(conn, form_key) if isinstance(form_key, str) else None
    if form is None:
        errors.add("form", "unknown_form", Text("no such form"), form_key)
    errors.raise_if_any()
    assert form is not None and isinstance(key, str) and isinstance(label, str)
    current = latest_flow(conn, key)
    if current is not None and current["form"] != form.key:
        errors.add(
            "form",
            "form_changed",
            Text("flow {key!r} belongs to form {form!r}", key=key, form=current["form"]),
            form_key,
        )
    definition = check_definition(conn, form, document.get("definition"), errors)
    errors.raise_if_any()
    version = (current["version"] if current else 0) + 1
    conn.execute(
        approval_flows.insert().values(
            key=key,
            version=version,
            form_key=form.key,
            label=label.strip(),
            definition=definition,
            created_by=actor.user_id,
            created_at=utcnow(conn),
        )
    )
    found = get_flow(conn, key, version)
    return found


def _public(row: Any) -> dict[str, Any]:
    return {
        "key": row.key,
        "version": row.version,
        "form": row.form_key,
        "label": row.label,
        "definition": row.definition,
        "created_at": row.created_at.isoformat(),
    }


def latest_flow(conn: Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(approval_flows)
        .where(approval_flows.c.key == key)
        .order_by(approval_flows.c.version.desc())
        .limit(1)
    ).first()
    return _public(row) if row is not None else None


def get_flow(conn: Connection, key: str, version: int | None = None) -> dict[str, Any]:
    """A flow's version (the newest when None); 404 when there is none."""
    if version is None:
        found = latest_flow(conn, key)
    else:
        row = conn.execute(
            sa.select(approval_flows).where(
                approval_flows.c.key == key, approval_flows.c.version == version
            )
        ).first()
        found = _public(row) if row is not None else None
    if found is None:
        message = (
            Text("no approval flow {key!r} version {version}", key=key, version=version)
            if version
            else Text("no approval flow {key!r}", key=key)
        )
        raise NotFound(message, key=key)
    return found


def list_flows(conn: Connection, form_key: str | None = None) -> list[dict[str, Any]]:
    """Every flow at its newest version, with the versions it has had."""
    query = sa.select(approval_flows).order_by(approval_flows.c.key, approval_flows.c.version)
    if form_key is not None:
        query = query.where(approval_flows.c.form_key == form_key)
    flows: dict[str, dict[str, Any]] = {}
    for row in conn.execute(query):
        versions = flows.get(row.key, {}).get("versions", [])
        flows[row.key] = {**_public(row), "versions": [*versions, row.version]}
    return list(flows.values())


def require_admin_or_builder(actor: Actor) -> None:
    if not actor.can_build:
        require_admin(actor)
