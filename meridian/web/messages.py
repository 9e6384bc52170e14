"""Service messages in the viewer's language.

Messages meant for end users are written ``"English / 中文"`` by the services (the API shows
both); a page shows the half in the viewer's language.
"""

from __future__ import annotations


def localized(message: str, locale: str) -> str:
    english, separator, chinese = message.partition(" / ")
    if not separator:
        return message
    return chinese if locale.startswith("zh") else english
