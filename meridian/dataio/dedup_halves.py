"""Where a company's name key is cut in two for duplicate lookups (issue 19).

One edit — a character changed, added or dropped — falls on one side of any cut, so a name
one edit away from a key starts with the key's head or ends with its tail, wherever the cut
is (``dedup.stored_near`` looks both up by prefix ranges on indexed columns). The cut decides
only how many names a lookup returns: a head that is a place name (北京, 广东深圳) or a tail
that is a trade word (科技, 信息技术) is shared by thousands of companies. So the cut goes in
the middle of what is left once leading place names and trailing trade words are set aside:
北京字节跳动科技 → 北京字节 | 跳动科技.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from meridian.schema.values.region import children

_PLACE_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
_TRADES = (
    "信息技术",
    "网络技术",
    "网络科技",
    "信息科技",
    "电子商务",
    "计算机",
    "房地产",
    "科技",
    "技术",
    "信息",
    "数据",
    "网络",
    "软件",
    "电子",
    "通信",
    "智能",
    "物流",
    "传媒",
    "文化",
    "广告",
    "贸易",
    "商贸",
    "咨询",
    "服务",
    "实业",
    "发展",
    "投资",
    "控股",
    "管理",
    "工程",
    "建设",
    "置业",
    "开发",
    "运营",
    "集团",
    "医药",
    "能源",
    "环保",
    "设备",
    "制造",
    "机械",
    "材料",
    "食品",
    "教育",
)


_TRADES_BY_LENGTH = tuple(
    (size, frozenset(t for t in _TRADES if len(t) == size))
    for size in sorted({len(t) for t in _TRADES}, reverse=True)
)
"""The trade words by length, longest first: a key's last characters are looked up in one set
per length, not compared with each word in turn."""


def most_edits(length: int, threshold: float) -> int:
    """The most single-character insertions and deletions that keep a name key of ``length``
    similar to another at ``threshold`` (0–100): the ratio is ``1 - d / (length + other)``
    with ``other ≤ length + d``, so ``d ≤ 2·length·(1 - t) / t``."""
    share = threshold / 100
    if share <= 0:
        return length
    return int(2 * length * (1 - share) / share + 1e-9)


def after(prefix: str) -> str:
    """The least text greater than every text starting with ``prefix`` (code point order, which
    is the byte order of UTF-8 and of the name keys' columns): ``prefix`` is a range's low end,
    this its high end."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:
        last = 0xE000
    return prefix[:-1] + chr(min(last, 0x10FFFF))


@lru_cache(maxsize=8192)
def halves(key: str, threshold: float) -> tuple[str, str] | None:
    """The key's head and its tail reversed (what ``_name_key`` and ``_name_rev`` are looked up
    by), or None when no key one edit away can reach ``threshold`` — a short key, which only
    the equal key can match. Remembered for the last few batches' keys: an import asks for
    each row's three times (within the file, the stored records' ranges, their scoring)."""
    if len(key) < 2 or most_edits(len(key), threshold) < 1:
        return None
    start = len(key) - len(_strip_places(key))
    end = len(key) - _trade_length(key[start:])
    cut = start + (end - start + 1) // 2 if end - start >= 2 else len(key) // 2
    cut = min(max(cut, 1), len(key) - 1)
    return key[:cut], key[cut:][::-1]


MAX_PIECES = 4
"""The most pieces a lookup's filter holds (``edits`` + 1): more, and no filter is made."""
MIN_PIECE = 2
"""The shortest piece worth testing: a single character is in nearly every window."""


@lru_cache(maxsize=256)
def edit_groups(length: int, threshold: float) -> tuple[tuple[int, int, int], ...]:
    """The lengths of the names that can reach ``threshold`` against a key of ``length``
    (:func:`most_edits` either way), grouped by the most insertions and deletions that keep
    a name of that length at the threshold (rapidfuzz's ratio is ``1 - d / (length +
    other)``): ``(shortest, longest, edits)``."""
    share = 1 - threshold / 100
    reach = most_edits(length, threshold)
    groups: list[tuple[int, int, int]] = []
    for other in range(length - reach, length + reach + 1):
        edits = int(share * (length + other) + 1e-6)  # rounded up a hair: never too few
        if groups and groups[-1][2] == edits:
            groups[-1] = (groups[-1][0], other, edits)
        else:
            groups.append((other, other, edits))
    return tuple(groups)


def pieces(rest: str, start: int, edits: int) -> tuple[Any, ...] | None:
    """Where a stored text sharing the ``start`` characters before ``rest`` must hold one of
    ``edits`` + 1 pieces of ``rest`` to be within ``edits`` insertions and deletions of it:
    ``(first, count, piece)`` for each — the piece is in ``substr(text, first, count)``
    (1-based) — one after the other, the last repeated up to :data:`MAX_PIECES` (an OR
    ignores repeats).

    A common prefix leaves the distance to the rests (the longest common subsequence of two
    texts with one beginning is that beginning and theirs of the rest); each insertion or
    deletion breaks at most one piece, so one of ``edits`` + 1 is whole in the stored rest,
    moved by at most ``edits``. None when that needs more than :data:`MAX_PIECES` pieces or
    pieces shorter than :data:`MIN_PIECE`: the text is then fetched on its prefix alone."""
    count = edits + 1
    if count > MAX_PIECES or len(rest) < count * MIN_PIECE:
        return None
    size, extra = divmod(len(rest), count)
    found: list[Any] = []
    offset = 0
    for index in range(count):
        end = offset + size + (1 if index < extra else 0)
        first = offset - edits if offset > edits else 0
        found += (start + first + 1, end - first + edits, rest[offset:end])
        offset = end
    return tuple(found + found[-3:] * (MAX_PIECES - count))


@lru_cache(maxsize=8192)
def ranges(key: str, threshold: float) -> tuple[str, str, str, str] | None:
    """:func:`halves` as the prefix ranges they are looked up by — head, :func:`after` it,
    tail, :func:`after` it — or None for a short key; remembered as ``halves`` is (a row's
    are asked for within the file, against the stored names and for their lookups)."""
    found = halves(key, threshold)
    if found is None:
        return None
    head, tail = found
    return head, after(head), tail, after(tail)


def _strip_places(key: str) -> str:
    places, lengths = _place_names()
    changed = True
    while changed:
        changed = False
        for length in lengths:  # longest first
            if len(key) > length + 1 and key[:length] in places:
                key = key[length:]
                changed = True
                break
    return key


def _trade_length(core: str) -> int:
    """How many trailing characters of ``core`` are trade words or a bracketed part such as
    (深圳) or (中国) (two or more characters always left)."""
    length = 0
    opening = core.rfind("(")
    if core.endswith(")") and opening > 1:
        length = len(core) - opening
    changed = True
    while changed:
        changed = False
        rest = len(core) - length
        for size, trades in _TRADES_BY_LENGTH:  # longest first
            if rest > size + 1 and core[rest - size : rest] in trades:
                length += size
                changed = True
                break
    return length


@lru_cache(maxsize=1)
def _place_names() -> tuple[frozenset[str], tuple[int, ...]]:
    """Province and city names, with and without 省/市/自治区…, and their lengths, longest
    first."""
    names: set[str] = {"中国", "中华"}
    for province in children():
        for division in (province, *children(province.code)):
            names.add(division.name)
            for suffix in _PLACE_SUFFIXES:
                if division.name.endswith(suffix) and len(division.name) > len(suffix) + 1:
                    names.add(division.name[: -len(suffix)])
                    break
    return frozenset(names), tuple(sorted({len(n) for n in names}, reverse=True))
