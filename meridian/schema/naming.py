"""Keys for fields and forms made from their labels: 客户名称 → ``kehu_mingcheng``.

A key becomes a column or table name, so it must match ``KEY_PATTERN`` and stay stable once
given; labels stay free text. Chinese is written in tone-less pinyin, one word per two
characters, because most Chinese business terms are two-character words and pypinyin's
phrase dictionary does not know words such as 客户 or 预计 to segment by: 客户名称 →
``kehu_mingcheng``, 预计金额 → ``yuji_jine``, 下次跟进日期 → ``xiaci_genjin_riqi``. An odd
character joins the last word, so three-character terms stay whole: 联系人 → ``lianxiren``,
客户负责人 → ``kehu_fuzeren``. Letters and digits are kept in lower case as words of their
own: "Expected Amount" → ``expected_amount``, IDC机房 → ``idc_jifang``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterator

from meridian.core.pinyin import HAN, syllables
from meridian.schema.model import FORM_KEY_MAX, RESERVED_KEYS

FIELD_KEY_MAX = 63
_TOKEN = re.compile(f"([{HAN}]+)|([^\\W_{HAN}]+)")
_NOT_KEY_CHAR = re.compile(r"[^a-z0-9]+")


def key_from_label(label: str, taken: Collection[str] = ()) -> str:
    """A field key for ``label``, unique against ``taken`` and the system columns.

    Clashes get ``_2``, ``_3`` …; a label with nothing usable gives ``field``; a key that
    would start with a digit gets ``f_`` in front.
    """
    return _unique(_base_key(label, "field"), {*taken, *RESERVED_KEYS}, FIELD_KEY_MAX)


def form_key_from_label(label: str, taken: Collection[str] = ()) -> str:
    """A form key for ``label``, unique against ``taken``, at most ``FORM_KEY_MAX`` long."""
    return _unique(_base_key(label, "form"), set(taken), FORM_KEY_MAX)


def _base_key(label: str, fallback: str) -> str:
    key = "_".join(_words(unicodedata.normalize("NFKC", label)))
    if not key:
        return fallback
    return f"f_{key}" if key[0].isdigit() else key


def _words(label: str) -> Iterator[str]:
    for han, other in _TOKEN.findall(label):
        if han:
            sounds = [_ascii(s) for s in syllables(han)]
            groups = [sounds[i : i + 2] for i in range(0, len(sounds), 2)]
            if len(groups) > 1 and len(groups[-1]) == 1:
                odd = groups.pop()
                groups[-1] += odd
            yield from filter(None, ("".join(group) for group in groups))
        else:
            word = _ascii(other)
            if word:
                yield word


def _ascii(text: str) -> str:
    """Lower-case ASCII letters and digits only: accents are dropped (Café → cafe)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_KEY_CHAR.sub("", folded.lower())


def _unique(base: str, taken: Collection[str], limit: int) -> str:
    key = base[:limit].rstrip("_")
    number = 2
    while key in taken:
        suffix = f"_{number}"
        key = base[: limit - len(suffix)].rstrip("_") + suffix
        number += 1
    return key
