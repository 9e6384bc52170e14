"""The framework's own refusals of a request's shape, in the catalog's words.

FastAPI checks a request's parameters and body against the route's types before Meridian's
code runs, and pydantic words each refusal in English (``Input should be a valid integer,
unable to parse string as an integer``). Each refusal carries a stable ``type`` and its
limits in ``ctx``; this module says it again as a :class:`~meridian.core.i18n.Text`, so the
problem handler renders it in the caller's language like every other error. A type not
listed here keeps pydantic's sentence (the ``code`` still names it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meridian.core.i18n import N_, Text

_MESSAGES: dict[str, str] = {
    "missing": N_("this is required"),
    "extra_forbidden": N_("not an input this request takes"),
    "int_parsing": N_("{value!r} is not a whole number"),
    "int_type": N_("{value!r} is not a whole number"),
    "int_from_float": N_("{value!r} is not a whole number"),
    "float_parsing": N_("{value!r} is not a number"),
    "float_type": N_("{value!r} is not a number"),
    "decimal_parsing": N_("{value!r} is not a number"),
    "bool_parsing": N_("{value!r} is not true or false"),
    "bool_type": N_("{value!r} is not true or false"),
    "string_type": N_("{value!r} is not text"),
    "string_too_short": N_("at least {min_length} characters"),
    "string_too_long": N_("at most {max_length} characters"),
    "too_short": N_("at least {min_length} items"),
    "too_long": N_("at most {max_length} items"),
    "greater_than": N_("{value!r} is not more than {gt}"),
    "greater_than_equal": N_("{value!r} is less than the minimum {ge}"),
    "less_than": N_("{value!r} is not less than {lt}"),
    "less_than_equal": N_("{value!r} is more than the maximum {le}"),
    "literal_error": N_("{value!r} is not one of {expected}"),
    "enum": N_("{value!r} is not one of {expected}"),
    "list_type": N_("expected a list"),
    "dict_type": N_("expected an object"),
    "model_type": N_("expected an object"),
    "model_attributes_type": N_("expected an object"),
    "json_invalid": N_("not JSON"),
    "date_parsing": N_("{value!r} is not a date like 2026-01-31"),
    "date_from_datetime_parsing": N_("{value!r} is not a date like 2026-01-31"),
    "datetime_parsing": N_("{value!r} is not a time like 2026-01-31T09:30:00+08:00"),
    "datetime_from_date_parsing": N_("{value!r} is not a time like 2026-01-31T09:30:00+08:00"),
    "url_parsing": N_("{value!r} is not a URL"),
    "uuid_parsing": N_("{value!r} is not a UUID"),
}


def said(error: Mapping[str, Any]) -> str:
    """One pydantic error's sentence, as a :class:`Text` where the catalog has its type."""
    message = _MESSAGES.get(str(error.get("type")))
    if message is None:
        return str(error.get("msg", ""))
    context = dict(error.get("ctx") or {})
    params = {
        name: str(context[name]) if name in context else error.get("input")
        for name in ("min_length", "max_length", "gt", "ge", "lt", "le", "expected")
        if "{" + name + "}" in message
    }
    if "{value!r}" in message:
        params["value"] = error.get("input")
    return Text(message, **params)
