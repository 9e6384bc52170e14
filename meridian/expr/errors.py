"""The one error an expression can raise, with its English and Chinese messages.

Every problem (syntax, unknown field, wrong type, too long, too deep) becomes an
:class:`ExpressionError` that points at a span of the source, so the API can answer 422 with a
position and the editor can underline the offending part.
"""

from __future__ import annotations

from typing import Any

from meridian.core.i18n import N_, Text, Translator
from meridian.errors import MeridianError
from meridian.expr.types import ExprType

# reason → the message's English template; the zh-CN text is in the catalog. A parameter
# ``p_zh`` is the Chinese form of ``p`` (a type's name), for the zh-CN text to use.
MESSAGES: dict[str, str] = {
    "empty": N_("The expression is empty."),
    "too_long": N_("The expression is {length} characters long; the limit is {limit}."),
    "too_deep": N_("The expression is nested more than {limit} levels deep."),
    "unexpected_character": N_("Unexpected character {found}."),
    "unterminated_string": N_("The text starting here has no closing quote."),
    "unexpected_token": N_("Unexpected {found}; expected {expected}."),
    "unexpected_end": N_("The expression ends too early; expected {expected}."),
    "bad_number": N_(
        "The number {text} has more than {limit} digits after the point or {digits} in all."
    ),
    "bad_string": N_("Text may not contain a NUL character."),
    "unknown_field": N_("Unknown field {name}."),
    "unknown_link_field": N_("{link} has no field {name}."),
    "not_a_link": N_("{name} is not a link or child table, so {name}.{field} cannot be read."),
    "child_outside_aggregate": N_(
        "{name} is a child table field; use it inside SUM, COUNT, AVG, MIN or MAX."
    ),
    "link_in_aggregate": N_(
        "{name} is not a child table field; SUM, COUNT, AVG, MIN and MAX over lines need one."
    ),
    "relation_as_value": N_(
        "{name} is a link or child table; read one of its fields, e.g. {name}.field."
    ),
    "unknown_function": N_("Unknown function {name}."),
    "wrong_arity": N_("{name} takes {expected} argument(s), got {got}."),
    "wrong_argument": N_("Argument {index} of {name} must be {expected}, not {got}."),
    "not_integer": N_(
        "Argument {index} of {name} must be a whole number; this one can have {scale} decimals."
    ),
    "aggregate_needs_field": N_("{name} needs a line field, e.g. {name}({child}.field)."),
    "literal_argument": N_("Argument {index} of {name} must be written as {expected}."),
    "bad_date": N_('{text} is not a date like "2026-01-31".'),
    "bad_unit": N_("{unit} is not a unit {name} accepts here; use one of {allowed}."),
    "bad_digits": N_("ROUND takes between {low} and {high} digits, not {digits}."),
    "not_boolean": N_("{what} needs a condition (true/false), not {got}."),
    "arithmetic_type": N_("{op} works on numbers, not {got}."),
    "text_plus": N_("Use CONCAT(a, b) to join text; + adds numbers."),
    "date_arithmetic": N_(
        'Use DATEADD(date, n, "d") or DATEDIF(start, end, "d") for date arithmetic.'
    ),
    "compare_types": N_("Cannot compare {left} with {right}."),
    "compare_date_text": N_(
        'Cannot compare {left} with {right}; write a date as DATE("2026-01-31").'
    ),
    "compare_null": N_("Comparing with null is never true; use ISBLANK(x) or not ISBLANK(x)."),
    "unordered_type": N_("{got} values have no order; only = and != compare them."),
    "mixed_types": N_("All values here must have one type; found {left} and {right}."),
    "list_position": N_("A list can only follow in / not in or be tested with ISBLANK."),
    "in_needs_list": N_('in needs a list such as ["华东", "华南"] or a multi-select field.'),
    "empty_list": N_("An empty list matches nothing."),
    "multi_select_needs_text": N_("A multi-select holds text options; {got} cannot be in it."),
}


def _line_column(source: str, position: int) -> tuple[int, int]:
    line = source.count("\n", 0, position) + 1
    column = position - (source.rfind("\n", 0, position) + 1) + 1
    return line, column


class ExpressionError(MeridianError):
    """An expression failed to parse or type-check.

    :ivar reason: a stable machine-readable cause, e.g. ``unknown_field``.
    :ivar position: 0-based offset of the offending part in the source.
    :ivar end: 0-based offset just past the offending part.
    :ivar line: 1-based line of ``position``.
    :ivar column: 1-based column of ``position``.
    :ivar message: the sentence (a :class:`Text`: English, and said in any language).
    :ivar message_zh: the same sentence in Chinese, for clients that read ``message_zh``.
    :ivar suggestion: a likely intended identifier (``expected_amount``), when there is one.
    """

    code = "invalid_expression"
    status = 422
    title = "Invalid expression"

    def __init__(
        self,
        reason: str,
        *,
        source: str,
        position: int,
        end: int | None = None,
        suggestion: str | None = None,
        **params: Any,
    ) -> None:
        for name, value in list(params.items()):
            if isinstance(value, ExprType):
                params[name] = value.value
                params[f"{name}_zh"] = value.zh
        message = Text(MESSAGES[reason], **params)
        if suggestion is not None:
            message = Text(
                "{message} Did you mean {suggestion}?", message=message, suggestion=suggestion
            )
        message_zh = Translator("zh-CN").text(message)
        position = max(0, min(position, len(source)))
        self.reason = reason
        self.position = position
        self.end = max(position, min(end if end is not None else position + 1, len(source)))
        self.line, self.column = _line_column(source, position)
        self.message = message
        self.message_zh = message_zh
        self.suggestion = suggestion
        super().__init__(message, **self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """The error as the API's problem details carry it."""
        return {
            "reason": self.reason,
            "position": self.position,
            "end": self.end,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "message_zh": self.message_zh,
            "suggestion": self.suggestion,
        }
