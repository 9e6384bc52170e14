"""Every Alpine expression in the templates parses under Alpine's CSP build, which evaluates
expressions without ``eval`` and refuses what its own parser does not know (arrow functions,
several statements, globals). Browser tests only reach the expressions their steps evaluate;
this reaches all of them, with the parser the pages really load."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page

from tests.browser.conftest import Server

TEMPLATES = Path(__file__).resolve().parents[2] / "meridian" / "web" / "templates"
_JINJA_VALUE = re.compile(r"\{\{.*?\}\}", re.S)
_JINJA_TAG = re.compile(r"\{%.*?%\}", re.S)
_ATTRIBUTE = re.compile(
    r"\s(x-[a-z]+(?::[a-z.-]+)?(?:\.[a-z]+)*|@[a-z:-]+(?:\.[a-z-]+)*|:[a-z-]+)=\"([^\"]*)\""
)
_NOT_EXPRESSIONS = {"x-ref", "x-cloak", "x-transition"}


def _expressions() -> list[tuple[str, str]]:
    """(where, expression) for each Alpine attribute; Jinja output stands in as ``0``."""
    found = []
    for template in sorted(TEMPLATES.glob("*.html")):
        text = _JINJA_TAG.sub("", _JINJA_VALUE.sub("0", template.read_text(encoding="utf-8")))
        for name, value in _ATTRIBUTE.findall(text):
            directive = name.split(".")[0]
            if directive in _NOT_EXPRESSIONS or not value.strip():
                continue
            if directive == "x-for":
                value = value.split(" in ", 1)[1]
            elif directive == "x-model":
                value = f"{value} = __placeholder"
            found.append((f"{template.name} {name}", value))
    return found


def test_every_alpine_expression_parses_under_the_csp_build(page: Page, server: Server) -> None:
    expressions = _expressions()
    assert len(expressions) > 300  # the templates' attributes were found
    page.goto(f"{server.url}/login")
    page.wait_for_function("() => window.Alpine !== undefined")
    refused = page.evaluate(
        """(expressions) => expressions.flatMap(([where, expression]) => {
            try {
                Alpine.evaluateRaw(document.body, expression);
            } catch (error) {
                if (String(error.message).startsWith("CSP Parser Error")) {
                    return [`${where}: ${expression} → ${error.message}`];
                }
            }
            return [];
        })""",
        expressions,
    )
    assert refused == []
