"""Editing a flow's node tree one step at a time, as the designer does: add a node after any
node or at the start of a branch, remove one, replace one with its edited settings, add or
remove a branch, and find the node an error's path points at.

The functions are pure (a copy of the definition in, the changed copy out), so the designer
keeps its draft in the page and the server changes it, never stores it: only a save
(:func:`.definitions.save_flow`) checks the draft whole and makes a new version.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from meridian.flows.approvals.definitions import NODE_TYPES, walk

BLANKS: dict[str, dict[str, Any]] = {
    "approver": {"type": "approver", "mode": "single", "approvers": []},
    "cc": {"type": "cc", "approvers": []},
    "action": {"type": "action", "action": "notify", "approvers": [], "message": ""},
    "condition": {
        "type": "condition",
        "branches": [{"condition": "", "nodes": []}, {"nodes": []}],
    },
    "parallel": {"type": "parallel", "branches": [{"nodes": []}, {"nodes": []}]},
}
"""What a node of each kind starts as: the builder fills it in through its form."""

_PATH_STEP = re.compile(r"^(nodes|branches)\.(\d+)\.?")


class DraftError(ValueError):
    """The step names a node or a branch the draft does not have (a stale page)."""


def blank_definition() -> dict[str, Any]:
    return {"nodes": []}


def node_ids(definition: Mapping[str, Any]) -> set[str]:
    return {
        str(node.get("id"))
        for node in walk(definition.get("nodes", []))
        if isinstance(node, Mapping)
    }


def fresh_id(definition: Mapping[str, Any], kind: str) -> str:
    """``approver_3``: the kind and the first number no node of the draft uses."""
    taken = node_ids(definition)
    number = 1
    while f"{kind}_{number}" in taken:
        number += 1
    return f"{kind}_{number}"


def _locate(nodes: list[Any], node_id: str) -> tuple[list[Any], int] | None:
    for index, node in enumerate(nodes):
        if not isinstance(node, dict):
            continue
        if node.get("id") == node_id:
            return nodes, index
        for branch in node.get("branches") or ():
            if isinstance(branch, dict) and isinstance(branch.get("nodes"), list):
                found = _locate(branch["nodes"], node_id)
                if found is not None:
                    return found
    return None


def _sequence(definition: dict[str, Any], node_id: str) -> tuple[list[Any], int]:
    found = _locate(definition.setdefault("nodes", []), node_id)
    if found is None:
        raise DraftError(node_id)
    return found


def find_node(definition: Mapping[str, Any], node_id: str) -> dict[str, Any] | None:
    found = _locate(list(definition.get("nodes", [])), node_id)
    return found[0][found[1]] if found is not None else None


def add_node(definition: Mapping[str, Any], *, kind: str, slot: str) -> tuple[dict[str, Any], str]:
    """A new ``kind`` node at ``slot``: ``top`` (first of the flow), ``<node id>`` (right after
    that node) or ``<node id>.<branch>`` (first of that branch). Gives the draft and its id."""
    if kind not in NODE_TYPES:
        raise DraftError(kind)
    draft = copy.deepcopy(dict(definition))
    node = {"id": fresh_id(draft, kind), **copy.deepcopy(BLANKS[kind])}
    if slot == "top":
        draft.setdefault("nodes", []).insert(0, node)
    elif "." in slot:
        container_id, _, number = slot.partition(".")
        branches = _branches(draft, container_id)
        if not number.isdecimal() or int(number) >= len(branches):
            raise DraftError(slot)
        branches[int(number)].setdefault("nodes", []).insert(0, node)
    else:
        sequence, index = _sequence(draft, slot)
        sequence.insert(index + 1, node)
    return draft, node["id"]


def remove_node(definition: Mapping[str, Any], node_id: str) -> dict[str, Any]:
    """The draft without the node (and, for a branch node, everything in its branches)."""
    draft = copy.deepcopy(dict(definition))
    sequence, index = _sequence(draft, node_id)
    del sequence[index]
    return draft


def replace_node(
    definition: Mapping[str, Any], node_id: str, node: Mapping[str, Any]
) -> dict[str, Any]:
    """The draft with the node's settings replaced; its id, type and branches' nodes stay."""
    draft = copy.deepcopy(dict(definition))
    sequence, index = _sequence(draft, node_id)
    old = sequence[index]
    new = {**copy.deepcopy(dict(node)), "id": old["id"], "type": old["type"]}
    if "branches" in old:
        new["branches"] = [
            {**branch, "nodes": old["branches"][number].get("nodes", [])}
            if number < len(old["branches"])
            else branch
            for number, branch in enumerate(new.get("branches", old["branches"]))
        ]
    sequence[index] = new
    return draft


def _branches(draft: dict[str, Any], node_id: str) -> list[dict[str, Any]]:
    sequence, index = _sequence(draft, node_id)
    branches = sequence[index].get("branches")
    if not isinstance(branches, list):
        raise DraftError(node_id)
    return branches


def add_branch(definition: Mapping[str, Any], node_id: str) -> dict[str, Any]:
    """One more branch: a condition's goes before the default (the last), a parallel's last."""
    draft = copy.deepcopy(dict(definition))
    sequence, index = _sequence(draft, node_id)
    branches = _branches(draft, node_id)
    if sequence[index].get("type") == "condition":
        branches.insert(max(len(branches) - 1, 0), {"condition": "", "nodes": []})
    else:
        branches.append({"nodes": []})
    return draft


def remove_branch(definition: Mapping[str, Any], node_id: str, number: int) -> dict[str, Any]:
    """The draft without branch ``number`` of the node (the save refuses fewer than two)."""
    draft = copy.deepcopy(dict(definition))
    branches = _branches(draft, node_id)
    if not 0 <= number < len(branches):
        raise DraftError(f"{node_id}.{number}")
    del branches[number]
    return draft


def node_at(definition: Mapping[str, Any], path: str) -> str | None:
    """The id of the deepest node an error's ``path`` (``definition.nodes.0.branches.1.nodes.0
    .approvers``) lies in, so the designer shows the error at that node; None above any."""
    rest = path.removeprefix("definition.")
    nodes: Any = definition.get("nodes", [])
    found: str | None = None
    node: Any = None
    while True:
        step = _PATH_STEP.match(rest)
        if step is None:
            return found
        kind, number = step.group(1), int(step.group(2))
        rest = rest[step.end() :]
        if kind == "nodes":
            if not isinstance(nodes, list) or number >= len(nodes):
                return found
            node = nodes[number]
            if not isinstance(node, Mapping):
                return found
            found = str(node.get("id"))
        else:
            branches = node.get("branches") if isinstance(node, Mapping) else None
            if not isinstance(branches, list) or number >= len(branches):
                return found
            branch = branches[number]
            nodes = branch.get("nodes", []) if isinstance(branch, Mapping) else []
