"""Every message a user can see has a zh-CN translation, and no template hard-codes text.

Messages are found the way a translator's tools find them: Babel's extractor over every
module of ``meridian`` (``_()``, ``N_()`` and the ``Text()`` of errors) and every template.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

import meridian
from meridian.core.i18n import Text
from meridian.errors import MeridianError
from meridian.web.i18n import Translator, catalog, negotiate

MERIDIAN = Path(meridian.__file__).resolve().parent
WEB = MERIDIAN / "web"
KEYWORDS = {"_": None, "N_": None, "Text": None, "ngettext": (1, 2), "plural_texts": (1, 2)}
PLACEHOLDER = re.compile(r"(?<!{){(\w+)(?:![rsa])?(?::[^{}]*)?}(?!})")


@functools.cache
def _messages() -> frozenset[str]:
    found = extract_from_dir(
        str(MERIDIAN),
        method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")],
        keywords=KEYWORDS,
        options_map={"**/templates/**.html": {"trimmed": "false"}},
    )
    return frozenset(
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in found
        if message
    )


def test_every_message_is_translated_to_chinese() -> None:
    messages = _messages()
    assert len(messages) > 500
    missing = sorted(messages - set(catalog("zh-CN")))
    assert not missing, f"add these to locale/zh_CN/LC_MESSAGES/messages.po: {missing}"


def test_every_message_is_in_the_english_catalog() -> None:
    """The English catalog lists every msgid too (its text is the msgid), so a translator
    working from it sees every message."""
    from babel.messages.pofile import read_po

    path = WEB / "locale" / "en" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as file:
        english = {
            str(message.id[0] if isinstance(message.id, tuple) else message.id)
            for message in read_po(file)
            if message.id
        }
    missing = sorted(_messages() - english)
    assert not missing, f"add these to locale/en/LC_MESSAGES/messages.po: {missing}"


def test_the_catalogs_hold_no_stale_messages() -> None:
    stale = sorted(set(catalog("zh-CN")) - _messages() - _error_titles())
    assert not stale, f"no longer used: {stale}"


@functools.cache
def _error_titles() -> frozenset[str]:
    """The titles of every error class: problem details' ``title``, a class attribute."""
    for module in pkgutil.walk_packages(meridian.__path__, "meridian."):
        if ".migrations." not in module.name:
            importlib.import_module(module.name)
    errors, seen = [MeridianError], set()
    while errors:
        error = errors.pop()
        seen.add(error)
        errors.extend(error.__subclasses__())
    assert len(seen) > 10
    return frozenset(error.title for error in seen)


def test_every_error_title_is_translated() -> None:
    missing = sorted(_error_titles() - set(catalog("zh-CN")))
    assert not missing, f"add these titles to the catalogs: {missing}"


def test_placeholders_survive_translation() -> None:
    """A translation uses only the message's own placeholders (or their ``_zh`` twins, the
    Chinese forms of values worked out in both languages where they arise)."""
    for message, translated in catalog("zh-CN").items():
        own = set(PLACEHOLDER.findall(message))
        used = set(PLACEHOLDER.findall(translated))
        assert used <= own | {f"{name}_zh" for name in own}, message
    said = ("{count} record", "{count} records")
    assert Translator("zh-CN").ngettext(*said, 1) == "共 1 条"
    assert Translator("zh-CN").ngettext(*said, 3) == "共 3 条"
    assert Translator("en").ngettext(*said, 1) == "1 record"
    assert Translator("en").ngettext(*said, 3) == "3 records"
    assert Translator("en").ngettext(*said, 0) == "0 records"


def test_a_text_is_english_and_renders_in_either_language() -> None:
    refused = Text("{value!r} is not a number", value="abc")
    assert refused == "'abc' is not a number"
    assert Translator("zh-CN").text(refused) == "'abc' 不是数字"
    assert Translator("en").text(refused) == "'abc' is not a number"
    nested = Text("record {record_id} cannot be restored: {message}", record_id=7, message=refused)
    assert Translator("zh-CN").text(nested) == "记录 7 无法恢复：'abc' 不是数字"
    assert Translator("zh-CN").text("older / 旧式") == "旧式"


def test_templates_show_no_bare_text() -> None:
    """Text between tags is a ``{{ }}`` expression, a symbol, or a brand name."""
    allowed = re.compile(
        r"^[\s0-9#·—✓✕↶▲▼＋‹›●→└=≠≥≤:|/()…*%“”「」-]*$|^(子午|Meridian|中文|English|IP|KB|×|&gt;|&lt;)$"
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


def test_a_count_takes_the_plural_form_of_the_readers_language() -> None:
    """ "1 records" is not English: pages say counts through ``ngettext`` (the grid's total,
    the rule page's catch-up), one form in Chinese, one and other in English."""
    from meridian.web.templating import environment

    template = environment.get_template("grid_total.html")
    for locale, count, said in (
        ("en", 1, "1 record<"),
        ("en", 2, "2 records<"),
        ("zh-CN", 1, "共 1 条<"),
    ):
        _ = Translator(locale)
        assert said in template.render(_=_, ngettext=_.ngettext, total=count)
    sources = "".join(path.read_text() for path in (WEB / "templates").glob("*.html"))
    assert not re.search(r'_\("[^"]*\{count\} records', sources), "use ngettext for counts"
