"""Gate refusals in both languages, from the one catalog the pages use.

A refusal is raised deep in the write path — by a rule action in the worker as well as by a
page or an API call — so it cannot wait for the page's translator: each entry carries its
sentence in English and in Chinese (``message_en``, ``message_zh``, for clients and the stage
history), and its ``message`` is a :class:`~meridian.core.i18n.Text` that whoever reads it
later — the API's caller, the page's viewer, a job error's reader — sees in their own language.
The sentences are msgids of the one catalog (``core.i18n``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meridian.core.i18n import Text, Translator


def N_(message: str) -> str:
    """Marks a msgid for the catalogs; it is translated where a refusal is built."""
    return message


def in_both(message: str, **values: Any) -> dict[str, str]:
    """The sentence in English and in Chinese (values may differ per language: pass each
    value as a ``(zh, en)`` pair to choose)."""
    return {
        "message_en": Translator("en")(message, **_pick(values, 1)),
        "message_zh": Translator("zh-CN")(message, **_pick(values, 0)),
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
