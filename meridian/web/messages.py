"""Service messages in the viewer's language.

Messages meant for end users are written ``"English / 中文"`` by the services (the API shows
both); a page shows the half in the viewer's language.
"""

from __future__ import annotations

from meridian.errors import MeridianError, short_text


def localized(message: str, locale: str) -> str:
    """The viewer's half of a message, cut short like every error text (a message may quote
    the value it refuses)."""
    english, separator, chinese = short_text(message).partition(" / ")
    if not separator:
        return english
    return chinese if locale.startswith("zh") else english


def problems_of(exc: MeridianError, locale: str) -> list[str]:
    """What a refused change says, one line per problem, in the viewer's language."""
    errors = getattr(exc, "errors", None)
    if errors:
        return [f"{e.field}: {localized(e.message, locale)}" for e in errors]
    return [localized(exc.detail, locale)]
