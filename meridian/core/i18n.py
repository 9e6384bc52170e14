"""Text a user reads, in zh-CN and English, from the one message catalog.

The catalogs are Babel ``.po`` files in ``meridian/web/locale/<lang>/LC_MESSAGES`` (they ship
with the pages, and every tier reads them through this module). Messages are written in
English as ``_("Save")`` in templates and routers, ``N_("…")`` where a message is defined
and shown elsewhere, and ``Text("…", name=value)`` where a service raises an error: the English
sentence is the msgid, placeholders are ``{name}`` (``{value!r}`` quotes a value), and they are
filled after translation, so a translator may move them.

A :class:`Text` is an ``str`` (the English sentence, so logs, the CLI and old callers keep
working) that remembers its msgid and parameters; :meth:`Translator.text` renders it in the
reader's language. A parameter that is itself a ``Text`` is rendered too, so a sentence may
quote another (``"{name}: {reason}"``). A parameter named ``p_zh`` is the Chinese form of
``p`` for values worked out in both languages where they arise (the expression checker's
"a number or a date"); a zh-CN translation may use it instead of ``p``.

A message written now and read later by someone else (a job's error, a notification) is kept
by :func:`stored` as its msgid and parameters and said per reader by :func:`localized`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale, negotiate_locale
from babel.messages.pofile import read_po

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
_CATALOGS = Path(__file__).resolve().parents[1] / "web" / "locale"
_SHORT = 60
"""Characters of a quoted value a message shows (errors name a value, never all of it)."""


@functools.cache
def _read(locale: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    path = _CATALOGS / locale.replace("-", "_") / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as file:
        messages = read_po(file, locale=locale.replace("-", "_"))
    singles: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for message in messages:
        forms = message.string
        if isinstance(message.id, tuple | list) and isinstance(forms, tuple | list) and all(forms):
            plurals[str(message.id[0])] = tuple(str(form) for form in forms)
            singles[str(message.id[0])] = str(forms[0])
        elif message.id and isinstance(forms, str) and forms:
            singles[str(message.id)] = forms
    return singles, plurals


def catalog(locale: str) -> dict[str, str]:
    """msgid → translation for one locale; an untranslated message falls back to its msgid
    (a message with plural forms is listed by its singular, with its first form)."""
    return _read(locale)[0]


def plural_forms(locale: str) -> dict[str, tuple[str, ...]]:
    """singular msgid → the translated forms of a message with plural forms."""
    return _read(locale)[1]


class Text(str):
    """An English sentence that can be said again in the reader's language.

    :ivar msgid: the catalog key: the sentence with its ``{placeholders}``.
    :ivar params: the values of the placeholders (long strings cut to a short prefix).
    """

    msgid: str
    params: Mapping[str, Any]

    def __new__(cls, msgid: str, /, **params: Any) -> Text:
        shown = {name: _short(value) for name, value in params.items()}
        self = super().__new__(cls, msgid.format(**shown) if shown else msgid)
        self.msgid = msgid
        self.params = shown
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.msgid, dict(self.params)))


def _rebuild(msgid: str, params: dict[str, Any]) -> Text:
    return Text(msgid, **params)


def _short(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Text) and len(value) > _SHORT:
        return value[:_SHORT] + "…"
    return value


def localized(message: str, locale: str) -> str:
    """A message in ``locale``: a :class:`Text`, or a message kept by :func:`stored`, from the
    catalog; an older ``"English / 中文"`` message by its half; anything else as it is."""
    message = restored(message)
    if isinstance(message, Text):
        return Translator(locale).text(message)
    return _half(message, locale)


_HAN = re.compile(r"[\u3400-\u9fff]")


def _half(message: str, locale: str) -> str:
    """The reader's half of an ``"English / 中文"`` message written before messages were kept
    as :func:`stored`; a message whose halves are not one English and one Chinese (a label
    with a slash, "A / B") is shown whole."""
    english, separator, chinese = message.partition(" / ")
    if not separator or " / " in chinese:
        return message
    if _HAN.search(english) or not _HAN.search(chinese):
        return message
    return chinese if locale.startswith("zh") else english


_STORED = '{"msgid":'


def stored(message: str, *, limit: int | None = None, **raw: str) -> str:
    """``message`` as the text a column keeps until someone reads it, long after it was said:
    a :class:`Text` is kept as its msgid and parameters (JSON; a parameter that is a ``Text``
    nested the same way) and said in each reader's language by :func:`localized`; other text
    is kept as it is. ``raw`` adds untranslated detail for operators (a traceback) that
    :func:`stored_detail` reads back. A form longer than ``limit`` keeps the English sentence
    instead, cut to ``limit`` (a half JSON document would be neither)."""
    if not isinstance(message, Text):
        return message if limit is None else message[:limit]
    form: dict[str, Any] = _form(message)
    form.update(raw)
    kept = json.dumps(form, ensure_ascii=False, separators=(",", ":"), default=str)
    if limit is not None and len(kept) > limit:
        return str(message)[:limit]
    return kept


def _form(message: Text) -> dict[str, Any]:
    return {
        "msgid": message.msgid,
        "params": {
            name: _form(value) if isinstance(value, Text) else _plain(value)
            for name, value in message.params.items()
        },
    }


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def restored(message: str) -> str:
    """The :class:`Text` a :func:`stored` message keeps; any other text as it is."""
    if not isinstance(message, str) or isinstance(message, Text):
        return message
    if not message.startswith(_STORED):
        return message
    try:
        form = json.loads(message)
        return _text(form)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return message


def _text(form: Mapping[str, Any]) -> Text:
    params = {
        name: _text(value) if isinstance(value, dict) and "msgid" in value else value
        for name, value in dict(form.get("params") or {}).items()
    }
    return Text(str(form["msgid"]), **params)


def for_everyone(message: str) -> str:
    """A message for a group with no one reader (a WeCom, DingTalk or Feishu group robot):
    said in Chinese, then English, ``"中文 / English"``; other text as it is. Only there: a
    message with a reader is said in that reader's language."""
    message = restored(message)
    if not isinstance(message, Text):
        return message
    chinese, english = Translator("zh-CN").text(message), Translator("en").text(message)
    return chinese if chinese == english else f"{chinese} / {english}"


def stored_detail(message: str | None, name: str) -> str | None:
    """The untranslated detail ``name`` that :func:`stored` kept beside a message."""
    if not message or not message.startswith(_STORED):
        return None
    try:
        found = json.loads(message).get(name)
    except ValueError:
        return None
    return found if isinstance(found, str) else None


@dataclass(frozen=True)
class Translator:
    """The ``_`` of one reader (a request, a notification's recipient)."""

    locale: str

    def __call__(self, message: str, /, **values: Any) -> str:
        text = catalog(self.locale).get(message, message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, count: int, /, **values: Any) -> str:
        """A message with a count in the form the reader's language gives that count ("1
        record", "3 records"; Chinese has one form); ``count`` is a placeholder too."""
        forms = plural_forms(self.locale).get(singular)
        if forms:
            index = self.babel_locale.plural_form(abs(count))
            order = ("one", "two", "few", "many", "other")
            text = forms[min(order.index(index) if len(forms) > 1 else 0, len(forms) - 1)]
        else:
            text = singular if count == 1 else plural
        return text.format(count=count, **values)

    def plural_texts(self, singular: str, plural: str, /) -> dict[str, str]:
        """A message with a count, unfilled, by plural category (``one``, ``other``), for a
        page's script that counts by itself (``Intl.PluralRules`` picks the category)."""
        forms = plural_forms(self.locale).get(singular)
        if not forms:
            return {"one": singular, "other": plural}
        return {"one": forms[0], "other": forms[-1]}

    def text(self, message: str) -> str:
        """``message`` in this reader's language (see :func:`localized` for plain strings)."""
        if not isinstance(message, Text):
            return localized(message, self.locale)
        params = {
            name: self.text(value) if isinstance(value, Text) else value
            for name, value in message.params.items()
        }
        return self(message.msgid, **params)

    @property
    def babel_locale(self) -> Locale:
        return Locale.parse(self.locale, sep="-")


def N_(message: str) -> str:
    """Marks a message for the catalogs where it is defined; it is translated where shown."""
    return message


def supported(locale: str | None) -> str | None:
    return locale if locale in LOCALES else None


def negotiate(accept_language: str) -> str:
    """The best of our locales for an ``Accept-Language`` header (``en-US,en;q=0.9``)."""
    preferred = [part.split(";")[0].strip() for part in accept_language.split(",") if part.strip()]
    found = negotiate_locale(preferred, list(LOCALES), sep="-", aliases={"zh": "zh-CN"})
    return found or DEFAULT_LOCALE
