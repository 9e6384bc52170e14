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
"""

from __future__ import annotations

import functools
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
    """A message in ``locale``: a :class:`Text` from the catalog; an older ``"English / 中文"``
    message by its half; anything else as it is."""
    if isinstance(message, Text):
        return Translator(locale).text(message)
    english, separator, chinese = message.partition(" / ")
    if not separator:
        return message
    return chinese if locale.startswith("zh") else english


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


def bilingual(message: str) -> str:
    """``message`` as stored text that a later reader sees in their language: ``"English /
    中文"``, which :func:`localized` halves (a job's or a batch's error is written long before
    anyone reads it, by then only text)."""
    english, chinese = Translator("en").text(message), Translator("zh-CN").text(message)
    return english if english == chinese else f"{english} / {chinese}"


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
