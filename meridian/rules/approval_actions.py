"""The rule action that starts an approval on the record, e.g. "a contract over 100,000 is
created → start the contract approval" (a flow is started by hand, by a stage gate or by a
rule).

``{"type": "start_approval", "flow": <a flow key of the rule's form>, "submitter": "owner" |
{"field": <a user field>} | user id}`` — the submitter is the triggering record's owner unless
the action names another (a person as :mod:`meridian.rules.owners` reads one). Starting a
flow that is already in progress on the record does nothing, so a rule that fires again (or a
retried ``rules.run``) starts it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.access.actors import load_actor
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.errors import ErrorCollector, Unauthenticated
from meridian.flows.approvals.definitions import latest_flow
from meridian.flows.approvals.operations import open_approval, start_by_rule
from meridian.rules import owners
from meridian.rules.actions import RuleAction
from meridian.rules.task_actions import PERSON_WAYS
from meridian.schema.model import Form

NAME = "start_approval"


class StartApprovalAction(RuleAction):
    """Start one of the form's approval flows on the record, in a person's name."""

    name = NAME

    def check(
        self,
        *,
        conn: Connection,
        form: Form,
        action: Mapping[str, Any],
        path: str,
        errors: ErrorCollector,
    ) -> None:
        key = action.get("flow")
        flow = latest_flow(conn, key) if isinstance(key, str) and key else None
        if flow is None or flow["form"] != form.key:
            errors.add(
                f"{path}.flow",
                "unknown_flow",
                Text("choose an approval flow of the form {form}", form=form.key),
                key,
            )
        owners.check_person(
            conn,
            form,
            action.get("submitter", "owner"),
            f"{path}.submitter",
            errors,
            code="invalid_submitter",
            ways=PERSON_WAYS,
        )

    def _submitter_id(
        self, conn: Connection, form: Form, record_id: int, action: Mapping[str, Any]
    ) -> int | None:
        spec = action.get("submitter", "owner")
        return owners.person_for(conn, source=form, record_id=record_id, spec=spec)

    def _actor(self, conn: Connection, user_id: int | None) -> Actor | None:
        if user_id is None:
            return None
        try:
            return load_actor(conn, user_id)
        except Unauthenticated:  # deactivated
            return None

    def perform(
        self,
        *,
        conn: Connection,
        form: Form,
        rule_id: int,
        record_id: int,
        action: Mapping[str, Any],
        tz: ZoneInfo,
    ) -> dict[str, Any]:
        done: dict[str, Any] = {"type": NAME, "flow": action["flow"]}
        submitter_id = self._submitter_id(conn, form, record_id, action)
        submitter = self._actor(conn, submitter_id)
        if submitter is None:
            reason = "no_owner" if submitter_id is None else "submitter_inactive"
            return {**done, "warning": "no_approval_started", "reason": reason}
        started = start_by_rule(
            conn=conn,
            flow_key=action["flow"],
            form_key=form.key,
            record_id=record_id,
            submitter=submitter,
        )
        done.update(approval_id=started["approval_id"], started=started["started"])
        if started["other_flow"] is not None:
            done.update(warning="no_approval_started", reason="in_another_approval")
        return done

    def preview(
        self,
        *,
        conn: Connection,
        form: Form,
        record_id: int,
        action: Mapping[str, Any],
        tz: ZoneInfo,
    ) -> dict[str, Any]:
        current = open_approval(conn, form.key, record_id)
        return {
            "type": NAME,
            "flow": action.get("flow"),
            "submitter_id": self._submitter_id(conn, form, record_id, action),
            "in_approval": current["flow"] if current is not None else None,
        }
