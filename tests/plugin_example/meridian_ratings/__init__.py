"""An example plugin, installed like any company's own: a field type, a rule action, a page.

- ``rating``: one to five stars, stored as a small integer, shown as ★★★☆☆.
- the rule action ``rate``: gives the record's rating field a number of stars.
- ``/plugins/ratings``: how many records of each form have each rating, linked from the menu.
- a reaction that writes each committed record event to the ``meridian_ratings`` log, the way
  a connector would forward them to another system after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.errors import ErrorCollector, InvalidValue
from meridian.events.outbox import Reaction
from meridian.events.records import DomainEvent, RecordEvent
from meridian.plugins.hookspecs import hookimpl
from meridian.plugins.menu import MenuLink
from meridian.records import service
from meridian.rules.actions import RuleAction
from meridian.schema.catalog import list_forms
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import FieldType, ValueContext
from meridian.schema.model import Field, Form
from meridian.web.pages.common import plugin_page
from meridian.web.session import ViewerDep

STARS = range(1, 6)
log = logging.getLogger("meridian_ratings")


class RatingType(FieldType):
    """One to five stars.

    Everything else a surface asks is left to ``FieldType``'s defaults: pages edit it with
    the plain input, formulas read it as a number (its column is an integer), reports group
    and sum it as a number, the grid edits it in place.
    """

    name = "rating"
    filter_operators = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "is_blank")
    """Stars compare and order; there is no range (``between``) and no text matching."""
    filter_input = "number"
    numeric_input = True

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.SmallInteger()

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        if isinstance(value, str) and value.strip().isdecimal():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value not in STARS:
            raise InvalidValue("invalid_rating", f"expected 1 to 5 stars, got {value!r}")
        return value

    def json_schema(self, field: Field, schema_of: Any) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1, "maximum": 5, "description": "stars"}

    def display(self, field: Field, stored: Any) -> str:
        return "★" * int(stored) + "☆" * (5 - int(stored))


class RateAction(RuleAction):
    """Give the record's rating field ``stars``."""

    name = "rate"

    def check(
        self,
        *,
        conn: Connection,
        form: Form,
        action: Mapping[str, Any],
        path: str,
        errors: ErrorCollector,
    ) -> None:
        field = form.get_field(str(action.get("field")))
        if field is None or field.type != RatingType.name:
            errors.add(f"{path}.field", "not_a_rating", "a rating field", action.get("field"))
        stars = action.get("stars")
        if isinstance(stars, bool) or stars not in STARS:
            errors.add(f"{path}.stars", "invalid_rating", "1 to 5 stars", stars)

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
        values = {action["field"]: action["stars"]}
        service.update_record(
            conn=conn, actor=Actor.system(), form=form, record_id=record_id, values=values, tz=tz
        )
        return {"type": "rate", "record_id": record_id, "values": values}


router = APIRouter()


@router.get("/plugins/ratings", response_class=HTMLResponse)
def ratings_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    """Each form's rating fields and how many records hold each number of stars."""
    rows = []
    with viewer.workspace.read() as conn:
        for form in list_forms(conn):
            table = compile_form(form).main
            for field in form.active_fields:
                if field.type != RatingType.name:
                    continue
                column = table.c[field.key]
                counts = dict(
                    conn.execute(
                        sa.select(column, sa.func.count())
                        .where(table.c.deleted_at.is_(None), column.is_not(None))
                        .group_by(column)
                    ).all()
                )
                cells = "".join(f"<td>{counts.get(stars, 0)}</td>" for stars in STARS)
                rows.append(
                    f"<tr><th>{escape(form.label)} · {escape(field.label)}</th>{cells}</tr>"
                )
    head = "".join(f"<th>{'★' * stars}</th>" for stars in STARS)
    table_html = Markup(
        f'<table class="grid" data-testid="ratings"><tr><th></th>{head}</tr>{"".join(rows)}</table>'
    )
    title = "评分" if viewer.locale == "zh-CN" else "Ratings"
    return plugin_page(request, viewer, title=title, content=table_html)


@hookimpl
def register_field_types() -> Sequence[FieldType]:
    return [RatingType()]


@hookimpl
def register_rule_actions() -> Sequence[RuleAction]:
    return [RateAction()]


@hookimpl
def register_routes() -> Sequence[APIRouter]:
    return [router]


@hookimpl
def menu_actions(actor: Actor) -> Sequence[MenuLink]:
    return [MenuLink("/plugins/ratings", {"en": "Ratings", "zh-CN": "评分"})]


def _forward(events: Sequence[DomainEvent]) -> None:
    for event in events:
        if isinstance(event, RecordEvent):
            log.info("%s %s #%s v%s", event.event_type, event.form, event.record_id, event.version)


@hookimpl
def register_reactions() -> Sequence[Reaction]:
    return [_forward]
