"""Option colours: the few spellings a chip's colour may take.

A colour goes into a ``style`` attribute of every page that shows the option, so a free string
could carry CSS — ``red;background:url(https://…)`` makes each viewer's browser fetch a URL of
the builder's choosing (issue 13). Definitions accept ``#rgb``, ``#rrggbb`` or a palette name;
a colour stored before that check is drawn grey.
"""

from __future__ import annotations

import re

DEFAULT_COLOR = "#8c8c8c"
PALETTE: dict[str, str] = {
    "red": "#f5222d",
    "orange": "#fa8c16",
    "yellow": "#fadb14",
    "green": "#52c41a",
    "cyan": "#13c2c2",
    "blue": "#1677ff",
    "purple": "#722ed1",
    "magenta": "#eb2f96",
    "gray": DEFAULT_COLOR,
    "grey": DEFAULT_COLOR,
}
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def is_color(value: str) -> bool:
    return bool(_HEX.fullmatch(value)) or value in PALETTE


def safe_color(value: str) -> str:
    """The colour to draw: a hex colour as given, a palette name as its hex, else grey."""
    if _HEX.fullmatch(value):
        return value
    return PALETTE.get(value, DEFAULT_COLOR)
