"""Service messages in the viewer's language (the catalog's renderer is ``core.i18n``)."""

from __future__ import annotations

from meridian.core.i18n import Translator
from meridian.core.i18n import localized as _localized
from meridian.errors import MeridianError, short_text
from meridian.http.problems import error_messages


def localized(message: str, locale: str) -> str:
    """A service's message in the viewer's language, cut short like every error text (a
    message may quote the value it refuses)."""
    return short_text(_localized(message, locale))


def problems_of(exc: MeridianError, locale: str) -> list[str]:
    """What a refused change says, one line per problem, each once, in the viewer's language
    and without the internal paths of the fields (``fields.total.expression``)."""
    return [short_text(text) for text in error_messages(exc, Translator(locale))]
