"""The one error an expression can raise, with its English and Chinese messages.

Every problem (syntax, unknown field, wrong type, too long, too deep) becomes an
:class:`ExpressionError` that points at a span of the source, so the API can answer 422 with a
position and the editor can underline the offending part.
"""

from __future__ import annotations

from typing import Any

from meridian.errors import MeridianError
from meridian.expr.types import ExprType

# reason → (English template, Chinese template); templates use str.format names.
MESSAGES: dict[str, tuple[str, str]] = {
    "empty": ("The expression is empty.", "表达式为空。"),
    "too_long": (
        "The expression is {length} characters long; the limit is {limit}.",
        "表达式长度为 {length} 个字符，超过上限 {limit}。",
    ),
    "too_deep": (
        "The expression is nested more than {limit} levels deep.",
        "表达式嵌套超过 {limit} 层。",
    ),
    "unexpected_character": (
        "Unexpected character {found}.",
        "无法识别的字符 {found}。",
    ),
    "unterminated_string": (
        "The text starting here has no closing quote.",
        "从这里开始的文本缺少结束引号。",
    ),
    "unexpected_token": (
        "Unexpected {found}; expected {expected}.",
        "此处不应出现 {found}，应为 {expected_zh}。",
    ),
    "unexpected_end": (
        "The expression ends too early; expected {expected}.",
        "表达式不完整，缺少 {expected_zh}。",
    ),
    "bad_number": (
        "The number {text} has more than {limit} digits after the point or {digits} in all.",
        "数字 {text} 的小数位超过 {limit} 位或总位数超过 {digits} 位。",
    ),
    "bad_string": ("Text may not contain a NUL character.", "文本中不能包含 NUL 字符。"),
    "unknown_field": ("Unknown field {name}.", "未知字段 {name}。"),
    "unknown_link_field": (
        "{link} has no field {name}.",
        "关联表单 {link} 中没有字段 {name}。",
    ),
    "not_a_link": (
        "{name} is not a link or child table, so {name}.{field} cannot be read.",
        "{name} 不是关联字段或子表，不能读取 {name}.{field}。",
    ),
    "child_outside_aggregate": (
        "{name} is a child table field; use it inside SUM, COUNT, AVG, MIN or MAX.",
        "{name} 是子表字段，只能用在 SUM、COUNT、AVG、MIN 或 MAX 中。",
    ),
    "link_in_aggregate": (
        "{name} is not a child table field; SUM, COUNT, AVG, MIN and MAX over lines need one.",
        "{name} 不是子表字段；SUM、COUNT、AVG、MIN、MAX 汇总的是子表明细。",
    ),
    "relation_as_value": (
        "{name} is a link or child table; read one of its fields, e.g. {name}.field.",
        "{name} 是关联字段或子表，请读取它的某个字段，例如 {name}.字段。",
    ),
    "unknown_function": ("Unknown function {name}.", "未知函数 {name}。"),
    "wrong_arity": (
        "{name} takes {expected} argument(s), got {got}.",
        "{name} 需要 {expected_zh} 个参数，实际为 {got} 个。",
    ),
    "wrong_argument": (
        "Argument {index} of {name} must be {expected}, not {got}.",
        "{name} 的第 {index} 个参数应为{expected_zh}，实际为{got_zh}。",
    ),
    "not_integer": (
        "Argument {index} of {name} must be a whole number; this one can have {scale} decimals.",
        "{name} 的第 {index} 个参数应为整数，此处的值可能带 {scale} 位小数。",
    ),
    "aggregate_needs_field": (
        "{name} needs a line field, e.g. {name}({child}.field).",
        "{name} 需要指定子表字段，例如 {name}({child}.字段)。",
    ),
    "literal_argument": (
        "Argument {index} of {name} must be written as {expected}.",
        "{name} 的第 {index} 个参数必须直接写成{expected_zh}。",
    ),
    "bad_date": (
        '{text} is not a date like "2026-01-31".',
        '{text} 不是形如 "2026-01-31" 的日期。',
    ),
    "bad_unit": (
        "{unit} is not a unit {name} accepts here; use one of {allowed}.",
        "{name} 在此不接受单位 {unit}，可用：{allowed}。",
    ),
    "bad_digits": (
        "ROUND takes between {low} and {high} digits, not {digits}.",
        "ROUND 的小数位数应在 {low} 到 {high} 之间，实际为 {digits}。",
    ),
    "not_boolean": (
        "{what} needs a condition (true/false), not {got}.",
        "{what_zh}需要条件（真/假），实际为{got_zh}。",
    ),
    "arithmetic_type": (
        "{op} works on numbers, not {got}.",
        "{op} 只能用于数字，不能用于{got_zh}。",
    ),
    "text_plus": (
        "Use CONCAT(a, b) to join text; + adds numbers.",
        "连接文本请用 CONCAT(a, b)；+ 只用于数字相加。",
    ),
    "date_arithmetic": (
        'Use DATEADD(date, n, "d") or DATEDIF(start, end, "d") for date arithmetic.',
        '日期计算请使用 DATEADD(日期, n, "d") 或 DATEDIF(开始, 结束, "d")。',
    ),
    "compare_types": (
        "Cannot compare {left} with {right}.",
        "不能比较{left_zh}与{right_zh}。",
    ),
    "compare_date_text": (
        'Cannot compare {left} with {right}; write a date as DATE("2026-01-31").',
        '不能比较{left_zh}与{right_zh}；日期请写成 DATE("2026-01-31")。',
    ),
    "compare_null": (
        "Comparing with null is never true; use ISBLANK(x) or not ISBLANK(x).",
        "与 null 比较永远不成立；请使用 ISBLANK(x) 或 not ISBLANK(x)。",
    ),
    "unordered_type": (
        "{got} values have no order; only = and != compare them.",
        "{got_zh}没有大小顺序，只能用 = 或 != 比较。",
    ),
    "mixed_types": (
        "All values here must have one type; found {left} and {right}.",
        "此处的值必须为同一类型，实际为{left_zh}和{right_zh}。",
    ),
    "list_position": (
        "A list can only follow in / not in or be tested with ISBLANK.",
        "列表只能用在 in / not in 之后或 ISBLANK 中。",
    ),
    "in_needs_list": (
        'in needs a list such as ["华东", "华南"] or a multi-select field.',
        'in 后面应为列表，例如 ["华东", "华南"]，或多选字段。',
    ),
    "empty_list": ("An empty list matches nothing.", "空列表不匹配任何值。"),
    "multi_select_needs_text": (
        "A multi-select holds text options; {got} cannot be in it.",
        "多选字段的选项是文本，{got_zh}不可能在其中。",
    ),
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
    :ivar message: an English sentence.
    :ivar message_zh: the same sentence in Chinese.
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
        english, chinese = MESSAGES[reason]
        for name, value in list(params.items()):
            if isinstance(value, ExprType):
                params[name] = value.value
                params[f"{name}_zh"] = value.zh
        message = english.format(**params)
        message_zh = chinese.format(**params)
        if suggestion is not None:
            message += f" Did you mean {suggestion}?"
            message_zh += f"您是不是要写 {suggestion}？"
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
