"""Gate refusals in both languages, from the one catalog the pages use.

A refusal is raised deep in the write path — by a rule action in the worker as well as by a
page or an API call — so it cannot wait for the page's translator: each entry carries its
sentence in English and in Chinese (``message_en``, ``message_zh``, for clients and the stage
history), and its ``message`` is a :class:`~meridian.core.i18n.Text` that whoever reads it
later — the API's caller, the page's viewer, a job error's reader — sees in their own language.
The sentences are msgids of ``meridian/web/locale/*/messages.po``, read here from the catalog
files (the pages' reader lives in ``web``, above this layer).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from sqlalchemy.engine import Connection

from meridian.access.users import user_preferences
from meridian.core.i18n import Text

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
_CATALOGS = Path(__file__).resolve().parents[2] / "web" / "locale"


def N_(message: str) -> str:
    """Marks a msgid for the catalogs; it is translated where a refusal is built."""
    return message


@functools.cache
def _catalog(locale: str) -> dict[str, str]:
    path = _CATALOGS / locale.replace("-", "_") / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as file:
        messages = read_po(file, locale=locale.replace("-", "_"))
    return {
        str(m.id): str(m.string)
        for m in messages
        if m.id and isinstance(m.string, str) and m.string
    }


def translate(locale: str, message: str, **values: Any) -> str:
    text = _catalog(locale).get(message, message) if locale != "en" else message
    return text.format(**values) if values else text


def in_both(message: str, **values: Any) -> dict[str, str]:
    """The sentence in English and in Chinese (values may differ per language: pass each
    value as a ``(zh, en)`` pair to choose)."""
    return {
        "message_en": translate("en", message, **_pick(values, 1)),
        "message_zh": translate("zh-CN", message, **_pick(values, 0)),
    }


def said(texts: Mapping[str, str]) -> Text:
    """A refusal's sentence, already made in both languages, as a message each reader sees in
    theirs. The sentences are parameters of one catalog entry (``{refusal}`` / its ``_zh``
    twin); they are Texts themselves so that a long sentence is never cut short."""
    return Text(
        N_("{refusal}"),
        refusal=Text(texts["message_en"]),
        refusal_zh=Text(texts["message_zh"]),
    )


def _pick(values: dict[str, Any], index: int) -> dict[str, Any]:
    return {k: v[index] if isinstance(v, tuple) else v for k, v in values.items()}


def actor_locale(conn: Connection, user_id: int | None) -> str:
    """The language the actor chose for the pages (zh-CN when none)."""
    found = user_preferences(conn, user_id)
    locale = found[1] if found else None
    return locale if locale in LOCALES else DEFAULT_LOCALE
