"""A print template's page: its size, margins, header and footer, and the names its images
are fetched by.

Apart from the layout (``pdf``: WeasyPrint and pypdf, imported where a document is first laid
out, ``core/late_imports.py``) so that templates, assets and the API describe pages without
loading them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

ASSET_SCHEME = "meridian-asset:"
ASSET_NAMES = ("logo", "seal")
FONTS = (
    '"Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", '
    "sans-serif"
)
"""Debian's CJK fonts, installed by ``make install``: Chinese never prints as boxes."""


class PageSettings(BaseModel):
    """How a template's pages are laid out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: Literal["A4", "A5", "B5", "letter"] = "A4"
    orientation: Literal["portrait", "landscape"] = "portrait"
    margins_mm: tuple[float, float, float, float] = (20, 18, 22, 18)
    """Top, right, bottom, left."""
    header: str = PydanticField(default="", max_length=200)
    footer: str = PydanticField(default="", max_length=200)
    page_numbers: bool = True
    """Print ``第 1 页 / 共 2 页`` at the bottom right."""

    def css(self) -> str:
        margins = " ".join(f"{min(max(m, 0), 60):g}mm" for m in self.margins_mm)
        boxes = []
        if self.header:
            boxes.append(f"@top-center {{ content: {css_string(self.header)}; }}")
        if self.footer:
            boxes.append(f"@bottom-left {{ content: {css_string(self.footer)}; }}")
        if self.page_numbers:
            boxes.append(
                '@bottom-right { content: "第 " counter(page) " 页 / 共 " counter(pages) " 页"; }'
            )
        return (
            f"@page {{ size: {self.size} {self.orientation}; margin: {margins};"
            f" font-family: {FONTS}; font-size: 8.5pt; color: #555; {' '.join(boxes)} }}"
        )


def css_string(text: str) -> str:
    """``text`` as a CSS string literal: quotes, backslashes and line breaks escaped."""
    escaped = "".join(
        f"\\{ord(char):x} " if char in '"\\' or ord(char) < 32 else char for char in text
    )
    return f'"{escaped}"'
