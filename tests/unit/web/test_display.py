"""Values rendered for pages: links, chips and plain-text titles are escaped exactly as
``Markup.format`` and ``striptags`` would give them (the renderer builds them without either,
for speed on a kanban of hundreds of cards)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from markupsafe import Markup

from meridian.schema.model import Field
from meridian.web.display import Presenter

HOSTILE = [
    "<b>\"x\"</b> & 'y'",
    "  two   spaces\tand\nlines ",
    "华为云 <script>",
    "plain",
    "a&amp;b",
]


def _presenter() -> Presenter:
    return Presenter("zh-CN", ZoneInfo("Asia/Shanghai"), {})


@pytest.mark.parametrize("title", HOSTILE)
def test_a_link_is_escaped_as_markup_format_escapes_it(title: str) -> None:
    field = Field.model_validate(
        {"key": "customer", "label": "客户", "type": "link", "target": 'c"<x>'}
    )
    shown = _presenter().html(field, {"id": 7, "title": title})
    expected = Markup('<a href="/forms/{0}/records/{1}">{2}</a>').format('c"<x>', 7, title)
    assert shown == expected


@pytest.mark.parametrize("label", HOSTILE)
def test_a_chip_is_escaped_as_markup_format_escapes_it(label: str) -> None:
    field = Field.model_validate(
        {
            "key": "stage",
            "label": "阶段",
            "type": "select",
            "options": [{"value": "a", "label": label, "color": "#123456"}],
        }
    )
    shown = _presenter().html(field, "a")
    expected = Markup('<span class="chip" style="--chip:{0}">{1}</span>').format("#123456", label)
    assert shown == expected


@pytest.mark.parametrize("value", HOSTILE)
def test_plain_text_is_what_striptags_leaves(value: str) -> None:
    field = Field.model_validate({"key": "name", "label": "名称", "type": "text"})
    presenter = _presenter()
    assert presenter.text(field, value) == str(Markup(presenter.html(field, value)).striptags())
