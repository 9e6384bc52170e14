"""Jinja2 rendering for the browser workspace; every page gets the viewer's ``_`` and nav."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from meridian import __version__
from meridian.schema.fieldtypes import field_type
from meridian.web.i18n import LOCALES, Translator

environment = Environment(
    loader=PackageLoader("meridian.web", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    auto_reload=False,
    lstrip_blocks=True,
)
environment.globals.update(version=__version__, locales=LOCALES, field_type=field_type)
# Templates ask a field's type what it does (its widget, whether it is wide), never its name.
environment.tests["wide"] = lambda field: field_type(field).wide
environment.tests["board_grouping"] = lambda field: field_type(field).board_grouping
environment.tests["calendar_dated"] = lambda field: field_type(field).calendar_dated
environment.tests["holding_lines"] = lambda field: field_type(field).holds_lines


def readable_json(value: Any, indent: int | None = None) -> str:
    """JSON shown to people (a rule's actions, an audit entry): Chinese as written, not as
    ``\\u`` escapes; autoescaping makes it safe in the page."""
    return json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=True, default=str)


environment.filters["readable_json"] = readable_json


def render(
    request: Request,
    template: str,
    _: Translator,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A whole page, or — for htmx requests naming a block — the template alone."""
    html = environment.get_template(template).render(
        request=request, _=_, ngettext=_.ngettext, locale=_.locale, **context
    )
    return HTMLResponse(html, status_code=status_code, headers=headers)
