"""The designer's tree edits: pure functions over a flow's definition."""

from __future__ import annotations

from typing import Any

import pytest

from meridian.flows.approvals import drafts


def _tree() -> dict[str, Any]:
    draft, _ = drafts.add_node({"nodes": []}, kind="condition", slot="top")
    draft, _ = drafts.add_node(draft, kind="approver", slot="condition_1.0")
    draft, _ = drafts.add_node(draft, kind="approver", slot="condition_1")
    return draft


def test_nodes_are_added_after_a_node_and_at_the_start_of_a_branch() -> None:
    draft = _tree()
    assert [n["id"] for n in draft["nodes"]] == ["condition_1", "approver_2"]
    assert draft["nodes"][0]["branches"][0]["nodes"][0]["id"] == "approver_1"
    assert draft["nodes"][0]["branches"][1] == {"nodes": []}


def test_an_edit_returns_a_copy_and_keeps_the_branches_nodes() -> None:
    draft = _tree()
    changed = drafts.replace_node(
        draft,
        "condition_1",
        {"type": "cc", "branches": [{"condition": "amount > 1", "nodes": []}, {"nodes": []}]},
    )
    node = changed["nodes"][0]
    assert node["type"] == "condition" and node["id"] == "condition_1"
    assert node["branches"][0]["condition"] == "amount > 1"
    assert node["branches"][0]["nodes"][0]["id"] == "approver_1"
    assert draft["nodes"][0]["branches"][0]["condition"] == ""


def test_a_condition_gets_its_new_branch_before_the_default() -> None:
    draft = drafts.add_branch(_tree(), "condition_1")
    branches = draft["nodes"][0]["branches"]
    assert len(branches) == 3 and branches[-1] == {"nodes": []}
    assert branches[1] == {"condition": "", "nodes": []}
    assert len(drafts.remove_branch(draft, "condition_1", 1)["nodes"][0]["branches"]) == 2


def test_removing_a_branch_node_removes_what_is_inside() -> None:
    draft = drafts.remove_node(_tree(), "condition_1")
    assert [n["id"] for n in draft["nodes"]] == ["approver_2"]
    assert drafts.fresh_id(draft, "approver") == "approver_1"


def test_an_error_path_points_at_its_node() -> None:
    draft = _tree()
    assert drafts.node_at(draft, "definition.nodes.1.approvers") == "approver_2"
    assert drafts.node_at(draft, "definition.nodes.0.branches.0.nodes.0.mode") == "approver_1"
    assert drafts.node_at(draft, "definition.nodes.0.branches.0.condition") == "condition_1"
    assert drafts.node_at(draft, "definition.nodes") is None
    assert drafts.node_at(draft, "key") is None
    assert drafts.node_at(draft, "definition.nodes.9.mode") is None


@pytest.mark.parametrize(
    ("kind", "slot"), [("approver", "nope"), ("robot", "top"), ("cc", "condition_1.7")]
)
def test_a_stale_step_is_refused(kind: str, slot: str) -> None:
    with pytest.raises(drafts.DraftError):
        drafts.add_node(_tree(), kind=kind, slot=slot)
