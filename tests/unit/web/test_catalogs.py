"""Every UI message has a zh-CN translation, and no template hard-codes text outside ``_()``."""

from __future__ import annotations

import re
from pathlib import Path

from meridian.web.i18n import Translator, catalog, negotiate

WEB = Path(__file__).resolve().parents[3] / "meridian" / "web"
# Engines whose refusals reach users from below the web layer mark their sentences with N_()
# too, in the same catalog (lifecycle stage gates).
ENGINES = (WEB.parent / "flows",)
MESSAGE = re.compile(r'\bN?_\(\s*"((?:[^"\\]|\\.)*)"')


def _messages() -> set[str]:
    found = set()
    for path in (p for root in (WEB, *ENGINES) for p in root.rglob("*")):
        if path.suffix in (".html", ".py"):
            found.update(m.replace('\\"', '"') for m in MESSAGE.findall(path.read_text()))
    return found


def test_every_message_is_translated_to_chinese() -> None:
    messages = _messages()
    assert len(messages) > 200
    missing = sorted(messages - set(catalog("zh-CN")))
    assert not missing, f"add these to locale/zh_CN/LC_MESSAGES/messages.po: {missing}"


def test_the_catalogs_hold_no_stale_messages() -> None:
    stale = sorted(set(catalog("zh-CN")) - _messages())
    assert not stale, f"no longer used: {stale}"


def test_placeholders_survive_translation() -> None:
    for message, translated in catalog("zh-CN").items():
        assert set(re.findall(r"{\w+}", message)) == set(re.findall(r"{\w+}", translated)), message
    assert Translator("zh-CN")("{count} records", count=3) == "共 3 条"
    assert Translator("en")("{count} records", count=3) == "3 records"


def test_templates_show_no_bare_text() -> None:
    """Text between tags is a ``{{ }}`` expression, a symbol, or a brand name."""
    allowed = re.compile(
        r"^[\s0-9#·—✓✕↶▲▼＋‹›●→└=≠≥≤:|/()…*%-]*$|^(子午|Meridian|中文|English|IP|KB|×|&gt;|&lt;)$"
    )
    for path in (WEB / "templates").glob("*.html"):
        source = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", "", path.read_text(), flags=re.S)
        source = re.sub(r"<script.*?</script>|<style.*?</style>", "", source, flags=re.S)
        for text in re.findall(r">([^<>]+)<", source):
            for part in text.split():
                assert allowed.match(part), f"{path.name}: bare text {part!r}"


def test_language_negotiation() -> None:
    assert negotiate("en-US,en;q=0.9") == "en"
    assert negotiate("zh-TW,zh;q=0.9") == "zh-CN"
    assert negotiate("fr-FR") == "zh-CN"
    assert negotiate("") == "zh-CN"


def test_the_catalogs_parse_strictly() -> None:
    """A merge that drops an entry's msgstr leaves a catalog Babel reads with a warning only
    (the message then silently falls back to English): refuse it here."""
    from babel.messages.pofile import read_po

    for path in (WEB / "locale").glob("*/LC_MESSAGES/messages.po"):
        with path.open("rb") as file:
            read_po(file, abort_invalid=True)
