"""Pinyin for search and for keys: 华为云 → ``huaweiyun`` and ``hwy``.

Readings are pypinyin's default: its phrase dictionary picks the reading in context (银行 →
yinhang, 重庆 → chongqing) and a character outside a known phrase gets its most common
reading. Only that one reading is indexed, so a search by another reading of a heteronym
does not match. Non-Han characters are kept as they are.

This runs for every record written (the search column), so it does what
``pypinyin.lazy_pinyin`` does without its general-purpose pipeline: the same forward
maximum-matching segmentation over the same phrase dictionary, then a cached tone-mark
removal per syllable. That is about seven times faster; ``tests/unit/test_pinyin.py`` holds
the output equal to ``lazy_pinyin``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

HAN = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f\U00030000-\U0003134f"
"""Han characters as a regex class body: CJK ideographs, extensions A–G, compatibility, 〇."""
_HAN_RUN = re.compile(f"[{HAN}]+")
_HAN_SPLIT = re.compile(f"([{HAN}]+)")
_CACHED_LENGTH = 100
"""Longer values (notes, descriptions) are rarely repeated; caching them only costs memory."""


def syllables(han: str) -> tuple[str, ...]:
    """One tone-less syllable per character of a run of Han characters (``ü`` as ``v``).

    A character without a known reading stands for itself.
    """
    return _segmented(han)


def full_pinyin(text: str) -> str:
    """``text`` with every Han character replaced by its pinyin, without separators."""
    return _HAN_RUN.sub(_full_of, text)


def initials(text: str) -> str:
    """``text`` with every Han character replaced by the first letter of its pinyin."""
    return _HAN_RUN.sub(_initials_of, text)


def search_text(*values: str) -> str:
    """The text a record's search index stores for ``values``, in lower case.

    Each value contributes itself, its full pinyin and its initials (when it has Han
    characters), so a substring search for ``华为``, ``huawei`` or ``hwy`` finds 华为云.
    An ASCII value is only lowered, outside the cache: a record's codes, phones and e-mails
    are unique, so each cost a miss (2.8 µs, against 0.3) and pushed a name out of the cache.
    """
    return " ".join(
        value.lower()  # no Han: codes, phones, e-mails, links — a record's unique values
        if value.isascii()
        else _value_text(value)
        if len(value) <= _CACHED_LENGTH
        else _uncached_value_text(value)
        for value in values
        if value
    )


@lru_cache(maxsize=16_384)
def _value_text(value: str) -> str:
    return _uncached_value_text(value)


def _uncached_value_text(value: str) -> str:
    # One split finds the Han runs for both spellings, each run's readings looked up once
    # (two substitutions found them twice, through a callback per run).
    parts = _HAN_SPLIT.split(value)
    if len(parts) == 1:
        return value.lower()
    full, initial = parts[:], parts[:]
    for at in range(1, len(parts), 2):  # the runs, between the text around them
        full[at], initial[at] = _readings(parts[at])
    return f"{value} {''.join(full)} {''.join(initial)}".lower()


def _full_of(run: re.Match[str]) -> str:
    return _readings(run[0])[0]


def _initials_of(run: re.Match[str]) -> str:
    return _readings(run[0])[1]


def _readings(han: str) -> tuple[str, str]:
    """A Han run's full pinyin and initials."""
    if len(han) <= _CACHED_RUN:
        return _cached_readings(han)
    return _joined(_segmented(han))


_CACHED_RUN = 12
"""Han runs up to this length are cached whole: the parts of names and titles repeat across
records (客户名称, 城市, 项目类型) and their segmentation is most of the cost."""


@lru_cache(maxsize=65_536)
def _cached_readings(han: str) -> tuple[str, str]:
    return _joined(_segmented(han))


def _joined(syllables: tuple[str, ...]) -> tuple[str, str]:
    return "".join(syllables), "".join(syllable[0] for syllable in syllables)


def _segmented(han: str) -> tuple[str, ...]:
    dictionary = _dictionary()
    return tuple(syllable for word in _words(han, dictionary) for syllable in _word_syllables(word))


@lru_cache(maxsize=65_536)
def _word_syllables(word: str) -> tuple[str, ...]:
    """A segmented word's syllables: words repeat across values (有限公司, 科技, 北京)."""
    dictionary = _dictionary()
    readings = dictionary.phrases.get(word)
    if readings is not None:
        return tuple(_toneless(reading[0]) for reading in readings)
    syllables = []
    for char in word:
        known = dictionary.chars.get(ord(char))
        syllables.append(_toneless(known.partition(",")[0]) if known else char)
    return tuple(syllables)


def _words(han: str, dictionary: _Dictionary) -> Iterator[str]:
    """pypinyin's segmentation (``pypinyin.seg.mmseg.seg``), quirks included.

    At each position take the longest dictionary phrase that starts there; with none, emit
    one character, except that a tail which is only a phrase prefix is emitted char by char.
    """
    phrases, prefixes = dictionary.phrases, dictionary.prefixes
    start, end = 0, len(han)
    while start < end:
        best = 0
        stop = start + 1
        while stop <= end:
            word = han[start:stop]
            if word not in prefixes:
                break
            if word in phrases:
                best = stop
            stop += 1
        else:
            if not best:
                yield from han[start:]
                return
        if best:
            yield han[start:best]
            start = best
        else:
            yield han[start]
            start += 1


def load_dictionary() -> None:
    """Load the phrase dictionary now rather than at the first record written.

    It is about 200,000 small lists that live as long as the process: most of a server's heap.
    A long-lived process loads it before ``gc.freeze()``, so full collections never walk it.
    """
    _dictionary()


@dataclass(frozen=True)
class _Dictionary:
    phrases: dict[str, list[list[str]]]
    chars: dict[int, str]
    prefixes: frozenset[str]


@cache
def _dictionary() -> _Dictionary:
    # Imported here: pypinyin reads 3 MB of JSON on import (~0.1 s), which commands that
    # never touch pinyin should not pay.
    from pypinyin.constants import PHRASES_DICT, PINYIN_DICT

    prefixes = frozenset(
        phrase[:length] for phrase in PHRASES_DICT for length in range(1, len(phrase) + 1)
    )
    return _Dictionary(PHRASES_DICT, PINYIN_DICT, prefixes)


@lru_cache(maxsize=4096)
def _toneless(syllable: str) -> str:
    from pypinyin.contrib.tone_convert import to_normal

    return str(to_normal(syllable))
