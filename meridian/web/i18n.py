"""UI text in zh-CN and English from Babel message catalogs (``locale/<lang>/LC_MESSAGES``).

Messages are written in English in templates and code as ``_("Save")``; the zh-CN catalog
translates them. Placeholders are ``{name}`` and filled after translation, so a translator may
move them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale, negotiate_locale
from babel.messages.pofile import read_po

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
_CATALOGS = Path(__file__).parent / "locale"


@functools.cache
def catalog(locale: str) -> dict[str, str]:
    """msgid → translation for one locale; an untranslated message falls back to its msgid."""
    path = _CATALOGS / locale.replace("-", "_") / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as file:
        messages = read_po(file, locale=locale.replace("-", "_"))
    return {
        str(message.id): str(message.string)
        for message in messages
        if message.id and isinstance(message.string, str) and message.string
    }


@dataclass(frozen=True)
class Translator:
    """The ``_`` of one request."""

    locale: str

    def __call__(self, message: str, **values: Any) -> str:
        text = catalog(self.locale).get(message, message)
        return text.format(**values) if values else text

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
