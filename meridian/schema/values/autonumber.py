"""Auto-number patterns such as ``HT-{YYYY}-{0000}``: parsing, formatting, sequence keys.

A pattern is literal text plus tokens: ``{YYYY}``, ``{YY}``, ``{MM}``, ``{DD}`` for the date and
exactly one counter ``{000…}`` whose zeros give the minimum width. The counter restarts
whenever the rendered date text changes, so ``{YYYY}`` counts per year, ``{YYYY}{MM}`` per
month, ``{YYYY}{MM}{DD}`` per day, and a pattern without date tokens never restarts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from meridian.core.i18n import Text
from meridian.errors import InvalidValue

MAX_PATTERN_LENGTH = 64
MAX_COUNTER_WIDTH = 12

_TOKEN = re.compile(r"\{([^{}]*)\}")
_DATE_TOKENS = ("YYYY", "YY", "MM", "DD")
_COUNTER_MARK = "#"


@dataclass(frozen=True)
class AutoNumberPattern:
    """A parsed pattern: ``parts`` alternate literal text and token names.

    :ivar pattern: the pattern as written.
    :ivar parts: literal strings and tokens; a token is ``"YYYY"``, ``"YY"``, ``"MM"``,
        ``"DD"`` or ``"0"`` (the counter).
    :ivar width: the counter's minimum number of digits.
    """

    pattern: str
    parts: tuple[tuple[bool, str], ...]
    width: int

    def sequence_key(self, now: datetime) -> str:
        """The name of the counter that numbers issued at ``now`` draw from.

        It is the number with its counter replaced by ``#`` (``HT-2026-#``): two numbers can
        only collide when they share a key, and within a key the counter never repeats.
        """
        return self._render(now, _COUNTER_MARK)

    def format(self, counter: int, now: datetime) -> str:
        """The number for ``counter`` at ``now``, zero-padded to the width, never truncated."""
        if counter < 0:
            raise ValueError(f"auto-number counters start at 0, got {counter}")
        return self._render(now, f"{counter:0{self.width}d}")

    def _render(self, now: datetime, counter_text: str) -> str:
        out = []
        for is_token, text in self.parts:
            if not is_token:
                out.append(text)
            elif text == "0":
                out.append(counter_text)
            elif text == "YYYY":
                out.append(f"{now.year:04d}")
            elif text == "YY":
                out.append(f"{now.year % 100:02d}")
            elif text == "MM":
                out.append(f"{now.month:02d}")
            else:
                out.append(f"{now.day:02d}")
        return "".join(out)


@lru_cache(maxsize=256)
def parse_pattern(pattern: str) -> AutoNumberPattern:
    """Parse ``pattern`` or raise ``InvalidValue("invalid_pattern")``.

    Cached: the records service parses the field's pattern on every insert.
    """
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidValue(
            "invalid_pattern",
            Text(
                "An auto-number pattern has 1 to {limit} characters; got {pattern!r}.",
                limit=MAX_PATTERN_LENGTH,
                pattern=pattern,
            ),
        )
    parts: list[tuple[bool, str]] = []
    width = 0
    position = 0
    for match in _TOKEN.finditer(pattern):
        parts.extend(_literal(pattern, pattern[position : match.start()]))
        token = match.group(1)
        if token and set(token) == {"0"}:
            if width:
                raise InvalidValue(
                    "invalid_pattern",
                    Text("{pattern!r} has more than one counter token {{000}}.", pattern=pattern),
                )
            if len(token) > MAX_COUNTER_WIDTH:
                raise InvalidValue(
                    "invalid_pattern",
                    Text(
                        "The counter in {pattern!r} is wider than {limit} digits.",
                        pattern=pattern,
                        limit=MAX_COUNTER_WIDTH,
                    ),
                )
            width = len(token)
            parts.append((True, "0"))
        elif token in _DATE_TOKENS:
            parts.append((True, token))
        else:
            raise InvalidValue(
                "invalid_pattern",
                Text(
                    "{pattern!r} has an unknown token {{{token}}}; use {{YYYY}}, {{YY}}, {{MM}}, "
                    "{{DD}} or a counter such as {{0000}}.",
                    pattern=pattern,
                    token=token,
                ),
            )
        position = match.end()
    parts.extend(_literal(pattern, pattern[position:]))
    if not width:
        raise InvalidValue(
            "invalid_pattern",
            Text("{pattern!r} has no counter token; add one such as {{0000}}.", pattern=pattern),
        )
    return AutoNumberPattern(pattern, tuple(parts), width)


def _literal(pattern: str, text: str) -> list[tuple[bool, str]]:
    if "{" in text or "}" in text:
        raise InvalidValue(
            "invalid_pattern", Text("{pattern!r} has an unmatched brace.", pattern=pattern)
        )
    if not text.isprintable():
        raise InvalidValue(
            "invalid_pattern",
            Text("{pattern!r} contains a control or line-break character.", pattern=pattern),
        )
    return [(False, text)] if text else []
