"""JSON from outside, read strictly.

Python's ``json`` reads more than Meridian can hold: ``NaN`` and ``Infinity``, ``1e400`` (as
infinity), integers of any length, ``\\u0000`` (PostgreSQL text cannot store it), lone
surrogates such as ``\\ud800`` (they cannot be written as UTF-8) and nesting until the
interpreter's stack runs out. Each of these became a server error somewhere further in
(issue 13). Every JSON document a client sends — a request body, a ``filter``, a cursor — is
read here instead, and what cannot be held is refused with the path of the offending value.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from meridian.core.i18n import N_, Text

MAX_DEPTH = 32
"""Nesting allowed in a document; record bodies need 4, filters 9, rule documents about 12."""
INTEGER_RANGE = (-(2**63), 2**63 - 1)
"""What every integer column and id holds: 64 bits."""
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_SUSPECT_ESCAPE_BYTES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class RefusedJSON(ValueError):
    """A document that is not JSON, or holds a value Meridian cannot store.

    :ivar path: where, as dotted keys and positions (``items.3.amount``); empty for the whole.
    :ivar code: a stable reason: ``invalid_json``, ``too_deep``, ``not_finite``,
        ``out_of_range`` or ``invalid_character``.
    :ivar message: the sentence naming the reason (a :class:`Text`, said in the reader's
        language where the refusal is shown).
    :ivar value: the offending value as given (callers cut it short when they show it).
    """

    def __init__(self, path: str, code: str, message: str, value: Any = None) -> None:
        super().__init__(message)
        self.path = path
        self.code = code
        self.message = message
        self.value = value


_DECODER_REASONS = {
    "Expecting value": N_("a value was expected"),
    "Expecting property name enclosed in double quotes": N_("a key in double quotes was expected"),
    "Expecting ',' delimiter": N_("a comma was expected"),
    "Expecting ':' delimiter": N_("a colon was expected"),
    "Extra data": N_("there is more after the document's end"),
    "Unterminated string starting at": N_("a string is not closed"),
    "Invalid control character at": N_("a string holds a control character"),
    "Invalid \\escape": N_("a string holds an invalid escape"),
    "Invalid \\uXXXX escape": N_("a string holds an invalid \\u escape"),
    "Illegal trailing comma before end of object": N_("a comma before the end of an object"),
    "Illegal trailing comma before end of array": N_("a comma before the end of an array"),
}
"""The reasons Python's JSON reader gives, in words of the catalog (any other is shown as
the reader says it)."""


def _too_deep(max_depth: int) -> Text:
    return Text("JSON may nest at most {levels} levels", levels=max_depth)


class _Suspect(Exception):
    """Raised by the fast reading's hooks: read again, slowly, to say where."""


def loads(document: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The document's value, or :class:`RefusedJSON` naming the first value it cannot hold.

    Documents without a suspect number or escape are read by the C parser with only the
    number hooks in Python and one pass over the containers for their depth; the rest are
    read again and walked value by value to find the path of the problem.
    """
    try:
        value = json.loads(
            document, parse_constant=_suspect, parse_int=_fast_int, parse_float=_fast_float
        )
    except _Suspect:
        return _checked(_marked(document), max_depth)
    except RecursionError:
        raise RefusedJSON("", "too_deep", _too_deep(max_depth)) from None
    except json.JSONDecodeError as exc:
        reason = _DECODER_REASONS.get(exc.msg)
        message = Text(
            "not JSON: {reason} (line {line}, column {column})",
            reason=Text(reason) if reason else exc.msg,
            line=exc.lineno,
            column=exc.colno,
        )
        raise RefusedJSON("", "invalid_json", message, document) from None
    except UnicodeDecodeError:
        raise RefusedJSON("", "invalid_json", Text("not JSON: the text is not UTF-8")) from None
    suspect = (
        _SUSPECT_ESCAPE_BYTES.search(document)
        if isinstance(document, bytes)
        else _SUSPECT_ESCAPE.search(document)
    )
    if suspect is not None or not _shallow(value, max_depth):
        return _checked(value, max_depth)
    return value


def _suspect(text: str) -> Any:
    raise _Suspect


def _fast_int(text: str) -> int:
    if len(text) > 20:
        raise _Suspect
    number = int(text)
    if not INTEGER_RANGE[0] <= number <= INTEGER_RANGE[1]:
        raise _Suspect
    return number


def _fast_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Suspect
    return number


def _shallow(value: Any, max_depth: int) -> bool:
    level = [value] if type(value) in (dict, list) else []
    for _ in range(max_depth):
        deeper: list[Any] = []
        for node in level:
            items = node.values() if type(node) is dict else node
            deeper.extend(item for item in items if type(item) in (dict, list))
        if not deeper:
            return True
        level = deeper
    return not level


class _Refusal:
    """A number the slow reading kept in place, to be refused with its path."""

    def __init__(self, code: str, message: str, text: str) -> None:
        self.code = code
        self.message = message
        self.text = text


def _marked_int(text: str) -> Any:
    number = int(text) if len(text) <= 20 else None
    if number is None or not INTEGER_RANGE[0] <= number <= INTEGER_RANGE[1]:
        return _Refusal("out_of_range", Text("integers must fit in 64 bits"), text)
    return number


def _marked_float(text: str) -> Any:
    number = float(text)
    if not math.isfinite(number):
        return _Refusal(
            "not_finite", Text("{number} is beyond the range of numbers", number=text[:40]), text
        )
    return number


def _marked_constant(text: str) -> Any:
    return _Refusal("not_finite", Text("{text} is not a JSON number", text=text), text)


def _marked(document: str | bytes) -> Any:
    try:
        return json.loads(
            document,
            parse_constant=_marked_constant,
            parse_int=_marked_int,
            parse_float=_marked_float,
        )
    except RecursionError:
        raise RefusedJSON("", "too_deep", _too_deep(MAX_DEPTH)) from None


def _checked(value: Any, max_depth: int) -> Any:
    """Walk every value with its path; the first one that cannot be held is refused."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= max_depth:
                raise RefusedJSON(path, "too_deep", _too_deep(max_depth))
            pairs = node.items() if isinstance(node, dict) else enumerate(node)
            for key, item in pairs:
                if isinstance(key, str):
                    _check_text(key, _join(path, key))
                stack.append((item, _join(path, str(key)), depth + 1))
        elif isinstance(node, _Refusal):
            raise RefusedJSON(path, node.code, node.message, node.text)
        elif isinstance(node, str):
            _check_text(node, path)
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise RefusedJSON(
            path, "invalid_character", Text("text may not contain NUL (\\u0000)"), text
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        message = Text("text may not contain a lone surrogate (\\ud800-\\udfff)")
        raise RefusedJSON(path, "invalid_character", message, text) from None
