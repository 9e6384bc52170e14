"""One approval node's settings from the designer's side panel, and the panel's view of a node.

The panel posts plain form fields (``node.mode``, ``src.users``, ``timeout.hours`` …); this
module turns them into the node as the flow stores it and back. A value of the wrong shape is
passed on as typed (``"abc"`` for a percentage), so the save's check names it at the node,
exactly as the API would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData

from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

SOURCES_WITH_LEVELS = ("manager", "department_head", "record_department_head")
FILTER_OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "contains", "blank")


def _number(text: str) -> Any:
    """Digits → an int (or a float), anything else as typed, blank → None."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def approvers_from(posted: FormData, prefix: str) -> list[dict[str, Any]]:
    """The approver sources the panel's ``prefix`` group ticks, in a fixed order."""
    specs: list[dict[str, Any]] = []
    ids = [_number(str(i)) for i in posted.getlist(f"{prefix}.users") if str(i).strip()]
    if ids:
        specs.append({"type": "user", "ids": ids})
    for role in posted.getlist(f"{prefix}.roles"):
        if str(role).strip():
            specs.append({"type": "role", "role": str(role)})
    for kind in SOURCES_WITH_LEVELS:
        if posted.get(f"{prefix}.{kind}"):
            levels = _number(str(posted.get(f"{prefix}.{kind}_levels") or "1"))
            specs.append({"type": kind, "levels": 1 if levels is None else levels})
    for key in posted.getlist(f"{prefix}.fields"):
        if str(key).strip():
            specs.append({"type": "field", "field": str(key)})
    return specs


def approver_view(specs: Any) -> dict[str, Any]:
    """The panel's view of a list of approver sources (what is ticked and chosen)."""
    view: dict[str, Any] = {"users": [], "roles": [], "fields": []}
    for spec in specs if isinstance(specs, list) else []:
        if not isinstance(spec, Mapping):
            continue
        kind = spec.get("type")
        if kind == "user":
            view["users"].extend(spec.get("ids") or [])
        elif kind == "role":
            view["roles"].append(spec.get("role"))
        elif kind == "field":
            view["fields"].append(spec.get("field"))
        elif kind in SOURCES_WITH_LEVELS:
            view[kind] = spec.get("levels", 1)
    return view


def _condition_from(posted: FormData, number: int, form: Form) -> str:
    """The branch's typed condition, with the filter row's comparison added (``and``)."""
    typed = str(posted.get(f"branch.{number}.condition") or "").strip()
    key = str(posted.get(f"filter.{number}.field") or "")
    operator = str(posted.get(f"filter.{number}.op") or "")
    value = str(posted.get(f"filter.{number}.value") or "")
    if not posted.get(f"filter.{number}.add") or operator not in FILTER_OPERATORS:
        return typed
    field = next((f for f in form.active_fields if f.key == key), None)
    if field is None:
        return typed
    if operator == "blank":
        clause = f"ISBLANK({key})"
    elif operator == "contains":
        clause = f"CONTAINS({key}, {json.dumps(value, ensure_ascii=False)})"
    else:
        clause = f"{key} {operator} {_literal(form, key, value)}"
    return f"{typed} and {clause}" if typed else clause


def _literal(form: Form, key: str, value: str) -> str:
    field = next(f for f in form.active_fields if f.key == key)
    if field_type(field).numeric_input and isinstance(_number(value), int | float):
        return value.strip()
    return json.dumps(value, ensure_ascii=False)


def node_from(posted: FormData, old: Mapping[str, Any], form: Form) -> dict[str, Any]:
    """The node the side panel describes (its id and type are the old node's)."""
    kind = old.get("type")
    node: dict[str, Any] = {}
    label = str(posted.get("node.label") or "").strip()
    if label:
        node["label"] = label
    if kind == "approver":
        node["mode"] = str(posted.get("node.mode") or "single")
        if node["mode"] == "percentage":
            node["percentage"] = _number(str(posted.get("node.percentage") or ""))
        node["approvers"] = approvers_from(posted, "src")
        editable = [str(k) for k in posted.getlist("node.editable_fields") if str(k).strip()]
        if editable:
            node["editable_fields"] = editable
        node["reject_to"] = str(posted.get("node.reject_to") or "end")
        hours = _number(str(posted.get("timeout.hours") or ""))
        if hours is not None:
            timeout: dict[str, Any] = {
                "hours": hours,
                "action": str(posted.get("timeout.action") or "remind"),
                "basis": str(posted.get("timeout.basis") or "business"),
            }
            if timeout["action"] == "escalate":
                timeout["escalate_to"] = approvers_from(posted, "escalate")
            node["timeout"] = timeout
    elif kind == "cc":
        node["approvers"] = approvers_from(posted, "src")
    elif kind == "action":
        node["action"] = str(posted.get("node.action") or "notify")
        if node["action"] == "update":
            node["values"] = {
                field.key: field_type(field).parse_form(field, [str(text)])
                for field in form.active_fields
                if (text := posted.get(f"set.{field.key}")) is not None and str(text).strip()
            }
        elif node["action"] == "webhook":
            node["url"] = str(posted.get("node.url") or "").strip()
            secret = str(posted.get("node.secret") or "")
            if secret:
                node["secret"] = secret
        else:
            node["approvers"] = approvers_from(posted, "src")
            node["message"] = str(posted.get("node.message") or "")
    elif kind == "condition":
        branches = old.get("branches") or []
        node["branches"] = [
            {"condition": _condition_from(posted, number, form), "nodes": []}
            if number < len(branches) - 1
            else {"nodes": []}
            for number in range(len(branches))
        ]
    elif kind == "parallel":
        node["branches"] = [{"nodes": []} for _ in old.get("branches") or []]
    return node
